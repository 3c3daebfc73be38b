package layout

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/arch"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestPlanGolden(t *testing.T) {
	for _, name := range arch.Names() {
		t.Run(name, func(t *testing.T) {
			a, _ := arch.Lookup(name)
			l, err := Plan(a, Sizes{Disk: 4 << 30, ESP: 128 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 32 << 20, Root: 1 << 30, Docker: true}, "container-host/"+name, "container-host", "2026.11.28")
			if err != nil {
				t.Fatal(err)
			}
			root := bytes.Repeat([]byte{0xab}, 16)
			root = append(root, bytes.Repeat([]byte{0xcd}, 16)...)
			if err := l.SetUSRHash(root); err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(l, "", "  ")
			golden := filepath.Join("testdata", name+".json")
			if *update {
				os.WriteFile(golden, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("layout differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestPlanInvariants(t *testing.T) {
	a, _ := arch.Lookup("x86_64")
	l, err := Plan(a, Sizes{Disk: 3 << 30, ESP: 64 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 1 << 20}, "s", "s", "1")
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{ESP, USRA, USRAVerity, USRB, USRBVerity, OEM, Root}
	labels := []string{ESP, "s_1", "s_1_verity", EmptyLabel, EmptyLabel, OEM, Root}
	end := int64(Align)
	for i, p := range l.Parts {
		if p.Role != roles[i] || p.Label != labels[i] || p.Number != i+1 {
			t.Errorf("partition %d is %s (%q) #%d, want %s (%q)", i, p.Role, p.Label, p.Number, roles[i], labels[i])
		}
		if p.Start%Align != 0 || p.Size%Align != 0 {
			t.Errorf("%s not 1 MiB aligned: start %d size %d", p.Label, p.Start, p.Size)
		}
		if p.Start < end {
			t.Errorf("%s overlaps the previous partition", p.Label)
		}
		end = p.Start + p.Size
	}
	if end > l.DiskSize-33*512 {
		t.Errorf("last partition ends at %d, into the backup GPT of a %d-byte disk", end, l.DiskSize)
	}
	if l.Get(USRB).Attributes&AttrNoAuto == 0 {
		t.Error("USR-B must carry the no-auto attribute so it is not discovered while empty")
	}
	if DerivedUUID("a", "x") == DerivedUUID("b", "x") || DerivedUUID("a", "x") != DerivedUUID("a", "x") {
		t.Error("DerivedUUID must be stable per seed and differ across seeds")
	}
	if _, err := Plan(a, Sizes{Disk: 2 << 30, ESP: 64 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 1 << 20}, "s", "s", "1"); err == nil {
		t.Error("Plan accepted a disk too small for ROOT")
	}
}

// TestPlanDocker: with DOCKER, ROOT has its own size and does not grow;
// DOCKER is last, takes the rest and grows; bad sizes are refused.
func TestPlanDocker(t *testing.T) {
	a, _ := arch.Lookup("x86_64")
	base := Sizes{Disk: 4 << 30, ESP: 64 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 1 << 20}
	good := base
	good.Root, good.Docker = 512<<20, true
	l, err := Plan(a, good, "s", "s", "1")
	if err != nil {
		t.Fatal(err)
	}
	last := l.Parts[len(l.Parts)-1]
	if last.Label != Docker || last.Type != DockerType || last.Attributes&AttrGrowFS == 0 {
		t.Errorf("last partition %+v, want DOCKER of type %s with the grow-fs attribute", last, DockerType)
	}
	if r := l.Get(Root); r.Size != 512<<20 || r.Attributes&AttrGrowFS != 0 {
		t.Errorf("ROOT %+v, want 512 MiB without grow-fs", r)
	}
	if end := last.Start + last.Size; end > l.DiskSize-33*512 || last.Start != l.Get(Root).Start+l.Get(Root).Size {
		t.Errorf("DOCKER at %d+%d does not follow ROOT or runs into the backup GPT", last.Start, last.Size)
	}
	for _, tc := range []struct {
		name string
		s    func(Sizes) Sizes
		want string
	}{
		{"root size without docker", func(s Sizes) Sizes { s.Root = 512 << 20; return s }, "only for a disk with DOCKER"},
		{"docker without root size", func(s Sizes) Sizes { s.Docker = true; return s }, "at least 64 MiB"},
		{"unaligned root", func(s Sizes) Sizes { s.Docker, s.Root = true, 512<<20+1; return s }, "whole number of MiB"},
		{"no room for docker", func(s Sizes) Sizes { s.Docker, s.Root = true, 1900<<20; return s }, "for DOCKER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(a, tc.s(base), "s", "s", "1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The /usr slot's labels are what systemd-sysupdate matches; a GPT label
// holds 36 characters, and a version that does not fit is refused, not cut.
func TestSetVersion(t *testing.T) {
	a, _ := arch.Lookup("aarch64")
	sizes := Sizes{Disk: 3 << 30, ESP: 64 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 1 << 20}
	l, err := Plan(a, sizes, "s", "container-host", "7")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Get(USRA).Label + " " + l.Get(USRAVerity).Label; got != "container-host_7 container-host_7_verity" {
		t.Errorf("USR-A labels %q", got)
	}
	if err := l.SetVersion("container-host", "2026.11.28"); err != nil || l.Get(USRA).Label != "container-host_2026.11.28" {
		t.Errorf("SetVersion: %v, label %q", err, l.Get(USRA).Label)
	}
	uuid := l.Get(USRB).UUID
	if _, err := Plan(a, sizes, "s", "container-host", "2026.11.28-rc1.extra"); err == nil || !strings.Contains(err.Error(), "longer than a GPT label") {
		t.Errorf("a 37-character label: %v", err)
	}
	if other, _ := Plan(a, sizes, "s", "container-host", "8"); other.Get(USRB).UUID != uuid {
		t.Error("the version changed a partition UUID")
	}
}

// A disk read back gives its partitions roles from labels and types: the
// /usr slots are labelled by version, or _empty, or (older disks) by role.
func TestAssignRoles(t *testing.T) {
	a, _ := arch.Lookup("x86_64")
	l, err := Plan(a, Sizes{Disk: 4 << 30, ESP: 64 << 20, USR: 1 << 30, USRVerity: 16 << 20, OEM: 1 << 20, Root: 1 << 30, Docker: true}, "s", "container-host", "1")
	if err != nil {
		t.Fatal(err)
	}
	updated := slices.Clone(l.Parts)
	updated[3].Label, updated[4].Label = "container-host_2", "container-host_2_verity"
	older := slices.Clone(l.Parts)
	for i := range older {
		older[i].Label = older[i].Role
	}
	for name, parts := range map[string][]Partition{"as built": l.Parts, "after an update": updated, "labelled by role": older} {
		read := slices.Clone(parts)
		for i := range read {
			read[i].Role = ""
		}
		AssignRoles(read)
		for i := range read {
			if read[i].Role != parts[i].Role {
				t.Errorf("%s: partition %d (%q) got role %q, want %q", name, read[i].Number, read[i].Label, read[i].Role, parts[i].Role)
			}
		}
	}
}
