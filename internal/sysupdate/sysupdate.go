// Package sysupdate owns the names systemd-sysupdate matches: the update
// payload's file names (osbuild writes them beside the disk image, listed in
// SHA256SUMS), the GPT labels of the /usr slots (internal/layout) and the
// UKI's name on the ESP, and the transfer definitions the image carries in
// /usr/lib/sysupdate.d that tie them together. One place spells each
// pattern, so the build's payload and the node's definitions cannot drift.
//
// A node updates with `systemctl start systemd-sysupdate` (or
// `systemd-sysupdate update`): it reads SHA256SUMS from the update source,
// checks SHA256SUMS.gpg against the keyring in /usr, writes the idle /usr
// slot and its verity partition, then the new UKI with three boot tries
// (a node's update.tries changes the count).
// The source URL is the node's: nodecfg renders it into a drop-in per
// transfer (SourceDropin), never a copy of the definitions.
package sysupdate

import (
	"fmt"
	"strings"
)

// Dir is where the image carries its transfer definitions.
const Dir = "/usr/lib/sysupdate.d"

// NodeDir is where a node's drop-ins for them go.
const NodeDir = "/etc/sysupdate.d"

// UnsetSource is the definitions' source until a node names one: a name
// that never resolves (.invalid, RFC 6761), so an update on a node without
// a source fails at once instead of reaching somewhere by accident.
const UnsetSource = "http://update-source-not-configured.invalid/"

// Transfer names, in the order sysupdate runs them: the UKI, the entry
// point, last, so an interrupted update never leaves a boot entry whose
// /usr is not written.
const (
	USRTransfer    = "50-usr.transfer"
	VerityTransfer = "60-usr-verity.transfer"
	UKITransfer    = "70-uki.transfer"
)

// Transfers lists the transfer files, in order.
func Transfers() []string { return []string{USRTransfer, VerityTransfer, UKITransfer} }

// Image names one image build: the spec's name, systemd's architecture
// name (arch.Arch.Systemd) and the version.
type Image struct {
	Name, Arch, Version string
}

// USRFile is the payload file holding the /usr filesystem; uuid is the
// partition UUID it takes (the first half of the verity root hash), which
// sysupdate reads from the name (@u) and sets on the partition it writes.
func (i Image) USRFile(uuid string) string {
	return fmt.Sprintf("%s_%s_%s.usr-%s.raw", i.Name, i.Version, strings.ToLower(uuid), i.Arch)
}

// VerityFile is the payload file holding /usr's verity hash tree; uuid is
// the second half of the root hash.
func (i Image) VerityFile(uuid string) string {
	return fmt.Sprintf("%s_%s_%s.usr-%s-verity.raw", i.Name, i.Version, strings.ToLower(uuid), i.Arch)
}

// UKIFile is the payload file holding the UKI.
func (i Image) UKIFile() string { return fmt.Sprintf("%s_%s.%s.efi", i.Name, i.Version, i.Arch) }

// UKIPath is where the image's UKI lies on the ESP: the name sysupdate's
// target pattern matches, without boot counters (an installed image's
// first entry is good; updates add "+3").
func (i Image) UKIPath() string { return fmt.Sprintf("/EFI/Linux/%s_%s.efi", i.Name, i.Version) }

// Definitions returns the transfer files for the image's name and
// architecture (the version is sysupdate's @v), by file name. The
// partition types name the architecture (usr-arm64, not usr): the
// generic name means the running machine's, which is right on the node
// but not for a build host checking another arch's image offline.
func Definitions(name, arch string) map[string][]byte {
	head := func(what string) string {
		return "# " + what + " for systemd-sysupdate, written by osbuild (internal/sysupdate).\n" +
			"# The source is the node's: nodecfg writes " + NodeDir + "/<this file>.d/source.conf.\n" +
			"[Transfer]\n" +
			"# Never replace the running version's slot.\n" +
			"ProtectVersion=%A\n" +
			"# SHA256SUMS.gpg is checked with " + Keyring + ".\n" +
			"Verify=yes\n\n"
	}
	source := func(pattern string) string {
		return "[Source]\nType=url-file\nPath=" + UnsetSource + "\nMatchPattern=" + pattern + "\n\n"
	}
	i := Image{Name: name, Arch: arch, Version: "@v"}
	return map[string][]byte{
		USRTransfer: []byte(head("The /usr filesystem (the idle USR slot)") + source(i.USRFile("@u")) +
			"[Target]\nType=partition\nPath=auto\nMatchPattern=" + name + "_@v\nMatchPartitionType=usr-" + arch + "\nReadOnly=yes\n"),
		VerityTransfer: []byte(head("/usr's dm-verity hash tree (the idle USR-VERITY slot)") + source(i.VerityFile("@u")) +
			"[Target]\nType=partition\nPath=auto\nMatchPattern=" + name + "_@v_verity\nMatchPartitionType=usr-" + arch + "-verity\nReadOnly=yes\n"),
		UKITransfer: []byte(head("The UKI (kernel, initrd, command line with the new usrhash)") + source(i.UKIFile()) +
			"[Target]\nType=regular-file\nPath=/EFI/Linux\nPathRelativeTo=esp\n" +
			"MatchPattern=" + name + "_@v+@l-@d.efi " + name + "_@v+@l.efi " + name + "_@v.efi\n" +
			"Mode=0444\n# Boot counting: tries to reach boot-complete.target, then systemd-boot falls back\n" +
			"# (a node's update.tries replaces the count: " + TriesPath + ").\n" +
			fmt.Sprintf("TriesLeft=%d\nTriesDone=0\nInstancesMax=2\n", DefaultTries)),
	}
}

// DefaultTries is how many boots a new version gets to reach
// boot-complete.target before systemd-boot falls back to the other one,
// unless the node says otherwise (update.tries); MaxTries bounds what a node
// may ask for: each failed try is a whole boot and a reboot.
const (
	DefaultTries = 3
	MaxTries     = 16
)

// TriesPath is the node's drop-in for the UKI transfer that sets how many
// boot tries an update it installs gets.
const TriesPath = NodeDir + "/" + UKITransfer + ".d/tries.conf"

// TriesDropin replaces the UKI transfer's TriesLeft= with the node's n.
func TriesDropin(n int) []byte {
	return []byte(fmt.Sprintf("# Written by nodecfg from the node spec's update.tries.\n[Target]\nTriesLeft=%d\n", n))
}

// Keyring is the public keyring sysupdate verifies SHA256SUMS.gpg with;
// the image carries it in /usr when the build is given one.
const Keyring = "/usr/lib/systemd/import-pubring.gpg"

// SourceDropin is the drop-in that points a transfer at the node's update
// source.
func SourceDropin(url string) []byte {
	if !strings.HasSuffix(url, "/") {
		url += "/"
	}
	return []byte("# Written by nodecfg from the node spec's update.url.\n[Source]\nPath=" + url + "\n")
}

// Timer is systemd's unit that starts systemd-sysupdate on a schedule.
const Timer = "systemd-sysupdate.timer"

// ScheduleDropin replaces the timer's schedule with the node's: the empty
// OnCalendar= drops the packaged one first.
func ScheduleDropin(calendar string) string {
	return "# Written by nodecfg from the node spec's update.schedule.\n[Timer]\nOnCalendar=\nOnCalendar=" + calendar + "\n"
}

// DropinPath is where a node's source drop-in for transfer goes.
func DropinPath(transfer string) string { return NodeDir + "/" + transfer + ".d/source.conf" }

// IsPayload reports whether file is a payload file of some build of the
// image's name and architecture (any version): how a build finds the
// payload an earlier build left in the same output directory.
func (i Image) IsPayload(file string) bool {
	rest, ok := strings.CutPrefix(file, i.Name+"_")
	if !ok || strings.Contains(rest, "/") {
		return false
	}
	for _, suffix := range []string{".usr-" + i.Arch + ".raw", ".usr-" + i.Arch + "-verity.raw", "." + i.Arch + ".efi"} {
		if v, ok := strings.CutSuffix(rest, suffix); ok && v != "" {
			return true
		}
	}
	return false
}
