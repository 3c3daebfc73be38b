package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestCheckFiles: Validate's and Check's problems come together, in file
// order and line order; without a root only Validate runs; a clean file
// gives the listing.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.rules", "-w /nope -k a\n-a always,exit -F arch=b64 -S open -k b\n")
	good := write("good.rules", "-w /etc/docker -p wa -k docker\n")
	root := fstest.MapFS{"etc/docker": &fstest.MapFile{Mode: os.ModeDir | 0o755}}

	_, err := CheckFiles("aarch64", root, bad)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("got %v, want two problems (Check's /nope, Validate's open on aarch64)", err)
	}
	if es[0].Line != 1 || es[1].Line != 2 {
		t.Errorf("problems on lines %d, %d; want 1 (Check) before 2 (Validate)", es[0].Line, es[1].Line)
	}
	if _, err := CheckFiles("aarch64", nil, bad); !errors.As(err, &es) || len(es) != 1 || es[0].Line != 2 {
		t.Errorf("without a root got %v, want only Validate's problem on line 2", err)
	}
	list, err := CheckFiles("x86_64", root, good)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "-w /etc/docker -p wa -k docker") {
		t.Errorf("listing %q lacks the watch", list)
	}
}
