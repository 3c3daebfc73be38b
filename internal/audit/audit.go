// Package audit reads Linux audit rule files in auditctl syntax (what
// augenrules concatenates from /etc/audit/rules.d into /etc/audit/audit.rules
// at boot), checks them the way auditctl 4.0 and the kernel will when the
// node loads them, and prints them the way `auditctl -l` lists them.
//
// The point is to fail the image build, not the node: auditctl stops loading
// a rules file at its first bad line, so one typo in a syscall name or one
// watch whose parent directory is missing leaves a node that boots with half
// its audit rules and without the final -e. Parse reports every syntax
// problem, Validate every problem that depends on the target architecture
// (syscall names, ABIs, duplicate rules), and Check every watch whose path
// the image tree cannot satisfy, each as "file:line: message".
//
// The reference for the syntax and the listing format is audit-userspace
// 4.0.2 (Debian trixie's auditd 1:4.0.2): src/auditctl.c, src/auditctl-listing.c
// and lib/libaudit.c.
package audit

import (
	"fmt"
	"github.com/bulwark/bulwark/internal/fielderr"
)

// Kind says what a rules-file line does.
type Kind int

const (
	// Control lines configure the audit system: -D, -b, -f, -e, -r,
	// --backlog_wait_time, --loginuid-immutable, and -i and -c, which tell
	// auditctl how to treat errors in the rest of the file.
	Control Kind = iota + 1
	// Watch lines are -w PATH [-p PERMS] [-k KEY].
	Watch
	// Syscall lines are -a or -A LIST,ACTION rules with -S, -F, -C and -k,
	// on any filter list (exit, task, user, exclude, filesystem), not only
	// rules that name system calls.
	Syscall
)

func (k Kind) String() string {
	switch k {
	case Control:
		return "control"
	case Watch:
		return "watch"
	case Syscall:
		return "syscall"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Rule is one non-comment line of a rules file, with its values already in
// the canonical form auditctl -l prints (permissions in rwxa order, arch as
// b64 or b32, uids as signed decimals and so on).
type Rule struct {
	File string // the file as the caller named it
	Line int    // 1-based
	Kind Kind

	// Control lines: the option as written in canonical spelling ("-b",
	// "--backlog_wait_time") and its canonical value ("" for flags).
	Option string
	Value  string

	// Watches. Path has trailing slashes removed, as auditctl does.
	Path  string
	Perms string // a subset of "rwxa" in that order; "rwxa" when -p is absent

	// Syscall rules.
	Action  string // always or never
	List    string // exit, task, user, exclude or filesystem
	Prepend bool   // -A: inserted at the head of its list instead of appended
	// Syscalls are the -S names in the order written, without duplicates;
	// -S all anywhere makes it just "all". Nil when the rule has no -S: on
	// the exit list auditctl then loads the rule for every system call.
	Syscalls []string
	Fields   []Field // -F and -C in the order written, keys excluded

	// Keys from -k and -F key=, in order. -D may carry one too (-D -k KEY
	// deletes the rules with that key).
	Keys []string

	// Runtime is set by a "#bulwark:runtime" comment on the line before a
	// watch: the path does not exist in the image because a service creates
	// it after boot, so Check only requires its parent directory.
	Runtime bool
}

// Field is one -F NAME OP VALUE or -C NAME OP NAME condition.
type Field struct {
	Name  string // canonical field name: "auid" for loginuid
	Op    string // =, !=, <, >, <=, >=, & or &=
	Value string // canonical value, or the second field name of a comparison
	Raw   string // the value as written (for arch: x86_64, b64, 0xc000003e ...)
	Cmp   bool   // -C: an inter-field comparison
}

// Error is one problem in one rules file at one line (no path: a rules
// file has lines, not a tree), printed "file:line: message".
type Error = fielderr.Error

// Errors are all the problems found, in file and line order, one a line.
type Errors = fielderr.Errors

// errs collects problems so that every check reports all of them at once.
type errs struct{ list Errors }

func (c *errs) add(file string, line int, format string, args ...any) {
	c.list = append(c.list, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) count() int { return len(c.list) }

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list
}
