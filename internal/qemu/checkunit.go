package qemu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Console markers printed by the check unit.
const (
	MarkerReady = "BULWARK-READY"
	MarkerCheck = "BULWARK-CHECK: "
	MarkerExit  = "BULWARK-CHECK-EXIT"
	MarkerDone  = "BULWARK-DONE"
)

// GuestCheckSerial names the raw virtio disk that carries the guest check
// binary. A disk, not fw_cfg: fw_cfg reads from sysfs go a byte at a time
// through port I/O, which under TCG takes minutes for a few MiB.
const GuestCheckSerial = "bulwark-check"

// GuestCheckDisk writes bin, padded to whole sectors, to path for use as
// the guest check disk and returns the binary's length.
func GuestCheckDisk(bin, path string) (int64, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return 0, err
	}
	n := int64(len(b))
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return n, os.WriteFile(path, b, 0o644)
}

// ConsoleDevice is the guest's serial console for arch.
func ConsoleDevice(arch string) string {
	if arch == "aarch64" {
		return "/dev/ttyAMA0"
	}
	return "/dev/ttyS0"
}

// CheckCredentials returns the SMBIOS credentials that add the harness's
// check unit to a booting guest and pull it into multi-user.target. The unit
// waits until the boot has finished, reports the system state and failed
// units, runs the guest check binary from fw_cfg (if any) with args, and
// powers the guest off. Nothing of it is in the image.
func CheckCredentials(arch string, binSize int64, args []string) []Credential {
	script := strings.Join([]string{
		`state=$(systemctl is-system-running --wait)`,
		`failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd, -)`,
		`echo "` + MarkerReady + ` state=$state failed=$failed"`,
		`f=/dev/disk/by-id/virtio-` + GuestCheckSerial,
		`if [ -b $f ]; then head -c ` + strconv.FormatInt(binSize, 10) + ` $f > /run/bulwark-guestcheck && chmod 700 /run/bulwark-guestcheck && ` +
			`/run/bulwark-guestcheck -test.v ` + shellWords(args) + ` >/run/bulwark-guestcheck.out 2>&1; rc=$?; ` +
			`sed "s/^/` + MarkerCheck + `/" /run/bulwark-guestcheck.out; echo "` + MarkerExit + ` $rc"; fi`,
		`echo ` + MarkerDone,
		`systemctl --no-block poweroff`,
	}, "\n")
	unit := fmt.Sprintf(`[Unit]
Description=Bulwark test harness check
After=multi-user.target
DefaultDependencies=no

[Service]
Type=exec
StandardOutput=tty
StandardError=tty
TTYPath=%s
ExecStart=/bin/sh -c %s
`, ConsoleDevice(arch), unitQuote(script))
	return []Credential{
		{Name: "systemd.extra-unit.bulwark-check.service", Value: []byte(unit)},
		{Name: "systemd.unit-dropin.multi-user.target", Value: []byte("[Unit]\nWants=bulwark-check.service\n")},
	}
}

// FailingUnitCredentials adds a unit that fails at boot, to prove that the
// harness notices and reports a failed unit.
func FailingUnitCredentials() []Credential {
	return []Credential{
		{Name: "systemd.extra-unit.bulwark-broken.service", Value: []byte("[Unit]\nDescription=Deliberately broken unit\n[Service]\nType=oneshot\nExecStart=/bin/false\n")},
		{Name: "systemd.unit-dropin.sysinit.target", Value: []byte("[Unit]\nWants=bulwark-broken.service\n")},
	}
}

// PanicCredentials adds a unit that crashes the kernel through sysrq, to
// prove that the harness fails fast on a panic instead of waiting it out.
func PanicCredentials() []Credential {
	return []Credential{
		{Name: "systemd.extra-unit.bulwark-panic.service", Value: []byte("[Unit]\nDescription=Deliberate kernel panic\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger'\n")},
		{Name: "systemd.unit-dropin.sysinit.target", Value: []byte("[Unit]\nWants=bulwark-panic.service\n")},
	}
}

// unitQuote quotes s as one argument of a unit's ExecStart: systemd expands
// $ and % itself, so they are doubled.
func unitQuote(s string) string {
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
