package osbuild

import (
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/imagespec"
)

func lockOf(arch map[string]imagespec.Package, tools map[string]imagespec.Package) *imagespec.Lock {
	return &imagespec.Lock{
		Architectures: map[string]imagespec.ArchPackages{"x86_64": {Packages: arch}},
		Tools:         map[string]imagespec.ArchPackages{"amd64": {Packages: tools}},
	}
}

func TestDiff(t *testing.T) {
	runcOld := imagespec.Package{Version: "1.1.15+ds1-2", Suite: "trixie", SHA256: "a"}
	runcNew := imagespec.Package{Version: "1.1.15+ds1-2+deb13u1", Suite: "trixie-security", SHA256: "b"}
	apt303 := imagespec.Package{Version: "3.0.3", Suite: "trixie", SHA256: "c"}
	apt304 := imagespec.Package{Version: "3.0.4", Suite: "trixie", SHA256: "d"}
	epochOld := imagespec.Package{Version: "9.9", Suite: "trixie"}
	epochNew := imagespec.Package{Version: "1:1.0", Suite: "trixie"}
	tests := []struct {
		name     string
		old, new *imagespec.Lock
		want     []string
		newer    []bool
	}{
		{"nothing moved", lockOf(map[string]imagespec.Package{"runc": runcOld}, nil), lockOf(map[string]imagespec.Package{"runc": runcOld}, nil), nil, nil},
		{"security update", lockOf(map[string]imagespec.Package{"runc": runcOld}, nil), lockOf(map[string]imagespec.Package{"runc": runcNew}, nil),
			[]string{"x86_64: runc 1.1.15+ds1-2 → 1.1.15+ds1-2+deb13u1 (trixie-security, security update)"}, []bool{true}},
		{"tools and arch, sorted by scope", lockOf(map[string]imagespec.Package{"runc": runcOld}, map[string]imagespec.Package{"apt": apt303}),
			lockOf(map[string]imagespec.Package{"runc": runcNew}, map[string]imagespec.Package{"apt": apt304}),
			[]string{"tools/amd64: apt 3.0.3 → 3.0.4 (trixie)", "x86_64: runc 1.1.15+ds1-2 → 1.1.15+ds1-2+deb13u1 (trixie-security, security update)"}, []bool{true, true}},
		{"added and removed", lockOf(map[string]imagespec.Package{"old": apt303}, nil), lockOf(map[string]imagespec.Package{"new": apt304}, nil),
			[]string{"x86_64: new (new) → 3.0.4 (trixie)", "x86_64: old 3.0.3 → (removed)"}, []bool{true, false}},
		{"epoch wins over a larger upstream version", lockOf(map[string]imagespec.Package{"p": epochOld}, nil), lockOf(map[string]imagespec.Package{"p": epochNew}, nil),
			[]string{"x86_64: p 9.9 → 1:1.0 (trixie)"}, []bool{true}},
		{"downgrade is not newer", lockOf(map[string]imagespec.Package{"apt": apt304}, nil), lockOf(map[string]imagespec.Package{"apt": apt303}, nil),
			[]string{"x86_64: apt 3.0.4 → 3.0.3 (trixie)"}, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.old, tc.new)
			var s []string
			for i, c := range got {
				s = append(s, c.String())
				if i < len(tc.newer) && c.Newer() != tc.newer[i] {
					t.Errorf("%s: Newer() = %v; want %v", c, c.Newer(), tc.newer[i])
				}
			}
			if strings.Join(s, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Diff =\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseLockMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LockMode
		err  bool
	}{{"strict", LockStrict, false}, {"refresh", LockRefresh, false}, {"", "", true}, {"Refresh", "", true}} {
		got, err := ParseLockMode(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseLockMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
