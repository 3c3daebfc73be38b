package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree makes files (path → contents) with modes under root; a
// contents starting with "->" makes a symlink, a path ending in / a directory.
func writeTree(t *testing.T, root string, files map[string]string, modes map[string]os.FileMode) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(p, "/"):
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(c, "->"):
			if err := os.Symlink(strings.TrimPrefix(c, "->"), full); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if m, ok := modes[p]; ok {
			if err := os.Chmod(full, m); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestCompare(t *testing.T) {
	base := map[string]string{"etc/hostname": "node1\n", "etc/docker/daemon.json": "{}", "etc/link": "->hostname"}
	tests := []struct {
		name   string
		b      map[string]string
		modesB map[string]os.FileMode
		want   []string
	}{
		{"same trees", base, nil, nil},
		{"content", map[string]string{"etc/hostname": "node2\n", "etc/docker/daemon.json": "{}", "etc/link": "->hostname"}, nil,
			[]string{"/etc/hostname: content differ"}},
		{"mode", base, map[string]os.FileMode{"etc/docker/daemon.json": 0o600},
			[]string{"/etc/docker/daemon.json: mode differ (0644 vs 0600)"}},
		{"symlink target", map[string]string{"etc/hostname": "node1\n", "etc/docker/daemon.json": "{}", "etc/link": "->other"}, nil,
			[]string{"/etc/link: target differ (-> hostname vs -> other)"}},
		{"type", map[string]string{"etc/hostname": "node1\n", "etc/docker/daemon.json/": "", "etc/link": "->hostname"}, nil,
			[]string{"/etc/docker/daemon.json: type differ (file vs dir)"}},
		{"only in one", map[string]string{"etc/hostname": "node1\n", "etc/docker/daemon.json": "{}", "etc/link": "->hostname", "var/record": "x"}, nil,
			[]string{"/var: only-b", "/var/record: only-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			writeTree(t, a, base, nil)
			writeTree(t, b, tc.b, tc.modesB)
			ta, err := Snapshot(a, true, false)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := Snapshot(b, true, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range Compare(ta, tb, []string{fieldType, fieldMode, fieldOwner, fieldContent, fieldTarget}) {
				s := d.String()
				if d.Kind == "differs" && slices.Contains(d.Fields, fieldContent) {
					s = d.Path + ": content differ" // hashes are not worth spelling out here
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("differences = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestCompareMtimeAndXattrsOnlyWhenAsked(t *testing.T) {
	a := Tree{"/f": {Type: "file", Mode: 0o644, Size: 1, SHA256: "x", Mtime: 1}}
	b := Tree{"/f": {Type: "file", Mode: 0o644, Size: 1, SHA256: "x", Mtime: 2, Xattrs: map[string]string{"security.selinux": "system_u:object_r:etc_t:s0\x00"}}}
	if d := Compare(a, b, []string{fieldType, fieldMode, fieldContent}); len(d) != 0 {
		t.Errorf("without mtime and xattrs: %v; want no difference", d)
	}
	d := Compare(a, b, []string{fieldMtime, fieldXattrs})
	if len(d) != 1 || !slices.Equal(d[0].Fields, []string{fieldMtime, fieldXattrs}) {
		t.Fatalf("with mtime and xattrs: %v; want /f differing in both", d)
	}
	if !strings.Contains(d[0].B, `security.selinux="system_u:object_r:etc_t:s0"`) {
		t.Errorf("description %q does not show the label", d[0].B)
	}
}

func TestSnapshotSpecialBits(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"bin/su": "x", "tmp/": ""}, map[string]os.FileMode{"bin/su": 0o755 | os.ModeSetuid, "tmp/": 0o777 | os.ModeSticky})
	tr, err := Snapshot(root, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr["/bin/su"].describe([]string{fieldMode}); got != "4755" {
		t.Errorf("/bin/su mode = %s; want 4755", got)
	}
	if got := tr["/tmp"].describe([]string{fieldMode}); got != "1777" {
		t.Errorf("/tmp mode = %s; want 1777", got)
	}
	if _, ok := tr["/"]; !ok {
		t.Error("the root itself is not in the snapshot")
	}
}

func TestCopyTreeSkips(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	writeTree(t, src, map[string]string{"go.mod": "module x", ".git/HEAD": "ref", "out/big.raw": "x", "images/a.yaml": "a", "scripts/run.sh": "#!/bin/sh", "link": "->go.mod"},
		map[string]os.FileMode{"scripts/run.sh": 0o755})
	err := copyTree(src, dst, func(rel string) bool { return rel == ".git" || rel == "out" })
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := Snapshot(src, true, false)
	tb, _ := Snapshot(dst, true, false)
	var got []string
	for _, d := range Compare(ta, tb, []string{fieldType, fieldMode, fieldContent, fieldTarget}) {
		got = append(got, d.String())
	}
	want := []string{"/.git: only-a", "/.git/HEAD: only-a", "/out: only-a", "/out/big.raw: only-a"}
	if !slices.Equal(got, want) {
		t.Errorf("copy differs from the source in %q; want only the skipped paths %q", got, want)
	}
}

func TestTreeSize(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a": "12345", "d/b": "123", "l": "->a"}, nil)
	st, err := treeSize(root)
	if err != nil {
		t.Fatal(err)
	}
	if st.bytes != 8 || st.files != 5 { // /, a, d, d/b, l
		t.Errorf("treeSize = %d bytes, %d entries; want 8, 5", st.bytes, st.files)
	}
	w, err := warmTree(root)
	if err != nil || w != st {
		t.Errorf("warmTree = %+v, %v; want %+v", w, err, st)
	}
}
