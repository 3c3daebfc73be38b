package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("-e 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFilesFor(t *testing.T) {
	dir := writeFiles(t, "30-c.rules", "10-a.rules", "20-b.x86_64.rules", "20-b.aarch64.rules", "README.md", "notes.txt")
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"x86_64", []string{"10-a.rules", "20-b.x86_64.rules", "30-c.rules"}},
		{"aarch64", []string{"10-a.rules", "20-b.aarch64.rules", "30-c.rules"}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			files, err := FilesFor(dir, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				if filepath.Dir(f) != dir {
					t.Errorf("got %s, want a path in %s", f, dir)
				}
				got = append(got, filepath.Base(f))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilesForRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  []string
		target string
		want   string
	}{
		{"no order prefix", []string{"docker.rules"}, "x86_64", "docker.rules: rule file names are NN-name.rules"},
		{"unknown arch", []string{"40-x.riscv64.rules"}, "x86_64", `"riscv64" is not an architecture`},
		{"arch typo", []string{"40-x.x86-64.rules"}, "x86_64", "rule file names are"},
		{"unknown target", nil, "riscv64", "unknown target architecture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FilesFor(writeFiles(t, tc.files...), tc.target)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := FilesFor(filepath.Join(t.TempDir(), "none"), "x86_64"); err == nil {
		t.Error("got no error for a missing directory")
	}
}

func TestRenderGolden(t *testing.T) {
	for _, target := range []string{"x86_64", "aarch64"} {
		t.Run(target, func(t *testing.T) {
			files, err := FilesFor("testdata/render", target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Render(files)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "render."+target+".golden", string(got))

			// Neither the order given nor where the files are changes a byte.
			copyDir := t.TempDir()
			var copies []string
			for _, f := range slices.Backward(files) {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				c := filepath.Join(copyDir, filepath.Base(f))
				if err := os.WriteFile(c, src, 0o644); err != nil {
					t.Fatal(err)
				}
				copies = append(copies, c)
			}
			again, err := Render(copies)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Errorf("Render of copies in reverse order differs:\n%s", again)
			}
			rules, err := Parse("rendered", got)
			if err != nil {
				t.Fatalf("rendered output does not parse: %v", err)
			}
			if err := Validate(rules, target); err != nil {
				t.Fatalf("rendered output does not validate: %v", err)
			}
		})
	}
}

func TestRenderRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "10-bad.rules")
	if err := os.WriteFile(bad, []byte("-w /ok\n-w relative\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Render([]string{bad})
	if err == nil || !strings.Contains(err.Error(), bad+":2: -w:") {
		t.Errorf("got %v, want the file and line of the bad rule", err)
	}
	if _, err := Render([]string{filepath.Join(dir, "missing.rules")}); err == nil {
		t.Error("got no error for a missing file")
	}
}

func TestAugenrules(t *testing.T) {
	in := "-D\n-b 1\n-w /a\n-e 0\n-f 0\n-D -k x\n-D\n-w /a\n-b 2\n--backlog_wait_time 5\n-f 1\n-e 1\n-w /b\n"
	var got []string
	for _, r := range Augenrules(mustParse(t, in)) {
		got = append(got, fmt.Sprintf("%d %s", r.Line, r))
	}
	want := []string{"7 -D", "9 -b 2", "11 -f 1", "3 -w /a -p rwxa", "6 -D -k x", "8 -w /a -p rwxa",
		"10 --backlog_wait_time 5", "13 -w /b -p rwxa", "12 -e 1"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// The -D between the two watches moves to the top, so the second
	// watch duplicates the first.
	if err := Validate(Augenrules(mustParse(t, in)), "x86_64"); err == nil || !strings.Contains(err.Error(), "t.rules:8: same rule as t.rules:3") {
		t.Errorf("got %v, want the duplicate the merge creates", err)
	}
}

// TestLoad: a directory stands for its files for the target, a file for
// itself, in the order given, and the result is merged as augenrules does.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"10-a.rules":         "-w /a -p wa\n-e 1\n",
		"20-b.x86_64.rules":  "-D\n-w /b -p wa\n",
		"20-b.aarch64.rules": "-w /not-on-x86 -p wa\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := filepath.Join(t.TempDir(), "extra.rules")
	if err := os.WriteFile(extra, []byte("-w /c -p wa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, files, err := Load("x86_64", dir, extra)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"10-a.rules", "20-b.x86_64.rules", "extra.rules"}; !slices.Equal(names, want) {
		t.Errorf("files = %v, want %v", names, want)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.String())
	}
	if want := []string{"-D", "-w /a -p wa", "-w /b -p wa", "-w /c -p wa", "-e 1"}; !slices.Equal(got, want) {
		t.Errorf("rules = %q, want %q", got, want)
	}
	if _, _, err := Load("x86_64", filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing path succeeded")
	}
}
