package seccomp

import (
	"cmp"
	"slices"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// scenario is one capability set rules are judged under, and how a
// message names it.
type scenario struct {
	env  env
	text string // "" or " (with CAP_X, without CAP_Y)"
}

// maxCaps bounds the capabilities whose combinations are tried for one
// system call (2^8 combinations); past it only "none granted" and "all
// granted" are tried.
const maxCaps = 8

// scenarios returns every combination of caps granted or withheld.
func scenarios(base env, caps []string) []scenario {
	slices.Sort(caps)
	caps = slices.Compact(caps)
	var sets [][]bool // sets[k][i]: caps[i] granted in scenario k
	if len(caps) <= maxCaps {
		for m := 0; m < 1<<len(caps); m++ {
			set := make([]bool, len(caps))
			for i := range caps {
				set[i] = m&(1<<i) != 0
			}
			sets = append(sets, set)
		}
	} else {
		all := make([]bool, len(caps))
		for i := range all {
			all[i] = true
		}
		sets = [][]bool{make([]bool, len(caps)), all}
	}
	var out []scenario
	for _, set := range sets {
		e := env{arch: base.arch, kernel: base.kernel, caps: map[string]bool{}}
		var with, without []string
		for i, c := range caps {
			if set[i] {
				e.caps[c] = true
				with = append(with, c)
			} else {
				without = append(without, c)
			}
		}
		var parts []string
		if len(with) > 0 {
			parts = append(parts, "with "+strings.Join(with, ", "))
		}
		if len(without) > 0 {
			parts = append(parts, "without "+strings.Join(without, ", "))
		}
		text := ""
		if len(parts) > 0 {
			text = " (" + strings.Join(parts, "; ") + ")"
		}
		out = append(out, scenario{env: e, text: text})
	}
	return out
}

func capsOf(rs []rule) []string {
	var out []string
	for _, r := range rs {
		if r.sc.Includes != nil {
			out = append(out, r.sc.Includes.Caps...)
		}
		if r.sc.Excludes != nil {
			out = append(out, r.sc.Excludes.Caps...)
		}
	}
	return out
}

// onArch reports whether the rule's architecture conditions hold on arch;
// the other conditions are left to the scenarios.
func onArch(sc *mobyseccomp.Syscall, arch string) bool {
	if sc.Excludes != nil && slices.Contains(sc.Excludes.Arches, arch) {
		return false
	}
	return sc.Includes == nil || len(sc.Includes.Arches) == 0 || slices.Contains(sc.Includes.Arches, arch)
}

// pathOf is the path of name in r.
func (r rule) pathOf(name string) string {
	if i := slices.Index(r.names, name); i >= 0 {
		return r.namePath(i)
	}
	return r.path()
}

// checkArch finds, for one target architecture, the rules that runc or
// libseccomp will not apply as written, and the blocks an alias undoes.
func (v *validator) checkArch(tg target, rules []rule) {
	arches := v.p.filterArches(tg)
	byName := map[string][]rule{}
	var order []string
	for _, r := range rules {
		if !onArch(r.sc, tg.scmp) {
			continue
		}
		for i, n := range r.names {
			if slices.Index(r.names, n) < i || !existsOn(n, arches) {
				continue
			}
			if _, ok := byName[n]; !ok {
				order = append(order, n)
			}
			byName[n] = append(byName[n], r)
		}
	}
	base := env{arch: tg.scmp, kernel: tg.kernel}
	for _, n := range order {
		for _, sc := range scenarios(base, capsOf(byName[n])) {
			v.checkName(tg, n, byName[n], sc)
		}
	}
	v.checkAliases(tg, base, byName)
}

// split returns the rules for one name that apply under e, as runc adds
// them: without those whose action is the default (runc drops them), and
// split into unconditional and conditional ones.
func (v *validator) split(rs []rule, e env) (uncond, cond, dropped []rule) {
	for _, r := range rs {
		switch {
		case !e.applies(r.sc):
		case r.act == v.def:
			dropped = append(dropped, r)
		case r.unconditional():
			uncond = append(uncond, r)
		default:
			cond = append(cond, r)
		}
	}
	return uncond, cond, dropped
}

// checkName reports rules for name that do not take effect. libseccomp
// keeps the first unconditional rule for a system call and silently
// ignores any later unconditional rule and every conditional one, whatever
// their actions and in whatever order they were added; two conditional
// rules with the same comparisons but different actions make it fail with
// EEXIST, and runc drops rules whose action is the default one.
func (v *validator) checkName(tg target, name string, rs []rule, sc scenario) {
	uncond, cond, dropped := v.split(rs, sc.env)
	if len(uncond) > 0 {
		first := uncond[0]
		for _, u := range uncond[1:] {
			if u.act != first.act {
				v.add(Error, u.pathOf(name), tg.name, "uncond|"+first.path(), "never applies: libseccomp keeps the first unconditional rule for %s (%s at %s) and ignores this %s one%s", name, first.act, first.pathOf(name), u.act, sc.text)
			}
		}
		for _, c := range cond {
			if c.act != first.act {
				v.add(Error, c.pathOf(name), tg.name, "cond|"+first.path(), "never applies: the unconditional %s rule for %s at %s makes libseccomp ignore every conditional rule for it%s", first.act, name, first.pathOf(name), sc.text)
			} else {
				v.add(Warning, c.pathOf(name), tg.name, "redundant|"+first.path(), "redundant: the unconditional rule at %s already applies %s to every %s call, so these comparisons restrict nothing%s", first.pathOf(name), first.act, name, sc.text)
			}
		}
		for _, d := range dropped {
			v.add(Error, d.pathOf(name), tg.name, "dropped|"+first.path(), "never applies: runc drops rules whose action is the default (%s), so the unconditional %s rule at %s decides every %s call%s", v.def, first.act, first.pathOf(name), name, sc.text)
		}
		return
	}
	for i, c := range cond {
		for _, e := range cond[:i] {
			if e.act != c.act && sameArgs(e.sc.Args, c.sc.Args) {
				v.add(Error, c.pathOf(name), tg.name, "eexist|"+e.path(), "same comparisons for %s as %s with a different action: libseccomp refuses the filter (EEXIST) and the container does not start%s", name, e.pathOf(name), sc.text)
			}
		}
	}
	if len(cond) > 0 {
		for _, d := range dropped {
			if d.unconditional() {
				v.add(Warning, d.pathOf(name), tg.name, "dropped-cond|"+cond[0].path(), "does not block %s: runc drops rules whose action is the default (%s), so the conditional rule at %s still allows what it matches%s", name, v.def, cond[0].pathOf(name), sc.text)
			}
		}
	}
}

// effect is what a container gets from one system call, summarised.
type effect int

const (
	allowed    effect = iota // every call runs (ALLOW, LOG)
	blocked                  // every call fails (ERRNO, KILL*, TRAP)
	restricted               // calls with some argument values fail
	fallback                 // ENOSYS: libc falls back to an older alias, by design
	supervised               // TRACE, NOTIFY: decided outside the filter
)

func classify(a action) effect {
	switch a.name {
	case specs.ActAllow, specs.ActLog:
		return allowed
	case specs.ActErrno:
		if a.errno == enosys {
			return fallback
		}
		return blocked
	case specs.ActTrace, specs.ActNotify:
		return supervised
	}
	return blocked
}

// effectOf summarises name under e and names the place that decides it.
func (v *validator) effectOf(name string, rs []rule, e env) (effect, string) {
	uncond, cond, _ := v.split(rs, e)
	if len(uncond) > 0 {
		return classify(uncond[0].act), uncond[0].pathOf(name)
	}
	if len(cond) == 0 {
		return classify(v.def), "$.defaultAction"
	}
	var allow, block bool
	for _, a := range append([]action{v.def}, actionsOf(cond)...) {
		switch classify(a) {
		case allowed:
			allow = true
		case blocked, fallback:
			block = true
		}
	}
	switch {
	case allow && block:
		return restricted, cond[0].pathOf(name)
	case allow:
		return allowed, cond[0].pathOf(name)
	case block:
		return blocked, cond[0].pathOf(name)
	}
	return supervised, cond[0].pathOf(name)
}

func actionsOf(rs []rule) []action {
	out := make([]action, len(rs))
	for i, r := range rs {
		out[i] = r.act
	}
	return out
}

// checkAliases warns where a member of an alias group is blocked or
// restricted but another member that exists on the architecture is allowed
// outright. When both are restricted, each by its own comparisons (chmod's
// mode is argument 1, fchmodat's argument 2), it does not warn: comparing
// conditions across different argument layouts is beyond a table.
func (v *validator) checkAliases(tg target, base env, byName map[string][]rule) {
	for _, g := range aliasGroups {
		var members []string
		var rs []rule
		for _, n := range g.names {
			if _, ok := sysnum(n, tg.scmp); ok {
				members = append(members, n)
				rs = append(rs, byName[n]...)
			}
		}
		if len(members) < 2 {
			continue
		}
		for _, sc := range scenarios(base, capsOf(rs)) {
			type eff struct {
				e     effect
				where string
			}
			effs := map[string]eff{}
			for _, m := range members {
				e, where := v.effectOf(m, byName[m], sc.env)
				effs[m] = eff{e, where}
			}
			for _, a := range members {
				ea := effs[a]
				if ea.e != blocked && ea.e != restricted {
					continue
				}
				how := "blocked by " + ea.where
				if ea.e == restricted {
					how = "restricted by the comparisons at " + ea.where
				}
				for _, b := range members {
					if eb := effs[b]; eb.e == allowed {
						v.add(Warning, eb.where, tg.name, "alias|"+a+"|"+b, "%s is allowed but %s, which also %s, is %s%s: either that block is walked around through %s or it is an oversight", b, a, g.what, how, sc.text, b)
					}
				}
			}
		}
	}
}

// sameConditions reports whether two rules apply in exactly the same
// situations with the same comparisons.
func sameConditions(a, b *mobyseccomp.Syscall) bool {
	return sameFilter(a.Includes, b.Includes) && sameFilter(a.Excludes, b.Excludes) && sameArgs(a.Args, b.Args)
}

func sameFilter(a, b *mobyseccomp.Filter) bool {
	norm := func(f *mobyseccomp.Filter) (arches, caps []string, k string) {
		if f == nil {
			return nil, nil, ""
		}
		arches = slices.Sorted(slices.Values(f.Arches))
		caps = slices.Sorted(slices.Values(f.Caps))
		if f.MinKernel != nil {
			k = f.MinKernel.String()
		}
		return arches, caps, k
	}
	aa, ac, ak := norm(a)
	ba, bc, bk := norm(b)
	return slices.Equal(aa, ba) && slices.Equal(ac, bc) && ak == bk
}

func sameArgs(a, b []specs.LinuxSeccompArg) bool {
	order := func(x, y specs.LinuxSeccompArg) int {
		return cmp.Or(cmp.Compare(x.Index, y.Index), cmp.Compare(x.Op, y.Op), cmp.Compare(x.Value, y.Value), cmp.Compare(x.ValueTwo, y.ValueTwo))
	}
	as, bs := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(as, order)
	slices.SortFunc(bs, order)
	return slices.Equal(as, bs)
}
