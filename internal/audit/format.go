package audit

import (
	"fmt"
	"slices"
	"strings"
)

// String prints the rule in canonical auditctl syntax, which Parse reads
// back to the same rule. It is what `auditctl -l` prints for the rule with
// four differences, which need the target architecture or the rest of the
// rule set and are List's job: -S names stay in the order written (auditctl
// sorts them by number), -A stays -A, the system calls auditctl adds for -F
// perm after -F arch are not shown, and an -a exit rule with only path or
// dir, perm and key fields keeps its -a form (auditctl lists it as -w).
// Spaces and backslashes in values are escaped as auditctl reads them;
// auditctl -l prints them raw.
func (r Rule) String() string {
	var b strings.Builder
	switch r.Kind {
	case Control:
		b.WriteString(r.Option)
		if r.Value != "" {
			b.WriteString(" " + r.Value)
		}
		for _, k := range r.Keys {
			b.WriteString(" -k " + escape(k))
		}
	case Watch:
		fmt.Fprintf(&b, "-w %s -p %s", escape(r.Path), r.Perms)
		for _, k := range r.Keys {
			b.WriteString(" -k " + escape(k))
		}
	case Syscall:
		op := "-a"
		if r.Prepend {
			op = "-A"
		}
		fmt.Fprintf(&b, "%s %s,%s", op, r.Action, r.List)
		if f, ok := archField(r); ok {
			fmt.Fprintf(&b, " -F arch%s%s", f.Op, f.Value)
		}
		switch {
		case r.Syscalls != nil:
			b.WriteString(" -S " + strings.Join(r.Syscalls, ","))
		case r.List == "exit" && !permExpands(r):
			b.WriteString(" -S all")
		}
		for _, f := range r.Fields {
			if !f.Cmp && f.Name == "arch" {
				continue
			}
			b.WriteString(" " + fieldString(f, escape))
		}
		for _, k := range r.Keys {
			b.WriteString(" -F key=" + escape(k))
		}
	}
	return b.String()
}

func fieldString(f Field, esc func(string) string) string {
	if f.Cmp {
		return fmt.Sprintf("-C %s%s%s", f.Name, f.Op, f.Value)
	}
	return fmt.Sprintf("-F %s%s%s", f.Name, f.Op, esc(f.Value))
}

// escaper writes a value so that splitWords reads it back.
var escaper = strings.NewReplacer(`\`, `\\`, ` `, `\ `)

func escape(s string) string { return escaper.Replace(s) }

func raw(s string) string { return s }

// permExpands reports whether auditctl adds system calls for the rule's
// -F perm, which it does when -F arch came first.
func permExpands(r Rule) bool {
	arch := false
	for _, f := range r.Fields {
		switch {
		case f.Cmp:
		case f.Name == "arch":
			arch = true
		case f.Name == "perm" && arch:
			return true
		}
	}
	return false
}

// kernelLists are the filter lists in the order the kernel reports them
// (AUDIT_FILTER_USER 0, TASK 1, EXIT 4, EXCLUDE 5, FS 6).
var kernelLists = []string{"user", "task", "exit", "exclude", "filesystem"}

// loadedRule is a rule as the kernel holds it: its listing and its keys.
type loadedRule struct{ line, keys string }

// List prints what `auditctl -l` prints on a target after auditctl loaded
// rules in order: -D clears what came before, -A rules go to the head of
// their list, and the lists come in the kernel's order. It fails with
// Validate's problems, since auditctl would stop at the first.
func List(rules []Rule, target string) (string, error) {
	if err := Validate(rules, target); err != nil {
		return "", err
	}
	loaded := map[string][]loadedRule{}
	for _, r := range rules {
		switch r.Kind {
		case Control:
			if r.Option == "-D" {
				deleteRules(loaded, r.Keys)
			}
		case Watch, Syscall:
			line, err := listLine(r, target)
			if err != nil {
				return "", err
			}
			lr := loadedRule{line, strings.Join(r.Keys, keySep)}
			if r.Prepend {
				loaded[r.List] = append([]loadedRule{lr}, loaded[r.List]...)
			} else {
				loaded[r.List] = append(loaded[r.List], lr)
			}
		}
	}
	var b strings.Builder
	for _, list := range kernelLists {
		for _, lr := range loaded[list] {
			b.WriteString(lr.line + "\n")
		}
	}
	if b.Len() == 0 {
		return "No rules\n", nil
	}
	return b.String(), nil
}

// deleteRules does -D: every rule, or with -k those whose keys contain the
// key (auditctl matches with strstr on the \x01-joined keys).
func deleteRules(loaded map[string][]loadedRule, keys []string) {
	if len(keys) == 0 {
		clear(loaded)
		return
	}
	for list, rules := range loaded {
		loaded[list] = slices.DeleteFunc(rules, func(lr loadedRule) bool {
			return strings.Contains(lr.keys, keys[0])
		})
	}
}

// listLine prints one rule as auditctl-listing.c's print_rule does with the
// rule the kernel stored: fields in order, keys last; arch and then the
// system calls first for rules it does not show as watches.
func listLine(r Rule, target string) (string, error) {
	fields := r.Fields
	if r.Kind == Watch {
		fields = []Field{{Name: "path", Op: "=", Value: r.Path}, {Name: "perm", Op: "=", Value: r.Perms}}
	}
	abi, msg := ruleABI(r, target)
	if msg != "" {
		return "", fmt.Errorf("%s:%d: %s", r.File, r.Line, msg)
	}
	nrs, all, problems := ruleSyscalls(r, abi)
	if len(problems) > 0 {
		return "", fmt.Errorf("%s:%d: %s", r.File, r.Line, problems[0])
	}
	if r.List != "exit" {
		all = true // is_watch only looks at the mask of exit rules
	}
	watch := all && len(fields) > 0
	perm := false
	for _, f := range fields {
		switch {
		case f.Cmp:
			watch = false
		case f.Name == "perm":
			perm = true
		case f.Name != "path" && f.Name != "dir":
			watch = false
		}
	}
	watch = watch && perm
	var b strings.Builder
	if !watch {
		fmt.Fprintf(&b, "-a %s,%s", r.Action, r.List)
		if f, ok := archField(r); ok {
			fmt.Fprintf(&b, " -F arch%s%s", f.Op, f.Value)
		}
		if r.List == "exit" {
			if all {
				b.WriteString(" -S all")
			} else {
				names := make([]string, len(nrs))
				for i, n := range nrs {
					names[i] = syscallName(abi, n)
				}
				b.WriteString(" -S " + strings.Join(names, ","))
			}
		}
	}
	for _, f := range fields {
		switch {
		case !f.Cmp && f.Name == "arch":
		case watch && (f.Name == "path" || f.Name == "dir"):
			// No leading space: print_rule writes "-w" where the field
			// falls, which is first for every rule auditctl builds from -w.
			b.WriteString("-w " + f.Value)
		case watch && f.Name == "perm":
			b.WriteString(" -p " + f.Value)
		case !f.Cmp && f.Name == "filetype":
			fmt.Fprintf(&b, " -F filetype%s%d", f.Op, fileTypes[f.Value])
		default:
			b.WriteString(" " + fieldString(f, raw))
		}
	}
	for _, k := range r.Keys {
		if watch {
			b.WriteString(" -k " + k)
		} else {
			b.WriteString(" -F key=" + k)
		}
	}
	return b.String(), nil
}
