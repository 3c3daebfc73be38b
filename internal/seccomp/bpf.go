package seccomp

import (
	"fmt"
	"io"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// CompileBPF compiles p, resolved for t, into the classic BPF program the
// kernel runs, and writes it to w. The filter covers t's architecture and
// the sub-architectures p's archMap lists for it, whatever machine this
// runs on.
//
// It is libseccomp's program for the rules as runc adds them, not runc's
// final one: runc additionally patches in a stub that answers ENOSYS for
// system calls newer than any the profile names.
func CompileBPF(w io.Writer, p *Profile, t Target) error {
	f, err := buildFilter(p, t)
	if err != nil {
		return err
	}
	defer f.Release()
	b, err := f.ExportBPFMem()
	if err != nil {
		return fmt.Errorf("%s: exporting BPF for %s: %w", p.File, t.Arch, err)
	}
	_, err = w.Write(b)
	return err
}

// buildFilter builds the libseccomp filter for p resolved for t.
func buildFilter(p *Profile, t Target) (*libseccomp.ScmpFilter, error) {
	pl, err := p.resolve(t)
	if err != nil {
		return nil, err
	}
	return newFilter(p, pl)
}

func newFilter(p *Profile, pl *plan) (*libseccomp.ScmpFilter, error) {
	def, err := scmpAction(pl.def)
	if err != nil {
		return nil, fmt.Errorf("%s: $.defaultAction: %w", p.File, err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("creating seccomp filter: %w", err)
	}
	if err := addRules(f, p, pl); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

func addRules(f *libseccomp.ScmpFilter, p *Profile, pl *plan) error {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return fmt.Errorf("finding the native architecture: %w", err)
	}
	keepNative := false
	for _, a := range pl.arches {
		sa, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return fmt.Errorf("architecture %s: %w", a, err)
		}
		keepNative = keepNative || sa == native
		if err := f.AddArch(sa); err != nil {
			return fmt.Errorf("adding architecture %s: %w", a, err)
		}
	}
	if !keepNative {
		if err := f.RemoveArch(native); err != nil {
			return fmt.Errorf("removing the native architecture: %w", err)
		}
	}
	// runc turns on libseccomp's binary tree for long rule sets; do the
	// same so the program matches the one runc builds.
	if len(pl.entries) > 32 {
		if err := f.SetOptimize(2); err != nil {
			return fmt.Errorf("setting the optimisation level: %w", err)
		}
	}
	for _, e := range pl.entries {
		act, err := scmpAction(e.act)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p.File, e.from, err)
		}
		// Numbers are the build machine's; libseccomp translates them by
		// name into each architecture of the filter.
		num, err := libseccomp.GetSyscallFromName(e.name)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p.File, e.from, err)
		}
		if len(e.args) == 0 {
			err = f.AddRule(num, act)
		} else {
			var conds []libseccomp.ScmpCondition
			for _, a := range e.args {
				c, cerr := libseccomp.MakeCondition(a.Index, scmpOps[a.Op], a.Value, a.ValueTwo)
				if cerr != nil {
					return fmt.Errorf("%s: %s: %w", p.File, e.from, cerr)
				}
				conds = append(conds, c)
			}
			err = f.AddRuleConditional(num, act, conds)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: adding %s rule for %s: %w", p.File, e.from, e.act, e.name, err)
		}
	}
	return nil
}

var scmpOps = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual: libseccomp.CompareNotEqual, specs.OpLessThan: libseccomp.CompareLess,
	specs.OpLessEqual: libseccomp.CompareLessOrEqual, specs.OpEqualTo: libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual, specs.OpGreaterThan: libseccomp.CompareGreater,
	specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
}

func scmpAction(a action) (libseccomp.ScmpAction, error) {
	switch a.name {
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(int16(a.errno)), nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(int16(a.errno)), nil
	case specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	case specs.ActNotify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unknown action %s", a.name)
}
