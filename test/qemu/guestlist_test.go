package qemu_test

// This file carries no build tag so that `go test ./...` proves the guest
// listing on every run; the harness (qemu tag) uses it to refuse a registry
// entry whose guest test no longer exists, which a -test.run regex would
// otherwise skip without a word.

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// guestTests lists the top-level Test functions that the guest check binary
// built from dir for goarch holds: the files the build tags "guest" and
// goarch select, read from source, so that it works for a cross-compiled
// binary the host cannot run with -test.list.
func guestTests(dir, goarch string) ([]string, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "linux", goarch, false
	ctx.BuildTags = []string{"guest"}
	pkg, err := ctx.ImportDir(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("listing guest tests in %s for %s: %w", dir, goarch, err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, name := range append(pkg.TestGoFiles, pkg.XTestGoFiles...) {
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("listing guest tests: %w", err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && isTestFunc(fn) {
				names = append(names, fn.Name.Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// isTestFunc is go test's rule: TestXxx (Xxx not starting with a lower-case
// letter) taking one *testing.T.
func isTestFunc(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if !strings.HasPrefix(name, "Test") {
		return false
	}
	if rest := name[len("Test"):]; rest != "" && rest[0] >= 'a' && rest[0] <= 'z' {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// missingGuestTests names the registered guest tests absent from have, all
// of them in one error, or nil.
func missingGuestTests(test string, registered, have []string) error {
	if len(registered) == 0 {
		return fmt.Errorf("%s: registers no guest tests", test)
	}
	var errs []error
	for _, name := range registered {
		if !slices.Contains(have, name) {
			errs = append(errs, fmt.Errorf("%s: guest test %s does not exist in test/qemu/guest", test, name))
		}
	}
	return errors.Join(errs...)
}

// guestRunPattern is the -test.run pattern that selects exactly names.
func guestRunPattern(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

func TestGuestTestsListsTheGuestPackage(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			got, err := guestTests("guest", goarch)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"TestArchitecture", "TestNoSELinuxDenials", "TestVerityCorruption"} {
				if !slices.Contains(got, want) {
					t.Errorf("guestTests(guest, %s) = %v, want it to hold %s", goarch, got, want)
				}
			}
		})
	}
}

// TestGuestTestsFollowsBuildTags uses a package of its own so that the
// arch and tag rules are proved by files made to differ.
func TestGuestTestsFollowsBuildTags(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a_test.go":       "//go:build guest\n\npackage g\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) {}\nfunc TestlowerIsNotATest(t *testing.T) {}\nfunc TestHelper(x int) {}\nfunc helper(t *testing.T) {}\n",
		"b_arm64_test.go": "//go:build guest\n\npackage g\n\nimport \"testing\"\n\nfunc TestOnlyArm(t *testing.T) {}\n",
		"c_test.go":       "package g\n\nimport \"testing\"\n\nfunc TestUntagged(t *testing.T) {}\n",
		"d_test.go":       "//go:build !guest\n\npackage g\n\nimport \"testing\"\n\nfunc TestNotGuest(t *testing.T) {}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		goarch string
		want   []string
	}{
		{"amd64", []string{"TestA", "TestUntagged"}},
		{"arm64", []string{"TestA", "TestOnlyArm", "TestUntagged"}},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			got, err := guestTests(dir, tc.goarch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("guestTests = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMissingGuestTests(t *testing.T) {
	have := []string{"TestA", "TestB"}
	for _, tc := range []struct {
		name       string
		registered []string
		wantErr    string
	}{
		{"all present", []string{"TestA", "TestB"}, ""},
		{"renamed", []string{"TestA", "TestRenamed"}, "boot: guest test TestRenamed does not exist"},
		{"prefix is not enough", []string{"TestAB"}, "boot: guest test TestAB does not exist"},
		{"none", nil, "boot: registers no guest tests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := missingGuestTests("boot", tc.registered, have)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestGuestRunPatternSelectsExactly(t *testing.T) {
	re := regexp.MustCompile(guestRunPattern([]string{"TestA", "TestB"}))
	for name, want := range map[string]bool{"TestA": true, "TestB": true, "TestAB": false, "XTestA": false, "TestC": false} {
		if got := re.MatchString(name); got != want {
			t.Errorf("pattern %s matches %s = %v, want %v", re, name, got, want)
		}
	}
}
