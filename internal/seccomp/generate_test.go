package seccomp

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestGenerateGolden(t *testing.T) {
	got, err := Generate(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("got files %v, want default.json and strict.json", slices.Sorted(maps.Keys(got)))
	}
	again, err := Generate(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default.json", "strict.json"} {
		t.Run(name, func(t *testing.T) {
			if !bytes.Equal(got[name], again[name]) {
				t.Error("two runs gave different bytes")
			}
			// What dockerd reads must be what this package reads.
			if _, err := Parse(name, got[name]); err != nil {
				t.Errorf("generated profile does not parse strictly: %v", err)
			}
			golden(t, name, got[name])
		})
	}
}

// TestGeneratedValidate checks the shipped profiles for both
// architectures. Any warning must be listed here, so that a new one (after
// a Docker update, say) is a reviewed decision, not noise.
func TestGeneratedValidate(t *testing.T) {
	a, err := LoadAdditions(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		build    func(*Additions) (*Profile, error)
		warnings []string
	}{
		{Default, nil},
		{Strict, nil},
	} {
		p, err := tc.build(a)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(p.File, func(t *testing.T) {
			r := Validate(p, Arches())
			if err := r.Err(); err != nil {
				t.Errorf("errors:\n%v", err)
			}
			var got []string
			for _, w := range r.Warnings() {
				got = append(got, w.Error())
			}
			if !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.warnings, "\n"))
			}
		})
	}
}

// TestStrictCoversEveryAlias checks, per architecture, that each member
// of the alias groups the strict block is about that exists there is
// restricted (openat2: redirected with ENOSYS) rather than allowed, and
// that the calls aarch64 lacks are no obstacle.
func TestStrictCoversEveryAlias(t *testing.T) {
	p := repoProfile(t, Strict)
	v := &validator{p: p, def: p.defaultAction()}
	byName := map[string][]rule{}
	for _, r := range p.rules() {
		for _, n := range r.names {
			byName[n] = append(byName[n], r)
		}
	}
	for _, tc := range []struct {
		arch, group string
		present     map[string]effect
	}{
		{"x86_64", "chmod", map[string]effect{"chmod": restricted, "fchmod": restricted, "fchmodat": restricted, "fchmodat2": restricted}},
		{"aarch64", "chmod", map[string]effect{"fchmod": restricted, "fchmodat": restricted, "fchmodat2": restricted}},
		{"x86_64", "open", map[string]effect{"open": restricted, "openat": restricted, "creat": restricted, "openat2": fallback}},
		{"aarch64", "open", map[string]effect{"openat": restricted, "openat2": fallback}},
		{"x86_64", "mknod", map[string]effect{"mknod": restricted, "mknodat": restricted}},
		{"aarch64", "mknod", map[string]effect{"mknodat": restricted}},
	} {
		t.Run(tc.arch+"/"+tc.group, func(t *testing.T) {
			tg, _ := lookupTarget(tc.arch)
			i := slices.IndexFunc(aliasGroups, func(g aliasGroup) bool { return slices.Contains(g.names, tc.group) })
			var present, want []string
			for _, n := range aliasGroups[i].names {
				if _, ok := sysnum(n, tg.scmp); ok {
					present = append(present, n)
				}
			}
			for n := range tc.present {
				want = append(want, n)
			}
			slices.Sort(present)
			slices.Sort(want)
			if !slices.Equal(present, want) {
				t.Errorf("%s family on %s: got %v, want %v", tc.group, tc.arch, present, want)
			}
			e := env{arch: tg.scmp, kernel: tg.kernel, caps: map[string]bool{}}
			for _, n := range present {
				if got, where := v.effectOf(n, byName[n], e); got != tc.present[n] {
					t.Errorf("%s: got effect %d (%s), want %d", n, got, where, tc.present[n])
				}
			}
		})
	}
}

// TestStrictWithoutAnAliasWarns shows the alias check earning its keep:
// the strict block with one call left allowed is reported against each
// restricted alias, on the architectures that have one.
func TestStrictWithoutAnAliasWarns(t *testing.T) {
	for _, tc := range []struct {
		open string
		want []string // arch/member pairs reported as undone by open
	}{
		{"fchmodat2", []string{"aarch64/fchmod", "aarch64/fchmodat", "x86_64/chmod", "x86_64/fchmod", "x86_64/fchmodat"}},
		// aarch64 has no other way to create a file: openat2 answers
		// ENOSYS, which is a redirect, not a block.
		{"openat", []string{"x86_64/creat", "x86_64/open"}},
		{"mknodat", []string{"x86_64/mknod"}},
	} {
		t.Run(tc.open, func(t *testing.T) {
			p := repoProfile(t, Strict)
			kept := p.Seccomp.Syscalls[:0]
			for _, sc := range p.Seccomp.Syscalls {
				if slices.Contains(sc.Names, tc.open) && len(sc.Args) > 0 {
					sc.Names = slices.DeleteFunc(sc.Names, func(n string) bool { return n == tc.open })
					if len(sc.Names) == 0 {
						continue
					}
				}
				kept = append(kept, sc)
			}
			p.Seccomp.Syscalls = kept
			p.Seccomp.Syscalls[0].Names = append(p.Seccomp.Syscalls[0].Names, tc.open)
			r := Validate(p, Arches())
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range r.Warnings() {
				member, ok := strings.CutPrefix(w.Msg, tc.open+" is allowed but ")
				if !ok {
					continue
				}
				member, _, _ = strings.Cut(member, ",")
				for _, arch := range w.Arches {
					got = append(got, arch+"/"+member)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v\n%v", got, tc.want, r.Warnings())
			}
		})
	}
}

// TestAdditions checks what Default changes in Docker's profile: the
// revoked calls are gone for a container with Docker's default
// capabilities and back with the capability that gates them.
func TestAdditions(t *testing.T) {
	p := repoProfile(t, Default)
	docker := &Profile{File: "docker.json", Seccomp: mobyseccomp.DefaultProfile()}
	for _, tc := range []struct {
		arch, name string
		caps       []string
		docker     bool // Docker's profile allows it
		bulwark    bool // Bulwark's default allows it
	}{
		{"x86_64", "ptrace", nil, true, false},
		{"aarch64", "process_vm_readv", nil, true, false},
		{"x86_64", "process_vm_writev", nil, true, false},
		{"x86_64", "ptrace", append(slices.Clone(DockerDefaultCaps), "CAP_SYS_PTRACE"), true, true},
		{"x86_64", "modify_ldt", nil, true, false},
		{"aarch64", "modify_ldt", nil, false, false}, // not an aarch64 call
		// Left alone: the README explains why these are not additions.
		{"x86_64", "io_uring_setup", nil, false, false},
		{"aarch64", "io_uring_enter", nil, false, false},
		{"x86_64", "userfaultfd", nil, false, false},
		{"x86_64", "io_uring_register", nil, false, false},
		{"x86_64", "keyctl", nil, false, false},
		{"x86_64", "add_key", nil, false, false},
		{"aarch64", "request_key", nil, false, false},
		{"x86_64", "open_by_handle_at", nil, false, false},
		{"x86_64", "socketcall", nil, true, true},
		{"x86_64", "getpid", nil, true, true},
	} {
		t.Run(tc.arch+"/"+tc.name+"/"+strings.Join(tc.caps, ","), func(t *testing.T) {
			tgt := Target{Arch: tc.arch, Caps: tc.caps}
			if got := allows(t, docker, tgt, tc.name); got != tc.docker {
				t.Errorf("Docker's profile allows %s: got %v, want %v", tc.name, got, tc.docker)
			}
			if got := allows(t, p, tgt, tc.name); got != tc.bulwark {
				t.Errorf("Bulwark's default allows %s: got %v, want %v", tc.name, got, tc.bulwark)
			}
		})
	}
}

// allows reports whether the resolved profile allows name outright.
func allows(t *testing.T, p *Profile, tg Target, name string) bool {
	t.Helper()
	pl, err := p.resolve(tg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pl.entries {
		if e.name == name && e.act.name == specs.ActAllow && len(e.args) == 0 {
			return true
		}
	}
	return false
}

func TestAdditionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"unknown key", `{"revoke": [{"names": ["ptrace"], "why": "x", "because": "y"}]}`,
			[]string{`a.json:1: $.revoke[0].because: unknown key "because"`}},
		{"no reason", `{"revoke": [{"names": ["ptrace"]}]}`,
			[]string{"a.json:1: $.revoke[0].why: say why: every change to Docker's profile needs a reason"}},
		{"typo", `{"revoke": [{"names": ["ptrcae"], "why": "x"}]}`,
			[]string{`a.json:1: $.revoke[0].names[0]: "ptrcae" is not a system call on any architecture libseccomp 2.6.0 knows`}},
		{"already denied", `{"revoke": [{"names": ["getpid", "keyctl", "bpf"], "why": "x"}]}`,
			[]string{
				"a.json:1: $.revoke[0].names[1]: Docker's default profile does not allow keyctl to every container; drop this revocation",
				"a.json:1: $.revoke[0].names[2]: Docker's default profile does not allow bpf to every container; drop this revocation",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAdditions("a.json", []byte(tc.data))
			if err == nil {
				_, err = Default(a)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPoliciesDir is the data-folder check: everything in policies/seccomp
// is either read by Generate or documentation.
func TestPoliciesDir(t *testing.T) {
	entries, err := os.ReadDir(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != AdditionsFile && n != "README.md" {
			t.Errorf("%s: unexpected file; Generate reads only %s", filepath.Join(policiesDir, n), AdditionsFile)
		}
	}
	readme, err := os.ReadFile(filepath.Join(policiesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := LoadAdditions(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range a.Revoke {
		for _, n := range r.Names {
			if !strings.Contains(string(readme), "`"+n+"`") {
				t.Errorf("README.md does not document the revocation of %s", n)
			}
		}
	}
}

// repoProfile builds a profile (Default or Strict) from the repo's own
// additions, failing the test if either step fails.
func repoProfile(t *testing.T, build func(*Additions) (*Profile, error)) *Profile {
	t.Helper()
	a, err := LoadAdditions(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := build(a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
