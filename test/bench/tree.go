package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Entry is what a tree comparison knows of one path.
type Entry struct {
	Type   string            `json:"type"` // file, dir, symlink, other
	Mode   fs.FileMode       `json:"mode"` // permission bits with setuid, setgid, sticky
	UID    uint32            `json:"uid"`
	GID    uint32            `json:"gid"`
	Size   int64             `json:"size"`
	SHA256 string            `json:"sha256,omitempty"`
	Target string            `json:"target,omitempty"`
	Mtime  int64             `json:"mtimeNs"`
	Xattrs map[string]string `json:"xattrs,omitempty"`
}

// Tree maps paths ("/etc/hostname", "/" for the root) to entries.
type Tree map[string]Entry

// Fields a comparison can look at.
const (
	fieldType    = "type"
	fieldMode    = "mode"
	fieldOwner   = "owner"
	fieldContent = "content"
	fieldTarget  = "target"
	fieldMtime   = "mtime"
	fieldXattrs  = "xattrs"
)

// Snapshot reads the tree under root. Contents are hashed only when
// hash is set; xattrs are read only when xattrs is set.
func Snapshot(root string, hash, xattrs bool) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key := "/" + filepath.ToSlash(rel)
		if rel == "." {
			key = "/"
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := Entry{Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Mtime: fi.ModTime().UnixNano()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = st.Uid, st.Gid
		}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			if hash {
				if e.SHA256, err = fileSHA256(p); err != nil {
					return err
				}
			}
		case fi.IsDir():
			e.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Type = "other"
		}
		if xattrs {
			if e.Xattrs, err = readXattrs(p); err != nil {
				return fmt.Errorf("xattrs of %s: %w", p, err)
			}
		}
		t[key] = e
		return nil
	})
	return t, err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readXattrs returns a path's extended attributes, values as raw bytes in
// a string (SELinux labels are text, capabilities are not).
func readXattrs(p string) (map[string]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err == unix.ENOTSUP {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return nil, err
		}
		out[name] = string(val[:m])
	}
	return out, nil
}

// Difference is one path that is not the same in trees A and B.
type Difference struct {
	Path   string   `json:"path"`
	Kind   string   `json:"kind"`             // only-a, only-b, differs
	Fields []string `json:"fields,omitempty"` // for differs
	A      string   `json:"a,omitempty"`
	B      string   `json:"b,omitempty"`
}

func (d Difference) String() string {
	if d.Kind != "differs" {
		return d.Path + ": " + d.Kind
	}
	return fmt.Sprintf("%s: %s differ (%s vs %s)", d.Path, strings.Join(d.Fields, ", "), d.A, d.B)
}

// Compare lists the differences between a and b in the given fields, in
// path order.
func Compare(a, b Tree, fields []string) []Difference {
	var out []Difference
	for _, p := range sortedKeys(a) {
		ea := a[p]
		eb, ok := b[p]
		if !ok {
			out = append(out, Difference{Path: p, Kind: "only-a", A: ea.describe(fields)})
			continue
		}
		if f := differingFields(ea, eb, fields); len(f) > 0 {
			out = append(out, Difference{Path: p, Kind: "differs", Fields: f, A: ea.describe(f), B: eb.describe(f)})
		}
	}
	for _, p := range sortedKeys(b) {
		if _, ok := a[p]; !ok {
			out = append(out, Difference{Path: p, Kind: "only-b", B: b[p].describe(fields)})
		}
	}
	slices.SortStableFunc(out, func(x, y Difference) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// differingFields lists the fields of a and b that differ; entries of
// different types differ in type only, the rest being incomparable.
func differingFields(a, b Entry, fields []string) []string {
	if a.Type != b.Type && slices.Contains(fields, fieldType) {
		return []string{fieldType}
	}
	var out []string
	for _, f := range fields {
		same := true
		switch f {
		case fieldType:
			same = a.Type == b.Type
		case fieldMode:
			same = a.Mode == b.Mode
		case fieldOwner:
			same = a.UID == b.UID && a.GID == b.GID
		case fieldContent:
			same = a.Type != "file" || b.Type != "file" || (a.Size == b.Size && a.SHA256 == b.SHA256)
		case fieldTarget:
			same = a.Target == b.Target
		case fieldMtime:
			same = a.Type == "symlink" || a.Mtime == b.Mtime
		case fieldXattrs:
			same = xattrsEqual(a.Xattrs, b.Xattrs)
		}
		if !same {
			out = append(out, f)
		}
	}
	return out
}

func xattrsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// describe prints the entry's values of fields, briefly.
func (e Entry) describe(fields []string) string {
	var parts []string
	for _, f := range fields {
		switch f {
		case fieldType:
			parts = append(parts, e.Type)
		case fieldMode:
			parts = append(parts, fmt.Sprintf("%04o", uint32(e.Mode.Perm())|specialBits(e.Mode)))
		case fieldOwner:
			parts = append(parts, fmt.Sprintf("%d:%d", e.UID, e.GID))
		case fieldContent:
			if e.Type == "file" {
				parts = append(parts, fmt.Sprintf("%d bytes sha256:%.12s", e.Size, e.SHA256))
			}
		case fieldTarget:
			if e.Target != "" {
				parts = append(parts, "-> "+e.Target)
			}
		case fieldMtime:
			parts = append(parts, fmt.Sprintf("mtime %d", e.Mtime))
		case fieldXattrs:
			var kv []string
			for _, k := range sortedKeys(e.Xattrs) {
				kv = append(kv, fmt.Sprintf("%s=%q", k, strings.TrimRight(e.Xattrs[k], "\x00")))
			}
			parts = append(parts, "{"+strings.Join(kv, " ")+"}")
		}
	}
	return strings.Join(parts, " ")
}

func specialBits(m fs.FileMode) uint32 {
	var s uint32
	if m&fs.ModeSetuid != 0 {
		s |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		s |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		s |= 0o1000
	}
	return s
}

// treeStats is the size of a tree: what a filesystem writer has to store.
type treeStats struct {
	bytes int64 // apparent size of regular files
	files int   // every entry
}

func treeSize(root string) (treeStats, error) {
	var s treeStats
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		s.files++
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			s.bytes += fi.Size()
		}
		return nil
	})
	return s, err
}

// copyTree copies src to dst: directories, regular files and symlinks,
// with their permission bits; skip(rel) leaves a path and what is under it out.
func copyTree(src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			return copyFile(p, target, fi.Mode().Perm())
		}
		return nil // sockets, devices: not part of a source tree
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
