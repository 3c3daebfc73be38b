package audit

import (
	"slices"
	"strings"
)

// This file reads one rule line's options into a Rule (parseRule); the
// option values themselves are read in parse.go and fields.go.

// ruleState tracks what auditctl tracks while it reads one rule line: which
// options came, in which order, because several are order-sensitive.
type ruleState struct {
	listSet                                    bool
	syscallAdded, permAdded, exeAdded, fsAdded bool
	sawS, keyFromF                             bool
}

func (s *ruleState) keyable() bool {
	return s.syscallAdded || s.permAdded || s.exeAdded || s.fsAdded
}

// ruleParser builds one rule from its options, one method per option, and
// records every problem on the rule's line.
type ruleParser struct {
	r   Rule
	s   ruleState
	bad func(format string, args ...any)
}

func parseRule(c *errs, file string, line int, opts []opt) (Rule, bool) {
	p := &ruleParser{r: Rule{File: file, Line: line}, bad: func(format string, args ...any) { c.add(file, line, format, args...) }}
	n := c.count()
	for _, o := range opts {
		switch o.name {
		case "-a", "-A":
			p.list(o)
		case "-w":
			p.watch(o)
		case "-p":
			p.perms(o)
		case "-S":
			p.syscalls(o)
		case "-F":
			p.field(o)
		case "-C":
			p.compare(o)
		case "-k":
			p.key(o)
		default:
			p.bad("%s cannot be combined with rule options", o.name)
		}
	}
	p.finish()
	if p.r.Kind == 0 || c.count() > n {
		return Rule{}, false
	}
	return p.r, true
}

// list reads -a or -A LIST,ACTION.
func (p *ruleParser) list(o opt) {
	r, s := &p.r, &p.s
	switch {
	case r.Kind == Watch:
		p.bad("%s cannot be combined with -w", o.name)
		return
	case s.listSet:
		p.bad("only one -a or -A per rule")
		return
	}
	r.Kind, r.Prepend, s.listSet = Syscall, o.name == "-A", true
	action, list, msg := parseListAction(o.arg)
	if msg != "" {
		p.bad("%s %s: %s", o.name, o.arg, msg)
	}
	r.Action, r.List = action, list
}

// watch reads -w PATH, which stands for -a always,exit with a path field.
func (p *ruleParser) watch(o opt) {
	r, s := &p.r, &p.s
	switch {
	case r.Kind == Watch:
		p.bad("only one -w per rule")
		return
	case s.listSet:
		p.bad("-w cannot be combined with -a")
		return
	}
	path := o.arg
	for len(path) > 2 && strings.HasSuffix(path, "/") { // auditctl trims these
		path = path[:len(path)-1]
	}
	if msg := pathProblem(path); msg != "" {
		p.bad("-w: %s", msg)
	}
	r.Kind, r.Path, r.Perms, r.Action, r.List = Watch, path, "rwxa", "always", "exit"
	s.listSet, s.syscallAdded = true, true
}

// perms reads a watch's -p.
func (p *ruleParser) perms(o opt) {
	if p.r.Kind != Watch {
		p.bad("-p needs a -w before it (an -a rule takes -F perm=)")
		return
	}
	perms, msg := canonPerms(o.arg)
	if msg != "" {
		p.bad("-p: %s", msg)
		return
	}
	p.r.Perms = perms
}

// syscalls reads -S NAME[,NAME...]; "all" absorbs every other name.
func (p *ruleParser) syscalls(o opt) {
	r := &p.r
	p.s.sawS = true
	if r.Kind == Watch {
		p.bad("-S cannot be combined with -w")
		return
	}
	for _, name := range strings.Split(o.arg, ",") {
		if !sysName.MatchString(name) {
			p.bad("-S: %q is not a system call name", name)
			continue
		}
		if slices.Contains(r.Syscalls, "all") || slices.Contains(r.Syscalls, name) {
			continue
		}
		if name == "all" {
			r.Syscalls = nil
		}
		r.Syscalls = append(r.Syscalls, name)
	}
	p.s.syscallAdded = true
}

// field reads -F NAME OP VALUE, and -F key=, which is -k spelt as a field.
func (p *ruleParser) field(o opt) {
	r, s := &p.r, &p.s
	if !s.listSet {
		p.bad("-F needs -a LIST,ACTION before it")
		return
	}
	if k, ok := strings.CutPrefix(o.arg, "key="); ok {
		if msg := checkKey(k, r.Keys); msg != "" {
			p.bad("-F key: %s", msg)
			return
		}
		r.Keys, s.keyFromF = append(r.Keys, k), true
		return
	}
	if r.Kind == Watch {
		p.bad("-F %s: a -w watch takes only -p and -k; write -a always,exit -F path=... for more conditions", o.arg)
		return
	}
	f, msg := parseField(o.arg, r.List)
	if msg != "" {
		p.bad("%s", msg)
		return
	}
	switch f.Name {
	case "arch":
		if s.syscallAdded {
			p.bad("-F arch must come before -S (auditctl reads the names with the arch's table)")
			return
		}
		if _, dup := archField(*r); dup {
			p.bad("only one -F arch per rule")
			return
		}
	case "path", "dir":
		if pathField(*r) != nil {
			p.bad("only one -F path or -F dir per rule (the kernel rejects a second)")
			return
		}
		s.permAdded = true
	case "perm":
		s.permAdded = true
		if _, ok := archField(*r); ok {
			s.syscallAdded = true
		}
	case "exe":
		s.exeAdded = true
	case "fstype":
		s.fsAdded = true
	}
	r.Fields = append(r.Fields, f)
}

// compare reads -C, a comparison between two fields.
func (p *ruleParser) compare(o opt) {
	if !p.s.listSet || p.r.Kind == Watch {
		p.bad("-C needs -a LIST,ACTION before it")
		return
	}
	f, msg := parseCompare(o.arg, p.r.List)
	if msg != "" {
		p.bad("%s", msg)
		return
	}
	p.r.Fields = append(p.r.Fields, f)
}

// key reads -k.
func (p *ruleParser) key(o opt) {
	if !p.s.listSet || !p.s.keyable() {
		p.bad("-k needs -w, or -a with -S, -F path, dir, perm, exe or fstype, before it")
		return
	}
	if msg := checkKey(o.arg, p.r.Keys); msg != "" {
		p.bad("-k: %s", msg)
		return
	}
	p.r.Keys = append(p.r.Keys, o.arg)
}

// finish checks what only the whole rule shows.
func (p *ruleParser) finish() {
	r, s := &p.r, &p.s
	if !s.listSet && s.sawS {
		p.bad("-S needs -a LIST,ACTION")
	}
	if s.listSet && s.keyFromF && !s.keyable() {
		p.bad("-F key needs -S, -F path, dir, perm, exe or fstype on the rule")
	}
	if r.Kind == Syscall && r.Syscalls != nil && r.List != "" && r.List != "exit" {
		p.bad("-S cannot be used on the %s list: only exit rules filter system calls", r.List)
	}
	if len(r.Fields)+min(len(r.Keys), 1) > maxFields {
		p.bad("%d fields; the kernel takes at most %d", len(r.Fields)+1, maxFields)
	}
}
