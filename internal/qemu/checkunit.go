package qemu

import (
	"fmt"
	"strings"
)

// Console markers printed by the check unit.
const (
	MarkerReady = "BULWARK-READY"
	MarkerCheck = "BULWARK-CHECK: "
	MarkerExit  = "BULWARK-CHECK-EXIT"
	MarkerDone  = "BULWARK-DONE"
)

// FwCfgGuestCheck is the fw_cfg name the guest check binary travels under.
const FwCfgGuestCheck = "opt/dev.bulwark/guestcheck"

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
func CheckCredentials(arch string, args []string) []Credential {
	script := strings.Join([]string{
		`state=$(systemctl is-system-running --wait)`,
		`failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd, -)`,
		`echo "` + MarkerReady + ` state=$state failed=$failed"`,
		`modprobe qemu_fw_cfg 2>/dev/null`,
		`f=/sys/firmware/qemu_fw_cfg/by_name/` + FwCfgGuestCheck + `/raw`,
		`if [ -r $f ]; then cp $f /run/bulwark-guestcheck && chmod 700 /run/bulwark-guestcheck && ` +
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
