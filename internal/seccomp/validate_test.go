package seccomp

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// profile wraps rules in a profile denying everything else with EPERM.
func profile(rules string) string {
	return `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [` + rules + `]}`
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		arches     []string
		want       []string // Problem.Error() without the file name
	}{
		{"clean", profile(`{"names": ["getpid", "s390_runtime_instr", "riscv_hwprobe"], "action": "SCMP_ACT_ALLOW"}`), Arches(), nil},
		{"missing default", `{"syscalls": [null]}`, nil, []string{"$.defaultAction: required", "$.syscalls[0]: null is not a rule; dockerd would crash on it"}},
		{"top level", `{"defaultAction": "SCMP_ACT_NOTIFY", "defaultErrnoRet": 1,
			"architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_AMD64", "subArchitectures": []}],
			"flags": ["SECCOMP_FILTER_FLAG_NOPE"], "syscalls": []}`, nil, []string{
			"$.defaultAction: SCMP_ACT_NOTIFY cannot be the default: runc refuses it, as the notifying write would itself need a decision",
			"$.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno; runc refuses it with SCMP_ACT_NOTIFY",
			"$.archMap: both architectures and archMap are set; dockerd refuses the profile",
			`$.archMap[0].architecture: unknown architecture "SCMP_ARCH_AMD64" (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)`,
			`$.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE" (known: SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)`,
		}},
		{"actions and names", profile(`
			{"names": ["getpid", "chmdo", "", "getpid"], "action": "SCMP_ACT_ALOW"},
			{"name": "gettid", "names": ["gettid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1},
			{"names": [], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000},
			{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}`), nil, []string{
			`$.syscalls[0].names[1]: "chmdo" is not a system call on any architecture libseccomp 2.6.0 knows`,
			"$.syscalls[0].names[2]: empty system call name",
			"$.syscalls[0].names[3]: warning: getpid is listed twice in this rule",
			`$.syscalls[0].action: unknown action "SCMP_ACT_ALOW" (known: SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)`,
			"$.syscalls[1].name: both name and names are set; dockerd refuses the profile",
			"$.syscalls[1].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno; runc refuses it with SCMP_ACT_ALLOW",
			"$.syscalls[2].names: no system call named",
			"$.syscalls[2].errnoRet: 5000 is not an errno (at most 4095)",
			"$.syscalls[3].action: SCMP_ACT_NOTIFY needs $.listenerPath, the agent that decides",
			"$.syscalls[3].action: SCMP_ACT_NOTIFY on write: runc refuses it, as it needs write to hand over the notification fd",
		}},
		{"arguments", profile(`
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]},
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQUAL"}]},
			{"names": ["fchmod"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 3072, "valueTwo": 4096, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["fchmodat"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_GE"},
				{"index": 0, "value": 10, "op": "SCMP_CMP_LE"}]}`), nil, []string{
			"$.syscalls[0].args[0].index: system calls have arguments 0 to 5, not 6",
			`$.syscalls[1].args[0].op: unknown operator "SCMP_CMP_EQUAL" (known: SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)`,
			"$.syscalls[2].args[0]: never matches: valueTwo 0x1000 has bits outside the mask 0xc00, and (arg & mask) cannot have them",
			"$.syscalls[3].args[0].value: warning: mask 0 makes the comparison always true",
			"$.syscalls[4].args[0].valueTwo: warning: only SCMP_CMP_MASKED_EQ uses valueTwo; SCMP_CMP_GE ignores it",
			"$.syscalls[4].args[1].index: warning: argument 0 is compared twice: runc then adds every comparison of this rule as a rule of its own, so it matches when any one holds, not all",
		}},
		{"conditions", profile(`
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["SYS_ADMIN", "CAP_NOPE"], "arches": ["x86_64", "sparc"]}},
			{"names": ["umount2"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["aarch64"]}}`), nil, []string{
			`$.syscalls[0].includes.arches[0]: dockerd compares libseccomp's name, "amd64"; "x86_64" never matches`,
			`$.syscalls[0].includes.arches[1]: unknown architecture "sparc" (libseccomp names such as amd64, arm64)`,
			`$.syscalls[0].includes.caps[0]: unknown capability "SYS_ADMIN"; dockerd compares names verbatim, write "CAP_SYS_ADMIN"`,
			`$.syscalls[0].includes.caps[1]: unknown capability "CAP_NOPE"`,
			`$.syscalls[1].excludes.arches[0]: dockerd compares libseccomp's name, "arm64"; "aarch64" never matches`,
		}},
		{"duplicates", profile(`
			{"names": ["getpid", "bpf"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}},
			{"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}`), Arches(), []string{
			"$.syscalls[1].names[0]: warning: getpid is already listed under the same conditions at $.syscalls[0].names[0]",
		}},
		{"unconditional wins", profile(`
			{"names": ["chmod", "fchmodat", "fchmod", "fchmodat2"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["fchmodat"], "action": "SCMP_ACT_KILL"},
			{"names": ["fchmodat"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 3072, "op": "SCMP_CMP_MASKED_EQ"}]}`), Arches(), []string{
			"$.syscalls[1].names[0]: x86_64: never applies: the unconditional SCMP_ACT_ALLOW rule for chmod at $.syscalls[0].names[0] makes libseccomp ignore every conditional rule for it",
			"$.syscalls[2].names[0]: aarch64, x86_64: never applies: libseccomp keeps the first unconditional rule for fchmodat (SCMP_ACT_ALLOW at $.syscalls[0].names[1]) and ignores this SCMP_ACT_KILL_THREAD one",
			"$.syscalls[3].names[0]: warning: aarch64, x86_64: redundant: the unconditional rule at $.syscalls[0].names[1] already applies SCMP_ACT_ALLOW to every fchmodat call, so these comparisons restrict nothing",
		}},
		{"runc drops default action", profile(`
			{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["unlinkat"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
			{"names": ["unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}`), []string{"aarch64"}, []string{
			"$.syscalls[1].action: warning: SCMP_ACT_ERRNO(1) is the default action: runc drops this rule, so it has no effect",
			"$.syscalls[1].names[0]: aarch64: never applies: runc drops rules whose action is the default (SCMP_ACT_ERRNO(1)), so the unconditional SCMP_ACT_ALLOW rule at $.syscalls[0].names[1] decides every mkdirat call",
			"$.syscalls[3].action: warning: SCMP_ACT_ERRNO(1) is the default action: runc drops this rule, so it has no effect",
			"$.syscalls[3].names[0]: warning: aarch64: does not block unlinkat: runc drops rules whose action is the default (SCMP_ACT_ERRNO(1)), so the conditional rule at $.syscalls[2].names[0] still allows what it matches",
		}},
		{"same comparisons, different actions", profile(`
			{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]},
			{"names": ["kill"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]}`), []string{"x86_64"}, []string{
			"$.syscalls[1].names[0]: x86_64: same comparisons for kill as $.syscalls[0].names[0] with a different action: libseccomp refuses the filter (EEXIST) and the container does not start",
		}},
		{"conflict only with a capability", profile(`
			{"names": ["sethostname"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["sethostname"], "action": "SCMP_ACT_TRAP"}`), []string{"x86_64"}, []string{
			"$.syscalls[1].names[0]: x86_64: never applies: libseccomp keeps the first unconditional rule for sethostname (SCMP_ACT_ALLOW at $.syscalls[0].names[0]) and ignores this SCMP_ACT_TRAP one (with CAP_SYS_ADMIN)",
		}},
		{"alias blocked", profile(`
			{"names": ["fchmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["chmod"], "action": "SCMP_ACT_KILL_PROCESS"}`), Arches(), []string{
			"$.syscalls[0].names[0]: warning: x86_64: fchmod is allowed but chmod, which also changes a file's mode, is blocked by $.syscalls[1].names[0]: either that block is walked around through fchmod or it is an oversight",
			"$.syscalls[0].names[1]: warning: x86_64: fchmodat is allowed but chmod, which also changes a file's mode, is blocked by $.syscalls[1].names[0]: either that block is walked around through fchmodat or it is an oversight",
			"$.syscalls[0].names[2]: warning: x86_64: fchmodat2 is allowed but chmod, which also changes a file's mode, is blocked by $.syscalls[1].names[0]: either that block is walked around through fchmodat2 or it is an oversight",
		}},
		{"alias restricted under a capability", profile(`
			{"names": ["execveat"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["execve"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}`), []string{"aarch64"}, []string{
			"$.syscalls[0].names[0]: warning: aarch64: execveat is allowed but execve, which also executes a program, is blocked by $.defaultAction (with CAP_SYS_ADMIN): either that block is walked around through execveat or it is an oversight",
		}},
		{"clone3 answered ENOSYS is a redirect", profile(`
			{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}`), Arches(), nil},
		{"unknown target", profile(``), []string{"riscv64"}, []string{`$: unknown architecture "riscv64" (known: [aarch64 x86_64])`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("p.json", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			r := Validate(p, tc.arches)
			var got []string
			for _, pr := range r.Problems {
				got = append(got, strings.TrimPrefix(pr.Error(), "p.json:"+strconv.Itoa(pr.Line)+": "))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			hasErr := slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Severity == Error })
			if (r.Err() != nil) != hasErr {
				t.Errorf("Err() = %v with errors present = %v", r.Err(), hasErr)
			}
		})
	}
}

func TestProblemFormat(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Severity: Error, File: "policies/seccomp/x.json", Line: 12, Path: "$.syscalls[3].names[1]", Msg: "m"},
			"policies/seccomp/x.json:12: $.syscalls[3].names[1]: m"},
		{Problem{Severity: Warning, File: "default.json", Path: "$.syscalls[0]", Arches: []string{"aarch64", "x86_64"}, Msg: "m"},
			"default.json: $.syscalls[0]: warning: aarch64, x86_64: m"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestScenarios(t *testing.T) {
	base := env{arch: "amd64", kernel: BulwarkKernel}
	for _, tc := range []struct {
		caps []string
		want []string
	}{
		{nil, []string{""}},
		{[]string{"CAP_B", "CAP_A", "CAP_B"}, []string{
			" (without CAP_A, CAP_B)", " (with CAP_A; without CAP_B)", " (with CAP_B; without CAP_A)", " (with CAP_A, CAP_B)"}},
		{knownCaps, []string{" (without " + strings.Join(knownCaps, ", ") + ")", " (with " + strings.Join(knownCaps, ", ") + ")"}},
	} {
		var got []string
		for _, s := range scenarios(base, slices.Clone(tc.caps)) {
			got = append(got, s.text)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("scenarios(%v): got %q, want %q", tc.caps, got, tc.want)
		}
	}
}
