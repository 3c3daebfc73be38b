package authz

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// usableUser reports why a user name (a certificate CN) cannot identify
// anyone: an empty CN, or one that prints as something else in the log.
func usableUser(u string) error {
	switch {
	case u == "":
		return errors.New("empty user (certificate CN)")
	case !utf8.ValidString(u):
		return fmt.Errorf("user %q is not valid UTF-8", u)
	case strings.TrimSpace(u) != u:
		return fmt.Errorf("user %q has leading or trailing space", u)
	case strings.IndexFunc(u, unicode.IsControl) >= 0:
		return fmt.Errorf("user %q has control characters", u)
	}
	return nil
}

func checkUsers(errs *fielderr.List, line int, path string, r *Rule, seen map[string]string) {
	if len(r.Users) == 0 {
		errs.Add(line, path+".users", "must list at least one user (the client certificate CN)")
	}
	for i, u := range r.Users {
		up := fmt.Sprintf("%s.users[%d]", path, i)
		if err := usableUser(u); err != nil {
			errs.Add(line, up, "%v", err)
			continue
		}
		if prev, dup := seen[u]; dup {
			errs.Add(line, up, "user %q is already in rule %q: the first rule decides, so this one would never apply", u, prev)
			continue
		}
		seen[u] = r.Name
	}
}

// checkActions compiles the rule's patterns and rejects those that can never
// allow anything: no known action, or only actions the rule's kind can
// never allow (a write in a read-only rule, a root-granting action in a
// restricted one).
func checkActions(errs *fielderr.List, line int, path string, r *Rule) {
	if len(r.Actions) == 0 {
		errs.Add(line, path+".actions", "must list at least one action or pattern")
	}
	for i, a := range r.Actions {
		ap := fmt.Sprintf("%s.actions[%d]", path, i)
		re, err := compileAction(a)
		if err != nil {
			errs.Add(line, ap, "%q does not compile as one whole regular expression: %v", a, err)
			continue
		}
		r.patterns = append(r.patterns, re)
		var matched []string
		fires := false
		var why string
		for _, act := range Actions() {
			if !re.MatchString(act) {
				continue
			}
			matched = append(matched, act)
			switch ok, reason := r.mayAllow(act); {
			case ok:
				fires = true
			case why == "":
				why = reason
			}
		}
		switch {
		case len(matched) == 0:
			errs.Add(line, ap, "%q matches no Docker API action (known actions look like container_create, image_list)", a)
		case !fires:
			errs.Add(line, ap, "%q can never fire in rule %q: %s", a, r.Name, why)
		}
	}
}

// mayAllow reports whether the rule could ever allow action, whatever the
// request's body, and if not, why.
func (r *Rule) mayAllow(action string) (bool, string) {
	if r.ReadOnly {
		if ok, why := readSafeAction(action); !ok {
			return false, fmt.Sprintf("the rule is read-only and %s is not read-safe: %s", action, why)
		}
		return true, ""
	}
	if why, ok := unrestrictedOnly[action]; ok && !r.unrestricted() {
		return false, fmt.Sprintf("%s is only for unrestricted rules: %s", action, why)
	}
	return true, ""
}

// checkLimits checks the fields that widen a restricted rule's limits.
func checkLimits(errs *fielderr.List, line int, path string, r *Rule) {
	if r.Unrestricted && r.ReadOnly {
		errs.Add(line, path+".unrestricted", "a rule cannot be both read-only and unrestricted")
	}
	limited := !r.ReadOnly && !r.unrestricted()
	if !limited && (len(r.Binds) > 0 || len(r.CapAdd) > 0) {
		kind := "read-only (it allows no create, update or exec)"
		if !r.ReadOnly {
			kind = "unrestricted (it has no limits to widen)"
		}
		if len(r.Binds) > 0 {
			errs.Add(line, path+".binds", "has no effect: the rule is %s", kind)
		}
		if len(r.CapAdd) > 0 {
			errs.Add(line, path+".capAdd", "has no effect: the rule is %s", kind)
		}
	}
	for i, b := range r.Binds {
		bp := fmt.Sprintf("%s.binds[%d]", path, i)
		switch {
		case !filepath.IsAbs(b):
			errs.Add(line, bp, "%q is not an absolute path", b)
		case filepath.Clean(b) != b:
			errs.Add(line, bp, "%q is not a clean path (want %q)", b, filepath.Clean(b))
		case b == "/":
			errs.Add(line, bp, `"/" would let containers bind the whole host; grant it with "unrestricted": true if you mean it`)
		default:
			if p := protectedWithin(b); p != "" {
				errs.Add(line, bp, "%q is %s, which is never bound by a restricted rule", b, p)
			}
		}
	}
	r.caps = map[string]bool{}
	for i, c := range r.CapAdd {
		cp := fmt.Sprintf("%s.capAdd[%d]", path, i)
		n := normalizeCap(c)
		switch {
		case n == allCaps:
			errs.Add(line, cp, `"ALL" is never granted by a list; use "unrestricted": true`)
		case !knownCaps[n]:
			errs.Add(line, cp, "%q is not a Linux capability (want a name such as NET_ADMIN)", c)
		default:
			r.caps[n] = true
		}
	}
}

// protectedWithin describes the protected path that b is, or lies in, or
// "" if none.
func protectedWithin(b string) string {
	for _, p := range protectedPaths {
		if within(b, p) {
			return "in " + p
		}
	}
	return ""
}
