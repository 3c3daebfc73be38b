// Package qemu boots Bulwark images in QEMU for tests and for `make run`: it
// builds the command line (a pure function, golden-tested per arch), runs
// the VM on a throw-away overlay with its own firmware variable store, ties
// the VM's life to the caller, and watches the serial console and the report
// port for readiness markers and failure patterns. Accel decides between KVM and TCG for every
// caller alike, by running the firmware under KVM once per host boot.
package qemu

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Firmware is a UEFI code image and the variable store template copied per VM.
type Firmware struct {
	Code, Vars string
	// SMM marks code that keeps its variable store in System Management
	// Mode (OVMF's Secure Boot build): it needs q35 with smm=on and the
	// flash marked secure, or it does not start.
	SMM bool
}

// Firmwares are Debian's OVMF and AAVMF builds (packages ovmf, qemu-efi-aarch64).
var Firmwares = map[string]Firmware{
	"x86_64":  {Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	"aarch64": {Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/usr/share/AAVMF/AAVMF_VARS.fd"},
}

// SecureBootFirmwares enforce Secure Boot once keys are enrolled; their
// variable stores start empty, in setup mode, so the image's own key set
// is what gets enrolled. Debian builds AAVMF with Secure Boot in its one
// code image (AAVMF_CODE.ms.fd is a link to it).
var SecureBootFirmwares = map[string]Firmware{
	"x86_64":  {Code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd", SMM: true},
	"aarch64": {Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/usr/share/AAVMF/AAVMF_VARS.fd"},
}

// Forward forwards 127.0.0.1:Host on the host to Guest in the VM.
type Forward struct {
	Host, Guest int
}

// Credential is a systemd credential passed through SMBIOS type 11, which
// systemd imports in VMs: extra units and drop-ins for tests come this way,
// so the image itself carries no test hooks.
type Credential struct {
	Name  string
	Value []byte
}

// Config describes one VM.
type Config struct {
	Arch      string
	Disk      string // the overlay the VM writes to (see PrepareDisk)
	Vars      string // this VM's copy of the variable store
	Firmware  Firmware
	MemoryMiB int
	CPUs      int
	KVM       bool
	// FwCfg maps fw_cfg names (opt/com.coreos/config) to host files.
	FwCfg map[string]string
	// ExtraDisks are attached read-only as raw virtio disks, found in the
	// guest as /dev/disk/by-id/virtio-<Serial>.
	ExtraDisks  []ExtraDisk
	Credentials []Credential
	Forwards    []Forward
	// Interactive puts the console and QEMU's monitor on the terminal
	// (Ctrl-A X quits) instead of a pipe the harness reads.
	Interactive bool
	// Report adds the virtio serial port ReportPort, whose lines Start
	// merges into the VM's Console (and writes beside the console log).
	Report bool
	// reportSocket is the host side of the report port: a Unix socket
	// QEMU listens on, starting the guest only once a client has connected
	// (Start does), so nothing the guest writes is lost.
	reportSocket string
}

// ReportPort is the name of the virtio serial port that the test harness's
// check unit writes its markers and output to: /dev/virtio-ports/<name> in
// the guest. Not the serial console: a getty starting late on the console
// hangs up the tty (vhangup) under the writer, and systemd resets a unit's
// tty when it exits, flushing what the UART still held; on aarch64 under
// TCG either lost every marker of some quick boots. A virtio port is no
// tty, so neither can happen.
const ReportPort = "org.bulwark.report"

// ExtraDisk is a raw file attached read-only.
type ExtraDisk struct {
	Path, Serial string
}

// Command returns the QEMU program and its arguments for c. It touches
// nothing on disk, so it can be tested against golden files.
func Command(c Config) (string, []string, error) {
	bin := "qemu-system-" + c.Arch
	args, err := MachineArgs(c.Arch, c.KVM)
	if err != nil {
		return "", nil, err
	}
	if c.Firmware.SMM {
		if c.Arch != "x86_64" {
			return "", nil, fmt.Errorf("qemu: SMM firmware on %s", c.Arch)
		}
		for i, a := range args {
			if a == "q35,smm=off" {
				args[i] = "q35,smm=on"
			}
		}
		args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = 2048
	}
	if c.CPUs == 0 {
		c.CPUs = 2
	}
	args = append(args,
		"-m", fmt.Sprint(c.MemoryMiB), "-smp", fmt.Sprint(c.CPUs),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+c.Firmware.Code,
		"-drive", "if=pflash,format=raw,unit=1,file="+c.Vars,
		"-drive", "if=none,id=disk0,format=qcow2,cache=unsafe,discard=unmap,file="+c.Disk,
		"-device", "virtio-blk-pci,drive=disk0,bootindex=1",
		"-device", "virtio-rng-pci",
	)
	for i, d := range c.ExtraDisks {
		if strings.Contains(d.Path, ",") {
			return "", nil, fmt.Errorf("qemu: extra disk %q: commas are not allowed", d.Path)
		}
		id := fmt.Sprintf("extra%d", i)
		args = append(args, "-drive", "if=none,id="+id+",format=raw,readonly=on,file="+d.Path,
			"-device", "virtio-blk-pci,drive="+id+",serial="+d.Serial)
	}
	if c.Interactive {
		args = append(args, "-serial", "mon:stdio")
	} else {
		args = append(args, "-serial", "stdio", "-monitor", "none")
	}
	if c.Report {
		if c.reportSocket == "" || strings.Contains(c.reportSocket, ",") {
			return "", nil, fmt.Errorf("qemu: report socket %q: empty or has commas", c.reportSocket)
		}
		args = append(args, "-device", "virtio-serial-pci,id=vser0",
			"-chardev", "socket,id=report,path="+c.reportSocket+",server=on,wait=on",
			"-device", "virtserialport,bus=vser0.0,chardev=report,name="+ReportPort)
	}
	netdev := "user,id=net0"
	for _, f := range c.Forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0")
	names := make([]string, 0, len(c.FwCfg))
	for n := range c.FwCfg {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.Contains(n, ",") || strings.Contains(c.FwCfg[n], ",") {
			return "", nil, fmt.Errorf("qemu: fw_cfg entry %q: commas are not allowed", n)
		}
		args = append(args, "-fw_cfg", "name="+n+",file="+c.FwCfg[n])
	}
	for _, cr := range c.Credentials {
		args = append(args, "-smbios", "type=11,value=io.systemd.credential.binary:"+cr.Name+"="+base64.StdEncoding.EncodeToString(cr.Value))
	}
	return bin, args, nil
}

// MachineArgs chooses the machine, accelerator and CPU for arch: the part
// of the command line that the KVM probe (accel.go) must share with every
// VM, so the probe tries exactly what the VMs will run. The bench records
// it, since what the emulated CPU claims moves boot figures (ERMS below).
func MachineArgs(arch string, kvm bool) ([]string, error) {
	switch arch {
	case "x86_64":
		if kvm {
			return []string{"-machine", "q35,smm=off", "-accel", "kvm", "-cpu", "host"}, nil
		}
		// Single-threaded TCG: with one host thread per vCPU (MTTCG) the
		// x86 guest kernel's live code patching (static keys, int3-based
		// text_poke) raced and panicked about one boot in ten here.
		//
		// No ERMS or FSRM: a guest kernel told the CPU has them clears
		// pages with "rep stosb" (clear_page_erms) and copies with "rep
		// movsb", which TCG runs one byte per step; a real CPU moves whole
		// cache lines. Without them the kernel takes "rep stosq"/"movsq",
		// eight bytes per step. Sampling the vCPUs through QEMU's monitor
		// found clear_page_erms the busiest kernel function of a Bulwark
		// boot, and soft lockups in it on a loaded host; hiding the two
		// bits cut the boot to dockerd over TLS by a quarter (README,
		// Benchmarks). The image is unchanged: its kernel and libc pick the
		// string routines they pick on any CPU without the two bits.
		return []string{"-machine", "q35,smm=off", "-accel", "tcg,thread=single", "-cpu", "max,erms=off,fsrm=off"}, nil
	case "aarch64":
		if kvm {
			return []string{"-machine", "virt,gic-version=3", "-accel", "kvm", "-cpu", "host"}, nil
		}
		// Plain "max" emulates pointer authentication expensively
		// (measured on this x86_64 host: 48 s vs 18 s for a Debian guest to
		// boot); impdef keeps it cheap.
		return []string{"-machine", "virt,gic-version=3", "-accel", "tcg,thread=multi", "-cpu", "max,pauth-impdef=on"}, nil
	}
	return nil, fmt.Errorf("qemu: unsupported arch %q", arch)
}

// ProbeCommand returns the QEMU program and arguments of the KVM probe:
// the VMs' machine under KVM with the real firmware and vars, no disk, no
// network, the serial console on stdout. With no disk the firmware ends in
// its boot manager, which says so on the console.
func ProbeCommand(arch string, fw Firmware, vars string) (string, []string, error) {
	args, err := MachineArgs(arch, true)
	if err != nil {
		return "", nil, err
	}
	args = append(args,
		"-m", "128", "-smp", "1",
		"-nodefaults", "-display", "none", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.Code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-serial", "stdio", "-monitor", "none",
	)
	return "qemu-system-" + arch, args, nil
}

// Scale returns how much longer than under KVM a VM test may take before
// it counts as hung. TCG is roughly 4x slower than KVM on a good day, and
// aarch64 under TCG on an x86_64 host slower again; but hosts of the same
// kind differ by 3x under TCG from one day to the next (2026-11-29: plain
// trixie booted in 42 s on one and 133 s on another, where TestVM/boot
// took 5.4 of its 6 minutes), so the factors leave room for that. A
// longer timeout costs only when a guest really hangs.
func Scale(arch string, kvm bool) float64 {
	switch {
	case kvm:
		return 1
	case arch == "aarch64" && hostArch() != "aarch64":
		return 9
	}
	return 6
}

// VarsCopy copies the firmware variable store template into dir.
func VarsCopy(fw Firmware, dir string) (string, error) {
	b, err := os.ReadFile(fw.Vars)
	if err != nil {
		return "", fmt.Errorf("qemu: firmware variable store: %w (install ovmf / qemu-efi-aarch64)", err)
	}
	p := filepath.Join(dir, "efivars.fd")
	return p, os.WriteFile(p, b, 0o644)
}
