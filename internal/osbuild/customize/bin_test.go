package customize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMoveToBin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runcBin string // what usr/bin/runc is before: "", "link" or "file"
		wantErr string
	}{
		{"debian layout", "link", ""},
		{"no link in bin", "", ""},
		{"file in bin", "file", "is already a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"usr/bin", "usr/sbin"} {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			for _, n := range []string{"dockerd", "runc"} {
				os.WriteFile(filepath.Join(root, "usr/sbin", n), []byte(n), 0o755)
			}
			switch tc.runcBin {
			case "link":
				os.Symlink("../sbin/runc", filepath.Join(root, "usr/bin/runc"))
			case "file":
				os.WriteFile(filepath.Join(root, "usr/bin/runc"), []byte("other"), 0o755)
			}
			err := moveToBin(root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"dockerd", "runc"} {
				b, err := os.ReadFile(filepath.Join(root, "usr/bin", n))
				if err != nil || string(b) != n {
					t.Errorf("usr/bin/%s: got %q, %v; want the program", n, b, err)
				}
				fi, err := os.Lstat(filepath.Join(root, "usr/bin", n))
				if err != nil || !fi.Mode().IsRegular() {
					t.Errorf("usr/bin/%s is not a regular file: %v", n, err)
				}
				if l, err := os.Readlink(filepath.Join(root, "usr/sbin", n)); err != nil || l != "../bin/"+n {
					t.Errorf("usr/sbin/%s links to %q, %v; want ../bin/%s", n, l, err, n)
				}
			}
		})
	}
}
