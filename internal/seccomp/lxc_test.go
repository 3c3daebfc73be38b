package seccomp

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", name, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, gl, wl)
		}
	}
	return ""
}

func TestLXCGolden(t *testing.T) {
	a, err := LoadAdditions(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, build := range []func(*Additions) (*Profile, error){Default, Strict} {
		p, err := build(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range Arches() {
			name := strings.TrimSuffix(p.File, ".json") + "-" + arch + ".lxc"
			t.Run(name, func(t *testing.T) {
				var b bytes.Buffer
				if err := WriteLXC(&b, p, Target{Arch: arch}); err != nil {
					t.Fatal(err)
				}
				checkLXCRoundTrip(t, p, Target{Arch: arch}, b.Bytes())
				golden(t, name, b.Bytes())
			})
		}
	}
}

// lxcRule is a rule line as LXC's parse_v2_rules reads it.
type lxcRule struct {
	name, action string
	args         []specs.LinuxSeccompArg
}

var (
	lxcArgRe    = regexp.MustCompile(`^\[(\d+),(0x[0-9a-f]+),(SCMP_CMP_[A-Z_]+)(?:,(0x[0-9a-f]+))?\]`)
	lxcActionRe = regexp.MustCompile(`^(allow|kill|trap|notify|errno \d+)$`)
)

// parseLXC reads the text the way LXC does (version, policy, sections,
// "name action [args]..." lines), mapping LXC's [index,value,op,mask]
// back to Docker's value/valueTwo, and fails on anything LXC would not
// take.
func parseLXC(text string) (policy, section string, rules []lxcRule, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "2" {
		return "", "", nil, fmt.Errorf("first line must be the version 2")
	}
	policy = lines[1]
	if policy != "denylist" && !strings.HasPrefix(policy, "allowlist ") {
		return "", "", nil, fmt.Errorf("bad policy line %q", policy)
	}
	for i, l := range lines[2:] {
		switch {
		case strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			if section != "" {
				return "", "", nil, fmt.Errorf("line %d: second section %q", i+3, l)
			}
			section = l
		default:
			name, rest, _ := strings.Cut(l, " ")
			act, args, _ := strings.Cut(rest, " [")
			if !lxcActionRe.MatchString(act) {
				return "", "", nil, fmt.Errorf("line %d: bad action %q", i+3, act)
			}
			r := lxcRule{name: name, action: act}
			if args != "" {
				args = "[" + args
				for args != "" {
					m := lxcArgRe.FindStringSubmatch(args)
					if m == nil {
						return "", "", nil, fmt.Errorf("line %d: bad comparison %q", i+3, args)
					}
					idx, _ := strconv.ParseUint(m[1], 10, 8)
					val, _ := strconv.ParseUint(m[2], 0, 64)
					a := specs.LinuxSeccompArg{Index: uint(idx), Value: val, Op: specs.LinuxSeccompOperator(m[3])}
					if m[4] != "" {
						mask, _ := strconv.ParseUint(m[4], 0, 64)
						a.Value, a.ValueTwo = mask, val
					}
					r.args = append(r.args, a)
					args = args[len(m[0]):]
				}
				if len(r.args) > 6 {
					return "", "", nil, fmt.Errorf("line %d: more than 6 comparisons", i+3)
				}
			}
			rules = append(rules, r)
		}
	}
	return policy, section, rules, nil
}

// checkLXCRoundTrip parses text back and compares it with what the profile
// resolves to, so a formatting slip (LXC's mask order, above all) fails.
func checkLXCRoundTrip(t *testing.T, p *Profile, tg Target, text []byte) {
	t.Helper()
	policy, section, rules, err := parseLXC(string(text))
	if err != nil {
		t.Fatalf("LXC would not parse the output: %v", err)
	}
	pl, err := p.resolve(tg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[" + pl.tg.lxc + "]"; section != want {
		t.Errorf("section: got %q, want %q", section, want)
	}
	if pl.def.name != specs.ActAllow {
		want, _ := lxcAction(pl.def)
		if policy != "allowlist "+want {
			t.Errorf("policy: got %q, want allowlist %s", policy, want)
		}
	}
	if len(rules) != len(pl.entries) {
		t.Fatalf("got %d rule lines, want %d", len(rules), len(pl.entries))
	}
	for i, r := range rules {
		e := pl.entries[i]
		act, _ := lxcAction(e.act)
		if r.name != e.name || r.action != act || !sameArgs(r.args, e.args) {
			t.Errorf("line for %s: got %s %s %v, want %s %s %v", e.from, r.name, r.action, r.args, e.name, act, e.args)
		}
	}
}

func TestLXCMaskOrder(t *testing.T) {
	p, err := Parse("t.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
		{"names": ["fchmodat"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 3072, "valueTwo": 1024, "op": "SCMP_CMP_MASKED_EQ"}]},
		{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteLXC(&b, p, Target{Arch: "aarch64"}); err != nil {
		t.Fatal(err)
	}
	want := "2\nallowlist errno 1\n# t.json for aarch64, generated by osbuild seccomp lxc\n[arm64]\n" +
		"fchmodat allow [2,0x400,SCMP_CMP_MASKED_EQ,0xc00]\n" +
		"socket errno 97 [0,0x28,SCMP_CMP_EQ]\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestLXCRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, profile, want string
	}{
		{"kill process", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]}`,
			"t.json: $.syscalls[0].names[0]: LXC's seccomp format has no SCMP_ACT_KILL_PROCESS"},
		{"log default", `{"defaultAction": "SCMP_ACT_LOG", "syscalls": []}`,
			"t.json: $.defaultAction: LXC's seccomp format has no SCMP_ACT_LOG"},
		{"invalid", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOPE"}]}`,
			`t.json:1: $.syscalls[0].action: unknown action "SCMP_ACT_NOPE"`},
		{"arch", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}`, `unknown architecture "riscv64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("t.json", []byte(tc.profile))
			if err != nil {
				t.Fatal(err)
			}
			arch := "x86_64"
			if tc.name == "arch" {
				arch = "riscv64"
			}
			err = WriteLXC(new(bytes.Buffer), p, Target{Arch: arch})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestLXCStrictCreation checks the strict block in LXC's format: LXC
// takes several comparisons on one line and ANDs them, as libseccomp
// does, and several lines for one call as alternatives, so every rule
// has its line; and no call the block guards is allowed unconditionally.
func TestLXCStrictCreation(t *testing.T) {
	p := repoProfile(t, Strict)
	for _, tc := range []struct {
		arch  string
		lines []string
	}{
		{"x86_64", []string{
			"open allow [1,0x0,SCMP_CMP_MASKED_EQ,0x400040]",
			"open allow [2,0x0,SCMP_CMP_MASKED_EQ,0xc00]",
			"openat allow [2,0x0,SCMP_CMP_MASKED_EQ,0x400040]",
			"openat allow [3,0x0,SCMP_CMP_MASKED_EQ,0xc00]",
			"creat allow [1,0x0,SCMP_CMP_MASKED_EQ,0xc00]",
			"mknod allow [1,0x0,SCMP_CMP_MASKED_EQ,0x2c00]",
			"mknod allow [1,0x2000,SCMP_CMP_MASKED_EQ,0xfc00][2,0x0,SCMP_CMP_EQ]",
			"mknodat allow [2,0x0,SCMP_CMP_MASKED_EQ,0x2c00]",
			"mknodat allow [2,0x2000,SCMP_CMP_MASKED_EQ,0xfc00][3,0x0,SCMP_CMP_EQ]",
			"openat2 errno 38",
		}},
		// aarch64 has no open, creat or mknod, but the filter also
		// covers 32-bit ARM, which does; LXC adds them to that context.
		{"aarch64", []string{
			"open allow [1,0x0,SCMP_CMP_MASKED_EQ,0x400040]",
			"openat allow [2,0x0,SCMP_CMP_MASKED_EQ,0x400040]",
			"openat allow [3,0x0,SCMP_CMP_MASKED_EQ,0xc00]",
			"mknodat allow [2,0x2000,SCMP_CMP_MASKED_EQ,0xfc00][3,0x0,SCMP_CMP_EQ]",
			"openat2 errno 38",
		}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteLXC(&b, p, Target{Arch: tc.arch}); err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, l := range strings.Split(b.String(), "\n") {
				have[l] = true
			}
			for _, l := range tc.lines {
				if !have[l] {
					t.Errorf("no line %q", l)
				}
			}
			_, _, rules, err := parseLXC(b.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rules {
				guarded := r.name == "openat2" || slices.ContainsFunc(strictGuards, func(g guard) bool { return slices.Contains(g.names, r.name) })
				if guarded && r.action == "allow" && len(r.args) == 0 {
					t.Errorf("%s is allowed unconditionally", r.name)
				}
			}
		})
	}
}
