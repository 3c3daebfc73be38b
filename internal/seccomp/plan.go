package seccomp

import (
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// entry is one rule for one system call, as runc hands it to libseccomp.
type entry struct {
	name string
	act  action
	args []specs.LinuxSeccompArg // all must hold
	from string                  // JSON path of the name, for messages
}

// plan is a profile resolved for one target: what both exports write.
type plan struct {
	def     action
	tg      target
	arches  []string // libseccomp architectures the filter covers
	entries []entry
}

// resolve applies p's conditions for t the way dockerd and runc do: rules
// whose includes/excludes do not hold are left out, rules with the default
// action are dropped, and a rule comparing one argument twice becomes one
// rule per comparison. Names that are not system calls on any of the
// filter's architectures (Docker's profile names s390 and riscv calls on
// purpose) are left out too. The profile must validate without errors for
// t's architecture.
func (p *Profile) resolve(t Target) (*plan, error) {
	if _, err := lookupTarget(t.Arch); err != nil {
		return nil, err
	}
	if err := Validate(p, []string{t.Arch}).Err(); err != nil {
		return nil, err
	}
	return p.resolveUnchecked(t)
}

// resolveUnchecked is resolve without validation, for tests that need to
// see what libseccomp makes of a profile Validate rejects.
func (p *Profile) resolveUnchecked(t Target) (*plan, error) {
	e, tg, err := t.env()
	if err != nil {
		return nil, err
	}
	pl := &plan{def: p.defaultAction(), tg: tg, arches: p.filterArches(tg)}
	for _, r := range p.rules() {
		if !e.applies(r.sc) || r.act == pl.def {
			continue
		}
		groups := [][]specs.LinuxSeccompArg{r.sc.Args}
		if repeatsIndex(r.sc.Args) {
			groups = nil
			for _, a := range r.sc.Args {
				groups = append(groups, []specs.LinuxSeccompArg{a})
			}
		}
		for i, n := range r.names {
			if slices.Index(r.names, n) < i || !existsOn(n, pl.arches) {
				continue
			}
			for _, g := range groups {
				pl.entries = append(pl.entries, entry{name: n, act: r.act, args: g, from: r.namePath(i)})
			}
		}
	}
	return pl, nil
}

func repeatsIndex(args []specs.LinuxSeccompArg) bool {
	seen := map[uint]bool{}
	for _, a := range args {
		if seen[a.Index] {
			return true
		}
		seen[a.Index] = true
	}
	return false
}
