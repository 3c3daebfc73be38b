package setid

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (path → mode) under a temp root, directories for
// modes with fs.ModeDir.
func tree(t *testing.T, files map[string]fs.FileMode) string {
	t.Helper()
	root := t.TempDir()
	for p, m := range files {
		full := filepath.Join(root, p)
		if m.IsDir() {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(full, m&^fs.ModeDir); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestStrip(t *testing.T) {
	root := tree(t, map[string]fs.FileMode{
		"usr/bin/su":            0o755 | fs.ModeSetuid,
		"usr/bin/ssh-agent":     0o755 | fs.ModeSetgid,
		"usr/bin/both":          0o750 | fs.ModeSetuid | fs.ModeSetgid,
		"usr/bin/plain":         0o755,
		"usr/sbin/unix_chkpwd":  0o755 | fs.ModeSetgid,
		"var/log/journal":       fs.ModeDir | 0o755 | fs.ModeSetgid,
		"usr/share/sticky-file": 0o644 | fs.ModeSticky,
	})
	dropped, err := Strip(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []File{{"/usr/bin/both", fs.ModeSetuid | fs.ModeSetgid}, {"/usr/bin/ssh-agent", fs.ModeSetgid}, {"/usr/bin/su", fs.ModeSetuid}}
	if len(dropped) != len(want) {
		t.Fatalf("dropped %v, want %v", dropped, want)
	}
	for i := range want {
		if dropped[i] != want[i] {
			t.Errorf("dropped[%d] = %v, want %v", i, dropped[i], want[i])
		}
	}
	for p, m := range map[string]fs.FileMode{
		"usr/bin/su": 0o755, "usr/bin/both": 0o750, "usr/bin/ssh-agent": 0o755, "usr/bin/plain": 0o755,
		"usr/sbin/unix_chkpwd":  0o755 | fs.ModeSetgid,
		"var/log/journal":       fs.ModeDir | 0o755 | fs.ModeSetgid, // a set-id directory grants nothing
		"usr/share/sticky-file": 0o644 | fs.ModeSticky,
	} {
		if got := mode(t, filepath.Join(root, p)); got != m {
			t.Errorf("%s: mode %v, want %v", p, got, m)
		}
	}
	found, err := Find(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !Allowed(found[0]) || len(Unlisted(found)) != 0 {
		t.Errorf("after Strip Find = %v, want only the kept unix_chkpwd", found)
	}
}

func TestStripChecksTheList(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]fs.FileMode
		want  string
	}{
		{"kept program missing", map[string]fs.FileMode{"usr/bin/su": 0o755}, "/usr/sbin/unix_chkpwd is on the set-id list but not in the image"},
		{"kept program with the wrong bit", map[string]fs.FileMode{"usr/sbin/unix_chkpwd": 0o755 | fs.ModeSetuid}, "on the set-id list as setgid but the image has mode"},
		{"kept program without its bit", map[string]fs.FileMode{"usr/sbin/unix_chkpwd": 0o755}, "on the set-id list as setgid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Strip(tree(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFindSkip(t *testing.T) {
	root := tree(t, map[string]fs.FileMode{
		"usr/bin/su":                           0o755 | fs.ModeSetuid,
		"var/lib/docker/overlay2/x/bin/ping":   0o755 | fs.ModeSetuid,
		"var/lib/dockerish/bin/not-skipped-su": 0o755 | fs.ModeSetuid,
	})
	found, err := Find(root, func(p string, d fs.DirEntry) bool { return p == "/var/lib/docker" })
	if err != nil {
		t.Fatal(err)
	}
	want := []File{{"/usr/bin/su", fs.ModeSetuid}, {"/var/lib/dockerish/bin/not-skipped-su", fs.ModeSetuid}}
	if len(found) != 2 || found[0] != want[0] || found[1] != want[1] {
		t.Errorf("Find = %v, want %v", found, want)
	}
	if got := Unlisted(found); len(got) != 2 {
		t.Errorf("Unlisted = %v, want both", got)
	}
}

func TestDBusActivation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // "" for no error
	}{
		{"all through systemd", map[string]string{
			"org.freedesktop.login1.service":   "[D-BUS Service]\nName=org.freedesktop.login1\nExec=/bin/false\nUser=root\nSystemdService=dbus-org.freedesktop.login1.service\n",
			"org.freedesktop.systemd1.service": "[D-BUS Service]\nName=org.freedesktop.systemd1\nExec=/bin/false\nUser=root\n",
		}, ""},
		{"no services", map[string]string{}, ""},
		{"one through the helper", map[string]string{
			"org.example.Old.service": "[D-BUS Service]\nName=org.example.Old\nExec=/usr/libexec/old\nUser=root\n",
		}, "org.example.Old.service: no SystemdService="},
		{"empty SystemdService", map[string]string{
			"org.example.Empty.service": "[D-BUS Service]\nName=org.example.Empty\nSystemdService=\n",
		}, "org.example.Empty.service: no SystemdService="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, SystemServices)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for n, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := DBusActivation(root)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestREADMEListsKept keeps the README's table of kept set-id programs
// true: each one on the list is there.
func TestREADMEListsKept(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Setuid and setgid programs")
	if !ok {
		t.Fatal("README.md has no \"### Setuid and setgid programs\" section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	for _, p := range Keep {
		if !strings.Contains(section, "`"+p.Path+"`") {
			t.Errorf("README's setuid/setgid section does not list %s", p.Path)
		}
	}
}
