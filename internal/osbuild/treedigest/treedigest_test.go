package treedigest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeTree writes a small tree with every kind of entry the digest reads.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "share/doc"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/tool"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "share/doc/README"), []byte("read me\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "share/empty"), nil, 0o644))
	must(os.Symlink("../bin/tool", filepath.Join(dir, "share/tool")))
	must(os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/tool-alias")))
	must(unix.Lsetxattr(filepath.Join(dir, "bin/tool"), "user.bulwark", []byte("a"), 0))
	return dir
}

func digest(t *testing.T, dir string) string {
	t.Helper()
	d, err := Digest(dir)
	if err != nil {
		t.Fatalf("Digest(%s): %v", dir, err)
	}
	return d
}

func TestDigestSameTreeSameDigest(t *testing.T) {
	a, b := makeTree(t), makeTree(t)
	if da, db := digest(t, a), digest(t, b); da != db {
		t.Errorf("two identical trees: %s != %s", da, db)
	}
}

// TestDigestChanges changes one thing a filesystem image stores at a time;
// each must change the digest, while timestamps must not.
func TestDigestChanges(t *testing.T) {
	tests := []struct {
		name    string
		change  func(dir string) error
		changes bool
	}{
		{"file contents", func(d string) error {
			return os.WriteFile(filepath.Join(d, "share/doc/README"), []byte("read me!\n"), 0o644)
		}, true},
		{"same size, other contents", func(d string) error {
			return os.WriteFile(filepath.Join(d, "share/doc/README"), []byte("read mE\n"), 0o644)
		}, true},
		{"permission bits", func(d string) error { return os.Chmod(filepath.Join(d, "share/doc/README"), 0o600) }, true},
		{"setuid bit", func(d string) error { return os.Chmod(filepath.Join(d, "bin/tool"), 0o755|os.ModeSetuid) }, true},
		{"directory mode", func(d string) error { return os.Chmod(filepath.Join(d, "share"), 0o700) }, true},
		{"xattr value", func(d string) error {
			return unix.Lsetxattr(filepath.Join(d, "bin/tool"), "user.bulwark", []byte("b"), 0)
		}, true},
		{"xattr added", func(d string) error {
			return unix.Lsetxattr(filepath.Join(d, "share/empty"), "user.other", []byte("x"), 0)
		}, true},
		{"symlink target", func(d string) error {
			p := filepath.Join(d, "share/tool")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("/usr/bin/tool", p)
		}, true},
		{"hard link made a copy", func(d string) error {
			p := filepath.Join(d, "bin/tool-alias")
			if err := os.Remove(p); err != nil {
				return err
			}
			b, err := os.ReadFile(filepath.Join(d, "bin/tool"))
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, b, 0o755); err != nil {
				return err
			}
			return unix.Lsetxattr(p, "user.bulwark", []byte("a"), 0)
		}, true},
		{"file renamed", func(d string) error {
			return os.Rename(filepath.Join(d, "share/empty"), filepath.Join(d, "share/empty2"))
		}, true},
		{"empty file added", func(d string) error { return os.WriteFile(filepath.Join(d, "new"), nil, 0o644) }, true},
		{"empty directory added", func(d string) error { return os.Mkdir(filepath.Join(d, "newdir"), 0o755) }, true},
		{"timestamps", func(d string) error {
			old := time.Unix(1, 0)
			for _, p := range []string{"bin/tool", "share/doc/README", "share", "."} {
				if err := os.Chtimes(filepath.Join(d, p), old, old); err != nil {
					return err
				}
			}
			return nil
		}, false},
	}
	base := digest(t, makeTree(t))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeTree(t)
			if err := tc.change(dir); err != nil {
				t.Fatal(err)
			}
			got := digest(t, dir)
			if changed := got != base; changed != tc.changes {
				t.Errorf("digest changed = %t; want %t", changed, tc.changes)
			}
		})
	}
}

func TestDigestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another owner needs root")
	}
	base := digest(t, makeTree(t))
	dir := makeTree(t)
	if err := os.Lchown(filepath.Join(dir, "share/doc/README"), 0, 1); err != nil {
		t.Fatal(err)
	}
	if digest(t, dir) == base {
		t.Error("changing a file's group did not change the digest")
	}
}

func TestDigestUnreadable(t *testing.T) {
	if _, err := Digest(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Digest of a missing directory: no error")
	}
}

func TestSplitNul(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\x00", []string{"a"}},
		{"security.selinux\x00user.x\x00", []string{"security.selinux", "user.x"}},
		{"a\x00\x00b", []string{"a", "b"}},
	}
	for _, tc := range tests {
		var got []string
		for _, b := range splitNul([]byte(tc.in)) {
			got = append(got, string(b))
		}
		if len(got) != len(tc.want) {
			t.Errorf("splitNul(%q) = %q; want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("splitNul(%q) = %q; want %q", tc.in, got, tc.want)
			}
		}
	}
}
