// Package arch holds what differs between the machine architectures Bulwark
// builds for: Debian's name for it, the Discoverable Partitions Specification
// type GUIDs, the UEFI file names and the serial console. Keeping it in one
// table means adding an architecture is one entry, not a hunt through steps.
package arch

import (
	"fmt"
	"runtime"
	"sort"
)

// Arch describes one target architecture.
type Arch struct {
	Name   string // the name users write: x86_64, aarch64
	Debian string // dpkg architecture: amd64, arm64
	GoArch string // GOARCH: amd64, arm64
	// Discoverable Partitions Specification type GUIDs, so systemd-dissect
	// and systemd-gpt-auto-generator recognise the partitions.
	RootType, USRType, USRVerityType string
	EFIBoot                          string // removable-media boot path file name, BOOTX64.EFI
	SystemdBoot                      string // systemd-boot binary in /usr/lib/systemd/boot/efi
	Stub                             string // systemd-stub used to build the UKI
	Console                          string // serial console device for the kernel
	Kernel                           string // Debian kernel metapackage
	QEMU                             string // qemu-system-<QEMU>
	// Systemd is systemd's name for the architecture (its %a specifier,
	// os-release, DPS file names): x86-64, arm64.
	Systemd string
	// Loader is glibc's dynamic loader (ldd's RTLDLIST on Debian): what
	// resolves a binary's libraries when the initrd is built from outside
	// the image.
	Loader string
}

// ESPType is the EFI System Partition type GUID, the same on every arch.
const ESPType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

// LinuxDataType is the generic Linux filesystem type, used for OEM.
const LinuxDataType = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

var table = map[string]Arch{
	"x86_64": {
		Name: "x86_64", Debian: "amd64", GoArch: "amd64",
		RootType:      "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
		USRType:       "8484680C-9521-48C6-9C11-B0720656F69E",
		USRVerityType: "77FF5F63-E7B6-4633-ACF4-1565B864C0E6",
		EFIBoot:       "BOOTX64.EFI", SystemdBoot: "systemd-bootx64.efi", Stub: "linuxx64.efi.stub",
		Console: "ttyS0", Kernel: "linux-image-amd64", QEMU: "x86_64", Systemd: "x86-64",
		Loader: "/lib64/ld-linux-x86-64.so.2",
	},
	"aarch64": {
		Name: "aarch64", Debian: "arm64", GoArch: "arm64",
		RootType:      "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
		USRType:       "B0E01050-EE5F-4390-949A-9101B17104E9",
		USRVerityType: "6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E",
		EFIBoot:       "BOOTAA64.EFI", SystemdBoot: "systemd-bootaa64.efi", Stub: "linuxaa64.efi.stub",
		Console: "ttyAMA0", Kernel: "linux-image-arm64", QEMU: "aarch64", Systemd: "arm64",
		Loader: "/lib/ld-linux-aarch64.so.1",
	},
}

// Lookup returns the architecture called name.
func Lookup(name string) (Arch, error) {
	a, ok := table[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown architecture %q (known: %v)", name, Names())
	}
	return a, nil
}

// Host returns the architecture this program runs on.
func Host() (Arch, error) {
	for _, a := range table {
		if a.GoArch == runtime.GOARCH {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unsupported build host architecture %s (supported: %v)", runtime.GOARCH, Names())
}

// Names lists the supported architectures, sorted.
func Names() []string {
	var n []string
	for k := range table {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
