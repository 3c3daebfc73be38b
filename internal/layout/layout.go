// Package layout plans the GPT disk of a Bulwark image (the table under
// "The image" in the README: EFI-SYSTEM, the USR-A/B slots with their
// verity trees, OEM, ROOT): the partitions, their Discoverable Partitions
// Specification types, offsets, sizes and UUIDs. UUIDs are derived from a
// seed (spec name and arch) rather than random, so that two builds of one
// spec give the same bytes; the USR-A pair takes its UUIDs from the verity
// root hash, as systemd's veritysetup generator expects when it looks the
// partitions up by hash.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
)

// Partition labels, in disk order.
const (
	ESP        = "EFI-SYSTEM"
	USRA       = "USR-A"
	USRAVerity = "USR-A-VERITY"
	USRB       = "USR-B"
	USRBVerity = "USR-B-VERITY"
	OEM        = "OEM"
	Root       = "ROOT"
	Docker     = "DOCKER"
)

// DockerType is the GPT type of DOCKER, the filesystem of /var/lib/docker
// (CIS Docker Benchmark 1.1.1: a separate partition for containers). The
// Discoverable Partitions Specification has no type for it, and the
// generic Linux data type is OEM's: a type of its own lets
// systemd-repart's definition (repart.d/60-docker.conf) match DOCKER and
// nothing else, and systemd-dissect leaves it alone.
const DockerType = "6452E7A9-BDA8-43C9-BF26-44B4C3B48F1C"

// GPT partition attribute bits (UEFI and DPS).
const (
	AttrGrowFS   = uint64(1) << 59 // DPS: grow the filesystem to the partition
	AttrReadOnly = uint64(1) << 60 // DPS: mount read-only
	AttrNoAuto   = uint64(1) << 63 // DPS: do not auto-discover (the idle B slot)
)

// Align is the partition alignment.
const Align = 1 << 20

// Sizes are the requested partition sizes in bytes. Without Docker, ROOT
// is last and takes the rest; with it, ROOT is Root bytes and DOCKER, last,
// takes the rest.
type Sizes struct {
	Disk, ESP, USR, USRVerity, OEM int64
	Root                           int64
	Docker                         bool
}

// Partition is one planned partition.
type Partition struct {
	Number     int    `json:"number"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	UUID       string `json:"uuid"`
	Start      int64  `json:"start"` // bytes
	Size       int64  `json:"size"`  // bytes
	Attributes uint64 `json:"attributes"`
}

// Layout is a planned disk.
type Layout struct {
	DiskSize int64       `json:"diskSize"`
	DiskGUID string      `json:"diskGuid"`
	Parts    []Partition `json:"partitions"`
}

// Plan lays out a disk for arch a. seed makes the UUIDs unique per image.
func Plan(a arch.Arch, s Sizes, seed string) (*Layout, error) {
	l := &Layout{DiskSize: s.Disk, DiskGUID: DerivedUUID(seed, "disk")}
	off := int64(Align)
	add := func(label, typ string, size int64, attrs uint64) {
		l.Parts = append(l.Parts, Partition{Number: len(l.Parts) + 1, Label: label, Type: typ,
			UUID: DerivedUUID(seed, label), Start: off, Size: size, Attributes: attrs})
		off += size
	}
	add(ESP, arch.ESPType, s.ESP, 0)
	add(USRA, a.USRType, s.USR, AttrReadOnly)
	add(USRAVerity, a.USRVerityType, s.USRVerity, AttrReadOnly)
	add(USRB, a.USRType, s.USR, AttrReadOnly|AttrNoAuto)
	add(USRBVerity, a.USRVerityType, s.USRVerity, AttrReadOnly|AttrNoAuto)
	add(OEM, arch.LinuxDataType, s.OEM, 0)
	// Leave the last MiB for the backup GPT (33 sectors) and alignment.
	// Only the last partition can grow at first boot (systemd-repart grows
	// a partition into the free space after it): ROOT, or DOCKER after it.
	rest := func() int64 { return (s.Disk - Align - off) / Align * Align }
	if !s.Docker {
		if s.Root != 0 {
			return nil, fmt.Errorf("a ROOT size (%d) is only for a disk with DOCKER after it; ROOT is last and takes the rest", s.Root)
		}
		rootSize := rest()
		if rootSize < 64<<20 {
			return nil, fmt.Errorf("disk size %d leaves only %d bytes for ROOT", s.Disk, rootSize)
		}
		add(Root, a.RootType, rootSize, AttrGrowFS)
		return l, nil
	}
	if s.Root < 64<<20 || s.Root%Align != 0 {
		return nil, fmt.Errorf("ROOT size %d must be a whole number of MiB, at least 64 MiB, when DOCKER follows it", s.Root)
	}
	add(Root, a.RootType, s.Root, 0)
	dockerSize := rest()
	if dockerSize < 64<<20 {
		return nil, fmt.Errorf("disk size %d leaves only %d bytes for DOCKER", s.Disk, dockerSize)
	}
	add(Docker, DockerType, dockerSize, AttrGrowFS)
	return l, nil
}

// Find returns the partition labelled label, or nil.
func (l *Layout) Find(label string) *Partition {
	for i := range l.Parts {
		if l.Parts[i].Label == label {
			return &l.Parts[i]
		}
	}
	return nil
}

// Get returns the partition labelled label.
func (l *Layout) Get(label string) *Partition {
	for i := range l.Parts {
		if l.Parts[i].Label == label {
			return &l.Parts[i]
		}
	}
	panic("layout: no partition " + label)
}

// SetUSRHash gives USR-A and USR-A-VERITY the UUIDs that systemd derives from
// the verity root hash: its first and last 128 bits.
func (l *Layout) SetUSRHash(root []byte) error {
	if len(root) != 32 {
		return fmt.Errorf("layout: root hash must be 32 bytes, got %d", len(root))
	}
	l.Get(USRA).UUID = formatUUID(root[:16])
	l.Get(USRAVerity).UUID = formatUUID(root[16:])
	return nil
}

// DerivedUUID makes a stable version-4-shaped UUID from seed and what.
func DerivedUUID(seed, what string) string {
	sum := sha256.Sum256([]byte("bulwark-layout\x00" + seed + "\x00" + what))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return strings.ToUpper(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
}
