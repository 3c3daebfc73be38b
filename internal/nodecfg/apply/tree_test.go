package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// sandbox is a temp directory holding a root to apply into and, beside
// it, an "outside" directory with a sentinel file that nothing may touch.
type sandbox struct {
	top, root, outside string
	before             string // the outside's snapshot
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	top := t.TempDir()
	s := &sandbox{top: top, root: filepath.Join(top, "root"), outside: filepath.Join(top, "outside")}
	os.MkdirAll(s.outside, 0o755)
	os.WriteFile(filepath.Join(s.outside, "sentinel"), []byte("untouched\n"), 0o644)
	seedRoot(s.root)
	s.before = snapshot(t, s.outside)
	return s
}

// seedRoot makes the accounts and units a Debian root has.
func seedRoot(root string) {
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"), 0o640)
	os.MkdirAll(filepath.Join(root, "root"), 0o700)
	os.MkdirAll(filepath.Join(root, "usr/lib/systemd/system"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/apt-daily.timer"), []byte("[Timer]\n[Install]\nWantedBy=timers.target\n"), 0o644)
}

// checkOutside fails t if anything beside the root changed.
func (s *sandbox) checkOutside(t testing.TB) {
	t.Helper()
	if got := snapshot(t, s.outside); got != s.before {
		t.Errorf("the outside directory changed:\n%s\nwas\n%s", got, s.before)
	}
	entries, _ := os.ReadDir(s.top)
	for _, e := range entries {
		if e.Name() != "root" && e.Name() != "outside" {
			t.Errorf("%s was written beside the root", e.Name())
		}
	}
}

// apply parses raw and applies it into the sandbox's root.
func (s *sandbox) apply(t testing.TB, raw []byte) error {
	t.Helper()
	c, _, err := Parse("test.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil {
		return err
	}
	_, err = Apply(context.Background(), c, Options{Root: s.root, Source: "test"})
	return err
}

// snapshot describes every entry under dir: type, mode (special bits
// included), owner, contents or link target.
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, p+" "+err.Error())
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %s %04o %d:%d", rel, kind(fi), st.Mode&0o7777, st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", b)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// config builds an Ignition config from JSON fragments: files given as
// path → contents (mode 0644, root's), and the rest verbatim.
type config struct {
	files   map[string]string
	storage []string // extra members of "storage", such as `"links":[...]`
	rest    []string // extra top-level members, such as `"passwd":{...}`
}

func (c config) raw() []byte {
	var fs []string
	keys := make([]string, 0, len(c.files))
	for p := range c.files {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		fs = append(fs, fmt.Sprintf(`{"path":%q,"overwrite":true,"contents":{"source":"data:,%s"}}`, p, url.PathEscape(c.files[p])))
	}
	storage := append([]string{`"files":[` + strings.Join(fs, ",") + `]`}, c.storage...)
	top := append([]string{`"ignition":{"version":"3.3.0"}`, `"storage":{` + strings.Join(storage, ",") + `}`}, c.rest...)
	return []byte("{" + strings.Join(top, ",") + "}")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
