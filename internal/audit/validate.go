package audit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Validate checks parsed rules for a target architecture (x86_64 or
// aarch64), in the order auditctl loads them, and reports every problem:
// system call names the rule's ABI lacks (-F arch=b64 is amd64 on x86_64
// and arm64 on aarch64, b32 is x86 or arm, no arch is the native ABI),
// -F arch values of other machines, -F perm expansions auditctl 4.0 cannot
// do, a rule the kernel already holds (auditctl stops at "Rule exists"),
// and any change after -e 2 locked the configuration.
func Validate(rules []Rule, target string) error {
	if _, ok := targetABIs[target]; !ok {
		return fmt.Errorf("unknown target architecture %q (known: %s)", target, strings.Join(targetNames(), ", "))
	}
	var c errs
	var locked *Rule
	loaded := map[string]Rule{} // list and listing -> first rule
	for i, r := range rules {
		if locked != nil {
			c.add(r.File, r.Line, "comes after -e 2 at %s:%d; the kernel refuses every change once the configuration is locked", locked.File, locked.Line)
			continue
		}
		switch r.Kind {
		case Control:
			if r.Option == "-D" {
				for id, l := range loaded {
					if len(r.Keys) == 0 || strings.Contains(strings.Join(l.Keys, keySep), r.Keys[0]) {
						delete(loaded, id)
					}
				}
			}
			if r.Option == "--backlog_wait_time" {
				if n, _ := strconv.Atoi(r.Value); n > maxBacklogWait {
					c.add(r.File, r.Line, "--backlog_wait_time %s is above the kernel's limit %d (10 x 60 x HZ, HZ=250)", r.Value, maxBacklogWait)
				}
			}
			if r.Option == "-e" && r.Value == "2" {
				locked = &rules[i]
			}
			continue
		case Watch, Syscall:
		default:
			c.add(r.File, r.Line, "rule of unknown kind %v", r.Kind)
			continue
		}
		abi, msg := ruleABI(r, target)
		if msg != "" {
			c.add(r.File, r.Line, "%s", msg)
			continue
		}
		if r.List == "exit" {
			_, _, problems := ruleSyscalls(r, abi)
			for _, p := range problems {
				c.add(r.File, r.Line, "-S: %s (target %s)", p, target)
			}
			if len(problems) > 0 {
				continue
			}
		}
		line, err := listLine(r, target)
		if err != nil {
			c.add(r.File, r.Line, "%v", err)
			continue
		}
		id := r.List + "\x00" + line
		if first, dup := loaded[id]; dup {
			c.add(r.File, r.Line, "same rule as %s:%d; the kernel refuses it (Rule exists) and auditctl stops loading there", first.File, first.Line)
			continue
		}
		loaded[id] = r
	}
	return c.err()
}

// maxBacklogWait is the kernel's limit for --backlog_wait_time: ten times
// AUDIT_BACKLOG_WAIT_TIME (60 * HZ), with CONFIG_HZ=250 in Debian's amd64
// and arm64 kernels.
const maxBacklogWait = 10 * 60 * 250

func targetNames() []string {
	var n []string
	for t := range targetABIs {
		n = append(n, t)
	}
	sort.Strings(n)
	return n
}
