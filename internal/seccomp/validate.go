package seccomp

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// Severity says whether a problem stops a profile from being used.
type Severity int

const (
	// Error: the profile is wrong, or does something other than it says.
	Error Severity = iota
	// Warning: the profile works as written, but probably not as meant.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one finding at one place in a profile.
type Problem struct {
	Severity Severity
	File     string
	Line     int
	Path     string   // JSON path such as $.syscalls[3].names[1]
	Arches   []string // target architectures it shows on; empty when it does not depend on one
	Msg      string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Path + ": ")
	if p.Severity == Warning {
		b.WriteString("warning: ")
	}
	if len(p.Arches) > 0 {
		b.WriteString(strings.Join(p.Arches, ", ") + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Report is everything Validate found, in the order found.
type Report struct {
	Problems []Problem
}

// Errors returns the problems of severity Error.
func (r *Report) Errors() []Problem { return r.filter(Error) }

// Warnings returns the problems of severity Warning.
func (r *Report) Warnings() []Problem { return r.filter(Warning) }

func (r *Report) filter(s Severity) []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err returns the errors joined (as fielderr.Errors, so that callers can
// list their paths), or nil when there are only warnings.
func (r *Report) Err() error {
	var out fielderr.Errors
	for _, p := range r.Errors() {
		msg := p.Msg
		if len(p.Arches) > 0 {
			msg = strings.Join(p.Arches, ", ") + ": " + msg
		}
		out = append(out, &fielderr.Error{File: p.File, Line: p.Line, Path: p.Path, Msg: msg})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// validator collects problems, merging the same finding on several
// architectures (or capability sets) into one entry.
type validator struct {
	p    *Profile
	def  action
	rep  *Report
	seen map[string]int // key -> index in rep.Problems
}

// add records a problem. key identifies the finding regardless of the
// architecture and capability set it was found under; the first message
// recorded for a key is kept, later architectures are appended to it.
func (v *validator) add(sev Severity, path, arch, key, format string, args ...any) {
	k := fmt.Sprintf("%d|%s|%s", sev, path, key)
	if i, ok := v.seen[k]; ok {
		if arch != "" && !slices.Contains(v.rep.Problems[i].Arches, arch) {
			v.rep.Problems[i].Arches = append(v.rep.Problems[i].Arches, arch)
		}
		return
	}
	pr := Problem{Severity: sev, File: v.p.File, Line: v.p.line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
	if arch != "" {
		pr.Arches = []string{arch}
	}
	v.seen[k] = len(v.rep.Problems)
	v.rep.Problems = append(v.rep.Problems, pr)
}

// addf records a problem that does not depend on the architecture, keyed
// by its message.
func (v *validator) addf(sev Severity, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	v.add(sev, path, "", msg, "%s", msg)
}

// Validate checks p for each of arches (Bulwark names: x86_64, aarch64)
// and returns every problem found. Beyond what dockerd checks, it resolves
// every name with libseccomp, finds rules that libseccomp or runc will
// silently drop, and warns where a block is undone by an alias (see
// aliasGroups).
//
// Rules gated on capabilities are judged for every combination of the
// capabilities the rules for a system call mention, since a container may
// be given any of them: a problem that appears only with (or only without)
// CAP_SYS_ADMIN is still a problem, and the message says which. minKernel
// is judged against BulwarkKernel, the kernel the images ship.
func Validate(p *Profile, arches []string) *Report {
	v := &validator{p: p, rep: &Report{}, seen: map[string]int{}}
	if p.Seccomp == nil {
		v.addf(Error, "$", "empty profile")
		return v.rep
	}
	v.def = p.defaultAction()
	v.checkTop()
	for i, sc := range p.Seccomp.Syscalls {
		if sc == nil {
			v.addf(Error, fmt.Sprintf("$.syscalls[%d]", i), "null is not a rule; dockerd would crash on it")
		}
	}
	rules := p.rules()
	for _, r := range rules {
		v.checkRule(r)
	}
	v.checkDuplicates(rules)
	for _, a := range arches {
		tg, err := lookupTarget(a)
		if err != nil {
			v.addf(Error, "$", "%v", err)
			continue
		}
		v.checkArch(tg, rules)
	}
	// Read top to bottom; problems in generated profiles have no line
	// and keep the order they were found in.
	sort.SliceStable(v.rep.Problems, func(i, j int) bool {
		li, lj := v.rep.Problems[i].Line, v.rep.Problems[j].Line
		return li > 0 && lj > 0 && li < lj
	})
	return v.rep
}

var knownActions = []specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
	specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

var knownOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

var knownFlags = []specs.LinuxSeccompFlag{
	"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow,
	specs.LinuxSeccompFlagWaitKillableRecv,
}

// knownCaps are Linux's capabilities; dockerd compares names verbatim, so
// "SYS_ADMIN" without the prefix would never match.
var knownCaps = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
	"CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE",
	"CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
}

// IsCapability reports whether name is a Linux capability as profiles and
// dockerd spell it: CAP_SYS_ADMIN.
func IsCapability(name string) bool { return slices.Contains(knownCaps, name) }

// maxErrno is the largest value seccomp can return as an errno.
const maxErrno = 4095

func (v *validator) checkTop() {
	s := v.p.Seccomp
	switch {
	case s.DefaultAction == "":
		v.addf(Error, "$.defaultAction", "required")
	case !slices.Contains(knownActions, s.DefaultAction):
		v.addf(Error, "$.defaultAction", "unknown action %q (known: %s)", s.DefaultAction, joinQuoted(knownActions))
	case s.DefaultAction == specs.ActNotify:
		v.addf(Error, "$.defaultAction", "SCMP_ACT_NOTIFY cannot be the default: runc refuses it, as the notifying write would itself need a decision")
	}
	v.checkErrno("$.defaultErrnoRet", s.DefaultAction, s.DefaultErrnoRet)
	if len(s.Architectures) > 0 && len(s.ArchMap) > 0 {
		v.addf(Error, "$.archMap", "both architectures and archMap are set; dockerd refuses the profile")
	}
	for i, a := range s.Architectures {
		v.checkSpecArch(fmt.Sprintf("$.architectures[%d]", i), a)
	}
	for i, m := range s.ArchMap {
		v.checkSpecArch(fmt.Sprintf("$.archMap[%d].architecture", i), m.Arch)
		for j, a := range m.SubArches {
			v.checkSpecArch(fmt.Sprintf("$.archMap[%d].subArchitectures[%d]", i, j), a)
		}
	}
	for i, f := range s.Flags {
		if !slices.Contains(knownFlags, f) {
			v.addf(Error, fmt.Sprintf("$.flags[%d]", i), "unknown flag %q (known: %s)", f, joinQuoted(knownFlags))
		}
	}
	if s.ListenerPath == "" {
		for i, sc := range s.Syscalls {
			if sc != nil && sc.Action == specs.ActNotify {
				v.addf(Error, fmt.Sprintf("$.syscalls[%d].action", i), "SCMP_ACT_NOTIFY needs $.listenerPath, the agent that decides")
			}
		}
	}
}

func (v *validator) checkSpecArch(path string, a specs.Arch) {
	if _, ok := specArches[a]; !ok {
		v.addf(Error, path, "unknown architecture %q (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)", a)
	}
}

func (v *validator) checkErrno(path string, a specs.LinuxSeccompAction, ret *uint) {
	if ret == nil {
		return
	}
	if a != specs.ActErrno && a != specs.ActTrace {
		v.addf(Error, path, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno; runc refuses it with %s", a)
	} else if *ret > maxErrno {
		v.addf(Error, path, "%d is not an errno (at most %d)", *ret, maxErrno)
	}
}

func (v *validator) checkRule(r rule) {
	sc := r.sc
	if sc.Name != "" && len(sc.Names) > 0 {
		v.addf(Error, r.path()+".name", "both name and names are set; dockerd refuses the profile")
	}
	if len(r.names) == 0 {
		v.addf(Error, r.path()+".names", "no system call named")
	}
	for i, n := range r.names {
		switch {
		case n == "":
			v.addf(Error, r.namePath(i), "empty system call name")
		case !existsOn(n, scmpArches):
			v.addf(Error, r.namePath(i), "%q is not a system call on any architecture libseccomp %s knows", n, libseccompVersion())
		case slices.Index(r.names, n) < i:
			v.addf(Warning, r.namePath(i), "%s is listed twice in this rule", n)
		}
	}
	switch {
	case sc.Action == "":
		v.addf(Error, r.path()+".action", "required")
	case !slices.Contains(knownActions, sc.Action):
		v.addf(Error, r.path()+".action", "unknown action %q (known: %s)", sc.Action, joinQuoted(knownActions))
	case sc.Action == specs.ActNotify && slices.Contains(r.names, "write"):
		v.addf(Error, r.path()+".action", "SCMP_ACT_NOTIFY on write: runc refuses it, as it needs write to hand over the notification fd")
	case r.act == v.def:
		v.addf(Warning, r.path()+".action", "%s is the default action: runc drops this rule, so it has no effect", r.act)
	}
	v.checkErrno(r.path()+".errnoRet", sc.Action, sc.ErrnoRet)
	v.checkArgs(r)
	for _, f := range []struct {
		key string
		f   *mobyseccomp.Filter
	}{{"includes", sc.Includes}, {"excludes", sc.Excludes}} {
		if f.f == nil {
			continue
		}
		for i, a := range f.f.Arches {
			path := fmt.Sprintf("%s.%s.arches[%d]", r.path(), f.key, i)
			if canon, ok := archAliases[a]; ok {
				v.addf(Error, path, "dockerd compares libseccomp's name, %q; %q never matches", canon, a)
			} else if !slices.Contains(scmpArches, a) {
				v.addf(Error, path, "unknown architecture %q (libseccomp names such as amd64, arm64)", a)
			}
		}
		for i, c := range f.f.Caps {
			path := fmt.Sprintf("%s.%s.caps[%d]", r.path(), f.key, i)
			switch {
			case slices.Contains(knownCaps, c):
			case slices.Contains(knownCaps, "CAP_"+c):
				v.addf(Error, path, "unknown capability %q; dockerd compares names verbatim, write %q", c, "CAP_"+c)
			default:
				v.addf(Error, path, "unknown capability %q", c)
			}
		}
	}
}

func (v *validator) checkArgs(r rule) {
	seen := map[uint]bool{}
	for i, a := range r.sc.Args {
		path := fmt.Sprintf("%s.args[%d]", r.path(), i)
		if a.Index > 5 {
			v.addf(Error, path+".index", "system calls have arguments 0 to 5, not %d", a.Index)
		}
		switch {
		case a.Op == "":
			v.addf(Error, path+".op", "required")
		case !slices.Contains(knownOps, a.Op):
			v.addf(Error, path+".op", "unknown operator %q (known: %s)", a.Op, joinQuoted(knownOps))
		case a.Op == specs.OpMaskedEqual:
			// value is the mask and valueTwo what the masked argument
			// must equal, as libseccomp's datum_a and datum_b.
			if a.ValueTwo&^a.Value != 0 {
				v.addf(Error, path, "never matches: valueTwo %#x has bits outside the mask %#x, and (arg & mask) cannot have them", a.ValueTwo, a.Value)
			} else if a.Value == 0 {
				v.addf(Warning, path+".value", "mask 0 makes the comparison always true")
			}
		case a.ValueTwo != 0:
			v.addf(Warning, path+".valueTwo", "only SCMP_CMP_MASKED_EQ uses valueTwo; %s ignores it", a.Op)
		}
		if seen[a.Index] {
			v.addf(Warning, path+".index", "argument %d is compared twice: runc then adds every comparison of this rule as a rule of its own, so it matches when any one holds, not all", a.Index)
		}
		seen[a.Index] = true
	}
}

// checkDuplicates warns about a name listed in two rules that apply under
// the same conditions with the same comparisons: harmless, but a sign that
// an edit meant for one of them went to the other. Rules under different
// conditions (Docker lists bpf for CAP_SYS_ADMIN and again for CAP_BPF)
// are how the format expresses alternatives, not duplicates; conflicting
// actions are found per architecture by checkArch.
func (v *validator) checkDuplicates(rules []rule) {
	type first struct {
		r rule
		i int
	}
	seen := map[string][]first{}
	for _, r := range rules {
		for i, n := range r.names {
			for _, f := range seen[n] {
				if f.r.index != r.index && f.r.act == r.act && sameConditions(f.r.sc, r.sc) {
					v.addf(Warning, r.namePath(i), "%s is already listed under the same conditions at %s", n, f.r.namePath(f.i))
					break
				}
			}
			seen[n] = append(seen[n], first{r, i})
		}
	}
}

func joinQuoted[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
