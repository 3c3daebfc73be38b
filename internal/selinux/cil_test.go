package selinux

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
		n                  int
	}{
		{"ok", "; comment\n(type foo_t)\n(allow foo_t self (file (read open)))\n(filecon \"/usr/bin/x\" file (system_u object_r foo_t ((s0) (s0))))\n", "", 3},
		{"unknown statement", "(alow a b (file (read)))", "t.cil:1: unknown CIL statement \"alow\"", 0},
		{"unclosed", "(type a)\n(allow a b\n  (file (read)))\n(type b", "t.cil:4: '(' is never closed", 0},
		{"extra close", "(type a))", "t.cil:1: unbalanced ')'", 0},
		{"atom outside", "type a", "outside a statement", 0},
		{"unterminated string", "(filecon \"/x file ())", "t.cil:1: unterminated string", 0},
		{"empty", "()", "empty statement", 0},
		{"paren in string", "(filecon \"/a(b)\" file ())", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Parse("t.cil", tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != tc.n {
				t.Errorf("%d statements, want %d", len(st), tc.n)
			}
		})
	}
}

// TestRepoModules checks every module in policies/selinux/.
func TestRepoModules(t *testing.T) {
	mods, err := filepath.Glob(filepath.Join("..", "..", "policies", "selinux", "*.cil"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no modules in policies/selinux")
	}
	for _, m := range mods {
		if _, err := ParseFile(m); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("(type a)(allow a b (file (read)))")
	f.Add("(filecon \"/x\" file (u r t ((s0) (s0))))")
	f.Fuzz(func(t *testing.T, src string) {
		Parse("f.cil", src)
	})
}
