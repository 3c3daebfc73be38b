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
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
)

// Partition roles, in disk order. A role names a partition's job in the
// image; its GPT label is the role, except for the /usr slots, whose labels
// are what systemd-sysupdate reads (see SetVersion).
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

// EmptyLabel marks a /usr slot that holds no version: systemd-sysupdate
// writes an update only into a partition of the right type labelled so.
const EmptyLabel = "_empty"

// MaxLabel is the most UTF-16 code units a GPT partition label holds.
const MaxLabel = 36

// Partition is one planned partition.
type Partition struct {
	Number     int    `json:"number"`
	Role       string `json:"role"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	UUID       string `json:"uuid"`
	Start      int64  `json:"start"` // bytes
	Size       int64  `json:"size"`  // bytes
	Attributes uint64 `json:"attributes"`
}

// Name is the partition's role, or its label where it has none (a disk
// that is not Bulwark's).
func (p Partition) Name() string {
	if p.Role != "" {
		return p.Role
	}
	return p.Label
}

// Layout is a planned disk.
type Layout struct {
	DiskSize int64       `json:"diskSize"`
	DiskGUID string      `json:"diskGuid"`
	Parts    []Partition `json:"partitions"`
}

// Plan lays out a disk for arch a. seed makes the UUIDs unique per image;
// name and version label the /usr slot the image boots from (SetVersion).
func Plan(a arch.Arch, s Sizes, seed, name, version string) (*Layout, error) {
	l, err := plan(a, s, seed)
	if err != nil {
		return nil, err
	}
	l.Get(USRB).Label, l.Get(USRBVerity).Label = EmptyLabel, EmptyLabel
	if err := l.SetVersion(name, version); err != nil {
		return nil, err
	}
	return l, nil
}

func plan(a arch.Arch, s Sizes, seed string) (*Layout, error) {
	l := &Layout{DiskSize: s.Disk, DiskGUID: DerivedUUID(seed, "disk")}
	off := int64(Align)
	add := func(role, typ string, size int64, attrs uint64) {
		l.Parts = append(l.Parts, Partition{Number: len(l.Parts) + 1, Role: role, Label: role, Type: typ,
			UUID: DerivedUUID(seed, role), Start: off, Size: size, Attributes: attrs})
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

// roles are the fixed roles, in the order Plan lays them out.
var roles = []string{ESP, USRA, USRAVerity, USRB, USRBVerity, OEM, Root, Docker}

// AssignRoles gives partitions read back from a disk their roles. A label
// that is a role names it (EFI-SYSTEM, OEM, ROOT, DOCKER; USR-A and the
// rest on disks from before the /usr slots were labelled by version). A
// /usr slot, labelled "<name>_<version>" or EmptyLabel, takes its role by
// type and order, as Plan lays them out: the first /usr partition is USR-A,
// the second USR-B, and the same for their verity partitions.
func AssignRoles(parts []Partition) {
	var usr, verity int
	for i := range parts {
		p := &parts[i]
		if slices.Contains(roles, p.Label) {
			p.Role = p.Label
			continue
		}
		isUSR, isVerity := false, false
		for _, n := range arch.Names() {
			a, _ := arch.Lookup(n)
			isUSR = isUSR || strings.EqualFold(p.Type, a.USRType)
			isVerity = isVerity || strings.EqualFold(p.Type, a.USRVerityType)
		}
		switch {
		case isUSR && usr < 2:
			p.Role = []string{USRA, USRB}[usr]
			usr++
		case isVerity && verity < 2:
			p.Role = []string{USRAVerity, USRBVerity}[verity]
			verity++
		}
	}
}

// SetVersion labels the slot the image boots from (USR-A and its verity
// partition) with the image's name and version, as systemd-sysupdate's
// transfer definitions match them: "<name>_<version>" and
// "<name>_<version>_verity". The idle slot stays EmptyLabel.
func (l *Layout) SetVersion(name, version string) error {
	usr, verity := USRLabel(name, version), USRLabel(name, version)+"_verity"
	if len(verity) > MaxLabel {
		return fmt.Errorf("the /usr slot's label %q is longer than a GPT label's %d characters: shorten the name or the version", verity, MaxLabel)
	}
	l.Get(USRA).Label, l.Get(USRAVerity).Label = usr, verity
	return nil
}

// USRLabel is the GPT label of the /usr partition holding version of the
// image name.
func USRLabel(name, version string) string { return name + "_" + version }

// Find returns the partition with role, or nil.
func (l *Layout) Find(role string) *Partition {
	for i := range l.Parts {
		// A manifest from before roles has labels that were the roles.
		if p := &l.Parts[i]; p.Role == role || p.Role == "" && p.Label == role {
			return p
		}
	}
	return nil
}

// Get returns the partition with role.
func (l *Layout) Get(role string) *Partition {
	if p := l.Find(role); p != nil {
		return p
	}
	panic("layout: no partition " + role)
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
