// Package selinux holds what Bulwark knows about SELinux policy source:
// a reader for CIL modules (policies/selinux/*.cil) that catches the
// mistakes a policy author makes most (unbalanced parentheses, misspelt
// statements, unterminated strings) with file and line, before the build
// spends a minute in semodule to say the same thing less clearly. The real
// compiler (semodule, run by the build) remains the judge of meaning.
package selinux

import (
	"fmt"
	"os"
	"strings"
)

// Statement is one top-level CIL statement.
type Statement struct {
	Keyword string
	Line    int
	Args    []string // top-level atoms and "(...)" for nested lists
}

// statements are CIL's statement keywords (the CIL reference, "CIL
// statements"), enough for the modules a distribution adds.
var statements = map[string]bool{
	"allow": true, "allowx": true, "auditallow": true, "dontaudit": true, "neverallow": true, "neverallowx": true,
	"auditallowx": true, "dontauditx": true, "deny": true,
	"type": true, "typealias": true, "typealiasactual": true, "typeattribute": true, "typeattributeset": true,
	"typebounds": true, "typechange": true, "typemember": true, "typetransition": true, "typepermissive": true,
	"expandtypeattribute": true,
	"role":                true, "roletype": true, "roleattribute": true, "roleattributeset": true, "roleallow": true,
	"roletransition": true, "rolebounds": true,
	"user": true, "userrole": true, "userattribute": true, "userattributeset": true, "userlevel": true,
	"userrange": true, "userbounds": true, "userprefix": true, "selinuxuser": true, "selinuxuserdefault": true,
	"class": true, "classorder": true, "classpermission": true, "classpermissionset": true, "classmap": true,
	"classmapping": true, "common": true, "classcommon": true, "permissionx": true,
	"boolean": true, "booleanif": true, "tunable": true, "tunableif": true,
	"sensitivity": true, "sensitivityalias": true, "sensitivityaliasactual": true, "sensitivityorder": true,
	"category": true, "categoryalias": true, "categoryaliasactual": true, "categoryorder": true, "categoryset": true,
	"sensitivitycategory": true, "level": true, "levelrange": true, "rangetransition": true,
	"mlsconstrain": true, "mlsvalidatetrans": true, "constrain": true, "validatetrans": true,
	"context": true, "filecon": true, "fsuse": true, "genfscon": true, "portcon": true, "netifcon": true,
	"nodecon": true, "ibpkeycon": true, "ibendportcon": true, "sid": true, "sidorder": true, "sidcontext": true,
	"block": true, "blockabstract": true, "blockinherit": true, "in": true, "optional": true,
	"macro": true, "call": true, "defaultuser": true, "defaultrole": true, "defaulttype": true,
	"defaultrange": true, "handleunknown": true, "mls": true, "policycap": true,
}

// ParseFile reads a CIL module.
func ParseFile(path string) ([]Statement, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, string(b))
}

// Parse reads CIL source and checks its shape; name prefixes errors.
func Parse(name, src string) ([]Statement, error) {
	var (
		out   []Statement
		errs  []string
		depth int
		line  = 1
		cur   *Statement
		atom  strings.Builder
		opens []int // line of each open parenthesis
	)
	flush := func() {
		if atom.Len() == 0 {
			return
		}
		a := atom.String()
		atom.Reset()
		switch {
		case depth == 1 && cur != nil && cur.Keyword == "":
			cur.Keyword = a
			if !statements[a] {
				errs = append(errs, fmt.Sprintf("%s:%d: unknown CIL statement %q", name, cur.Line, a))
			}
		case depth == 1 && cur != nil:
			cur.Args = append(cur.Args, a)
		case depth == 0:
			errs = append(errs, fmt.Sprintf("%s:%d: %q outside a statement", name, line, a))
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == ';':
			flush()
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == '"':
			end := strings.IndexAny(src[i+1:], "\"\n")
			if end < 0 || src[i+1+end] != '"' {
				errs = append(errs, fmt.Sprintf("%s:%d: unterminated string", name, line))
				return nil, joinErrs(errs)
			}
			atom.WriteString(src[i : i+end+2])
			i += end + 1
		case c == '(':
			flush()
			depth++
			opens = append(opens, line)
			if depth == 1 {
				out = append(out, Statement{Line: line})
				cur = &out[len(out)-1]
			} else if depth == 2 && cur != nil {
				cur.Args = append(cur.Args, "(...)")
			}
		case c == ')':
			flush()
			if depth == 0 {
				errs = append(errs, fmt.Sprintf("%s:%d: unbalanced ')'", name, line))
				continue
			}
			if depth == 1 && cur != nil && cur.Keyword == "" {
				errs = append(errs, fmt.Sprintf("%s:%d: empty statement", name, cur.Line))
			}
			depth--
			opens = opens[:len(opens)-1]
			if depth == 0 {
				cur = nil
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
			if c == '\n' {
				line++
			}
		default:
			atom.WriteByte(c)
		}
	}
	flush()
	if depth > 0 {
		errs = append(errs, fmt.Sprintf("%s:%d: '(' is never closed", name, opens[len(opens)-1]))
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	return out, nil
}

func joinErrs(errs []string) error { return fmt.Errorf("%s", strings.Join(errs, "\n")) }
