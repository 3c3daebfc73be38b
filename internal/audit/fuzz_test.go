package audit

import (
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that every rule it accepts
// prints to a line it accepts again as the same rule, and that Validate,
// List and Check take whatever Parse returns.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/syntax.rules", "../../policies/audit/30-docker.rules", "../../policies/audit/40-root-exec.rules"} {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte("#bulwark:runtime\n-w /var/lib/docker -k docker\n-a always,exit -F arch=b64 -F perm=wa -F path=/x -k y\n"))
	f.Add([]byte("-a always,exit -F arch=b32 -S 17,pread -C uid!=auid -F a0&=0x10 -F exit=-EPERM\n"))
	f.Add([]byte("--backlog_wait_time=010\n-D -k a\n-e 2\n-w /a\\ b -p WAX\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 8<<10 {
			return // long inputs only slow the fuzzer down; lines are independent
		}
		rules, _ := Parse("f", src)
		for _, r := range rules {
			line := r.String()
			again, err := Parse("f", []byte(line))
			if err != nil || len(again) != 1 {
				t.Fatalf("rule from line %d prints as %q, which does not read back: %v", r.Line, line, err)
			}
			if got := again[0].String(); got != line {
				t.Fatalf("%q reads back as %q", line, got)
			}
		}
		for _, target := range []string{"x86_64", "aarch64"} {
			if Validate(rules, target) == nil {
				if _, err := List(rules, target); err != nil {
					t.Fatalf("Validate accepts what List refuses: %v", err)
				}
			}
		}
		_ = Check(rules, image)
	})
}
