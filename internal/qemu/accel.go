package qemu

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// AccelEnv names the environment variable that forces the accelerator:
// "kvm" or "tcg" skip the probe; unset probes.
const AccelEnv = "BULWARK_ACCEL"

// FirmwareMarker is what Debian's OVMF and AAVMF print on the serial
// console when their boot manager runs ("BdsDxe: loading Boot0001 ..."),
// with no disk about half a second after start under KVM. Seeing it proves
// the guest got through SEC, PEI and DXE, far past where a broken KVM dies.
const FirmwareMarker = "BdsDxe"

// Decision is the accelerator the VMs of one arch use on this host, and why.
type Decision struct {
	KVM bool
	// Reason says why in a few words, for the one line callers print.
	Reason string
	// Cached means the answer is an earlier probe's of this host boot.
	Cached bool
	// Probe is how long the probe ran (the cached one's when Cached); zero
	// when none ran.
	Probe time.Duration
}

// String is the one line that callers print before they start QEMU.
func (d Decision) String() string {
	accel := "TCG"
	if d.KVM {
		accel = "KVM"
	}
	s := fmt.Sprintf("qemu: %s; using %s", d.Reason, accel)
	if d.Cached {
		s += " (cached for this boot)"
	}
	return s
}

// Accel decides between KVM and TCG for arch on this host (see Prober).
func Accel(ctx context.Context, arch string) (Decision, error) {
	return Prober{}.Accel(ctx, arch)
}

// Prober decides whether KVM works by running a guest under it, because
// opening /dev/kvm, or even creating a VM, proves little: on some hosts
// (nested virtualization) both work and the guest then dies in the
// firmware's first instructions with "KVM internal error", or QEMU aborts
// setting up the vCPU. The zero value probes this host; tests point the
// fields at fakes. The QEMU binary is found on PATH.
type Prober struct {
	HostArch  string        // the host's arch; default: this machine's
	KVMDevice string        // default /dev/kvm
	BootID    string        // file naming this host boot; default /proc/sys/kernel/random/boot_id
	CacheDir  string        // where the answer is kept; default: the user cache dir's bulwark/, else /var/tmp/bulwark
	Firmware  *Firmware     // default Firmwares[arch]
	Timeout   time.Duration // how long the firmware gets to print FirmwareMarker; default 5 s
}

func (p Prober) withDefaults(arch string) Prober {
	if p.HostArch == "" {
		p.HostArch = hostArch()
	}
	if p.KVMDevice == "" {
		p.KVMDevice = "/dev/kvm"
	}
	if p.BootID == "" {
		p.BootID = "/proc/sys/kernel/random/boot_id"
	}
	if p.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			p.CacheDir = d + "/bulwark"
		} else {
			p.CacheDir = "/var/tmp/bulwark"
		}
	}
	if p.Firmware == nil {
		fw := Firmwares[arch]
		p.Firmware = &fw
	}
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Second
	}
	return p
}

// Accel decides: a foreign arch runs under TCG; AccelEnv, when set,
// decides; an unopenable KVMDevice means TCG; otherwise this host boot's
// cached probe answer, or a new probe, decides. An error means the choice
// could not be made (a bad AccelEnv, no QEMU or firmware to probe with),
// never that KVM is unusable.
func (p Prober) Accel(ctx context.Context, arch string) (Decision, error) {
	p = p.withDefaults(arch)
	force := os.Getenv(AccelEnv)
	if force != "" && force != "kvm" && force != "tcg" {
		return Decision{}, fmt.Errorf("qemu: %s=%q: want kvm or tcg, or unset to probe", AccelEnv, force)
	}
	if arch != p.HostArch {
		if force == "kvm" {
			return Decision{}, fmt.Errorf("qemu: %s=kvm, but KVM runs only the host's arch (%s), not %s", AccelEnv, p.HostArch, arch)
		}
		return Decision{Reason: fmt.Sprintf("%s guest on an %s host, which KVM cannot run", arch, p.HostArch)}, nil
	}
	if force != "" {
		return Decision{KVM: force == "kvm", Reason: AccelEnv + "=" + force + ", not probed"}, nil
	}
	f, err := os.OpenFile(p.KVMDevice, os.O_RDWR, 0)
	if err != nil {
		return Decision{Reason: fmt.Sprintf("KVM unusable (%v)", err)}, nil
	}
	f.Close()
	name := "qemu-system-" + arch
	bin, err := exec.LookPath(name)
	if err != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: %w (install qemu-system-x86 / qemu-system-arm)", err)
	}
	key := p.cacheKey(arch, bin)
	if d, ok := p.cached(key); ok {
		return d, nil
	}
	d, err := p.probe(ctx, arch, bin)
	if err != nil {
		return Decision{}, err
	}
	// A cache that cannot be written only costs the next caller a probe.
	_ = p.store(key, d)
	return d, nil
}

// probeEvent is what one of the probe's watchers saw.
type probeEvent struct {
	booted bool   // the firmware printed FirmwareMarker
	died   string // QEMU reported a KVM internal error: its line
}

// probe runs the firmware under KVM until it prints FirmwareMarker (KVM
// works), QEMU reports a KVM internal error or exits (KVM unusable), or
// Timeout passes (unusable too: a working KVM gets there in about a second).
// QEMU is killed either way.
func (p Prober) probe(ctx context.Context, arch, bin string) (Decision, error) {
	dir, err := os.MkdirTemp("", "bulwark-kvm-probe-")
	if err != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: %w", err)
	}
	defer os.RemoveAll(dir)
	vars, err := VarsCopy(*p.Firmware, dir)
	if err != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: %w", err)
	}
	if _, err := os.Stat(p.Firmware.Code); err != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: firmware: %w (install ovmf / qemu-efi-aarch64)", err)
	}
	_, args, err := ProbeCommand(arch, *p.Firmware, vars)
	if err != nil {
		return Decision{}, err
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Decision{}, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return Decision{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: starting %s: %w", bin, err)
	}
	events := make(chan probeEvent, 2)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		watchFirmware(stdout, func() { events <- probeEvent{booted: true} })
	}()
	var errLines []string
	errDone := make(chan struct{})
	// dumped closes when QEMU has finished the register dump that follows
	// "KVM internal error" (its last line starts "Code="), so the reason
	// can quote the dump's "emulation failure" before QEMU is killed.
	dumped := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		died, dumpedClosed := false, false
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if len(errLines) < 64 {
				errLines = append(errLines, l)
			}
			if !died && strings.Contains(l, "KVM internal error") {
				died = true
				events <- probeEvent{died: l}
			}
			if died && !dumpedClosed && strings.HasPrefix(l, "Code=") {
				dumpedClosed = true
				close(dumped)
			}
		}
		if !dumpedClosed {
			close(dumped)
		}
	}()
	// QEMU has exited once both pipes are closed.
	exited := make(chan struct{})
	go func() { <-outDone; <-errDone; close(exited) }()
	timer := time.NewTimer(p.Timeout)
	defer timer.Stop()
	var ev probeEvent
	var timedOut, gone bool
	select {
	case ev = <-events:
	case <-exited:
		gone = true
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	if ev.died != "" {
		select {
		case <-dumped:
		case <-time.After(250 * time.Millisecond):
		}
	}
	// Kill the whole group (QEMU's children too), let the watchers read
	// what is left in the pipes, then reap: Wait closes the pipes, so it
	// comes last, and unblocks the watchers should something outside the
	// group still hold a pipe open.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
	}
	waitErr := cmd.Wait()
	<-exited
	if ctx.Err() != nil {
		return Decision{}, fmt.Errorf("qemu: probing KVM: %w", ctx.Err())
	}
	select {
	case e := <-events: // the exit raced a marker or error line
		if !ev.booted && ev.died == "" {
			ev, gone = e, false
		}
	default:
	}
	took := elapsed.Round(10 * time.Millisecond).String()
	d := Decision{Probe: elapsed}
	switch {
	case ev.booted:
		d.KVM = true
		d.Reason = fmt.Sprintf("KVM works (the firmware reached its boot manager in %s)", took)
	case ev.died != "":
		msg := ev.died
		if containsLine(errLines, "emulation failure") {
			msg += ", emulation failure"
		}
		d.Reason = fmt.Sprintf("KVM unusable (guest died in firmware: %s; probe %s)", msg, took)
	case gone:
		status := "exit status 0"
		if waitErr != nil {
			status = waitErr.Error()
		}
		d.Reason = fmt.Sprintf("KVM unusable (QEMU exited before the firmware ran: %s: %s; probe %s)", status, stderrSummary(errLines), took)
	case timedOut:
		d.Reason = fmt.Sprintf("KVM unusable (the firmware printed no %q within %s under KVM)", FirmwareMarker, p.Timeout)
	}
	return d, nil
}

// watchFirmware reads the probe's serial console to its end, calling seen
// once when FirmwareMarker appears. It reads bytes, not lines: firmware
// output is full of escape sequences and need not end a line.
func watchFirmware(r io.Reader, seen func()) {
	marker := []byte(FirmwareMarker)
	var window []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		window = append(window, buf[:n]...)
		if bytes.Contains(window, marker) {
			seen()
			io.Copy(io.Discard, r)
			return
		}
		if len(window) >= len(marker) {
			window = append(window[:0], window[len(window)-len(marker)+1:]...)
		}
		if err != nil {
			return
		}
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// stderrSummary picks QEMU's line that says what went wrong: the first
// error, else the last line that is not a warning.
func stderrSummary(lines []string) string {
	last := ""
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), "error") {
			return l
		}
		if l != "" && !strings.Contains(l, "warning:") {
			last = l
		}
	}
	if last == "" {
		return "no message"
	}
	return last
}
