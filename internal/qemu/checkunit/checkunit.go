// Package checkunit is the test harness's side of a guest: the unit that
// SMBIOS credentials add to a booting image to report its state and run
// the cross-compiled check binary, and the disk that carries the binary.
// It is test support, kept apart from package qemu, the product's VM
// runner (osbuild boot), which never adds anything to a guest.
package checkunit

import (
	"archive/tar"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/bulwark/bulwark/internal/qemu"
)

// Console markers printed by the check unit.
const (
	MarkerReady = "BULWARK-READY"
	MarkerCheck = "BULWARK-CHECK: "
	MarkerExit  = "BULWARK-CHECK-EXIT"
	MarkerDone  = "BULWARK-DONE"
)

// Serial names the raw virtio disk that carries the guest check
// binary and its data files, as a tar archive. A disk, not fw_cfg: fw_cfg
// reads from sysfs go a byte at a time through port I/O, which under TCG
// takes minutes for a few MiB.
const Serial = "bulwark-check"

// Dir is where the check unit unpacks the check disk in the guest.
const Dir = "/run/bulwark-check"

// Binary is the name of the check binary on the check disk.
const Binary = "guestcheck.test"

// Disk writes a tar archive of files (name in the archive → host
// path) to path for use as the guest check disk. Files are written in name
// order, all mode 0755 (they are programs or data read by root).
func Disk(files map[string]string, path string) error {
	if _, ok := files[Binary]; !ok {
		return fmt.Errorf("guest check disk: no %s", Binary)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		b, err := os.ReadFile(files[name])
		if err != nil {
			out.Close()
			return fmt.Errorf("guest check disk: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			out.Close()
			return err
		}
		if _, err := tw.Write(b); err != nil {
			out.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Credentials returns the SMBIOS credentials that add the harness's
// check unit to a booting guest and pull it into multi-user.target. The unit
// waits until the boot has finished, reports the system state and failed
// units, unpacks the check disk (if any) and runs its check binary with args, and
// powers the guest off. Nothing of it is in the image.
func Credentials(args []string) []qemu.Credential {
	script := strings.Join([]string{
		`state=$(systemctl is-system-running --wait)`,
		`failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd, -)`,
		`echo "` + MarkerReady + ` state=$state failed=$failed"`,
		`f=/dev/disk/by-id/virtio-` + Serial,
		`d=` + Dir,
		// The check output streams to the console as it comes, so a hung
		// check shows where it hangs; the exit code travels through a file
		// because the shell is dash (no PIPESTATUS).
		`if [ -b $f ]; then mkdir -p $d && tar -xf $f -C $d && cd $d && ` +
			`{ ./` + Binary + ` -test.v -test.timeout=20m ` + shellWords(args) + ` 2>&1; echo $? >$d/rc; } | sed -u "s/^/` + MarkerCheck + `/"; ` +
			`echo "` + MarkerExit + ` $(cat $d/rc)"; fi`,
		`echo ` + MarkerDone,
		`systemctl --no-block poweroff`,
	}, "\n")
	return Script("bulwark-check", "Bulwark test harness check", script)
}

// Script returns SMBIOS credentials that add a unit
// name.service running script with its output on the report port (the VM
// needs qemu.Config.Report), ordered after multi-user.target and pulled in by
// it. Type=exec, so a script that waits on `systemctl is-system-running
// --wait` does not make the boot wait for the script itself.
func Script(name, description, script string) []qemu.Credential {
	port := "/dev/virtio-ports/" + qemu.ReportPort
	text := fmt.Sprintf(`[Unit]
Description=%s
After=multi-user.target %s
Requires=%s
DefaultDependencies=no

[Service]
Type=exec
StandardOutput=file:%s
StandardError=inherit
ExecStart=/bin/sh -c %s
`, description, deviceUnit(port), deviceUnit(port), port, UnitQuote(script))
	return []qemu.Credential{
		{Name: "systemd.extra-unit." + name + ".service", Value: []byte(text)},
		{Name: "systemd.unit-dropin.multi-user.target", Value: []byte("[Unit]\nWants=" + name + ".service\n")},
	}
}

// deviceUnit is systemd's device unit name for the device node path, as
// `systemd-escape --path --suffix=device` spells it.
func deviceUnit(path string) string { return unit.UnitNamePathEscape(path) + ".device" }

// FailingUnit adds a unit that fails at boot, to prove that the
// harness notices and reports a failed unit.
func FailingUnit() []qemu.Credential {
	return []qemu.Credential{
		{Name: "systemd.extra-unit.bulwark-broken.service", Value: []byte("[Unit]\nDescription=Deliberately broken unit\n[Service]\nType=oneshot\nExecStart=/bin/false\n")},
		{Name: "systemd.unit-dropin.sysinit.target", Value: []byte("[Unit]\nWants=bulwark-broken.service\n")},
	}
}

// Panic adds a unit that crashes the kernel through sysrq, to
// prove that the harness fails fast on a panic instead of waiting it out.
func Panic() []qemu.Credential {
	return []qemu.Credential{
		{Name: "systemd.extra-unit.bulwark-panic.service", Value: []byte("[Unit]\nDescription=Deliberate kernel panic\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger'\n")},
		{Name: "systemd.unit-dropin.sysinit.target", Value: []byte("[Unit]\nWants=bulwark-panic.service\n")},
	}
}

// UnitQuote quotes s as one argument of a unit's ExecStart: systemd expands
// $ and % itself, so they are doubled.
func UnitQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "$", "$$")
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "\n", `; `)
	return `"` + s + `"`
}

func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// BootReport returns SMBIOS credentials that add a unit printing marker,
// the image's IMAGE_VERSION and the entry systemd-boot booted
// (LoaderEntrySelected) to the report port early in every boot, before
// anything that may fail: the one line a harness sees from a boot that
// reboots itself before the check unit runs.
func BootReport(marker string) []qemu.Credential {
	port := "/dev/virtio-ports/" + qemu.ReportPort
	script := `. /usr/lib/os-release; echo "` + marker + ` $IMAGE_VERSION $(cat /sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f | tail -c +5 | tr -d "\000")"`
	text := fmt.Sprintf(`[Unit]
Description=Bulwark test harness boot report
After=%s local-fs.target
Requires=%s
DefaultDependencies=no
ConditionPathExists=!/etc/initrd-release

[Service]
Type=oneshot
StandardOutput=file:%s
StandardError=inherit
ExecStart=/bin/sh -c %s
`, deviceUnit(port), deviceUnit(port), port, UnitQuote(script))
	return []qemu.Credential{
		{Name: "systemd.extra-unit.bulwark-boot-report.service", Value: []byte(text)},
		{Name: "systemd.unit-dropin.sysinit.target", Value: []byte("[Unit]\nWants=bulwark-boot-report.service\n")},
	}
}
