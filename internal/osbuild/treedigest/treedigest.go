// Package treedigest hashes a directory tree by everything a filesystem
// image writer stores of it, so that an image built from one tree can be
// reused for any other tree with the same digest.
//
// What counts: each entry's path, type, permission bits (setuid, setgid
// and sticky included), owner, group, every extended attribute (SELinux
// labels, file capabilities), file contents, symlink targets, device
// numbers and which paths are hard links of one another (mkfs.erofs keeps
// hard links). What does not: timestamps, because the image writers are
// run with one fixed timestamp for every file (mkfs.erofs -T), and the
// order the directory was listed in. A writer that stores timestamps from
// the tree must not be keyed by this digest.
package treedigest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Version changes whenever the digest's encoding changes, so that an old
// digest never matches a new one by accident.
const Version = "treedigest-v1"

// entry is one path of the tree, described for the digest.
type entry struct {
	rel  string
	head string // type, mode, owner, xattrs, link target or device
	file string // absolute path of a regular file whose contents count
	sum  [sha256.Size]byte
}

// Digest returns the hex sha256 of the tree at dir. File contents are
// hashed by as many workers as there are CPUs; the result does not depend
// on their order.
func Digest(dir string) (string, error) {
	var entries []*entry
	links := map[[2]uint64]string{} // (dev, ino) → first path, for hard links
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		e, err := describe(p, rel, links)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading tree %s: %w", dir, err)
	}
	if err := hashFiles(entries); err != nil {
		return "", fmt.Errorf("reading tree %s: %w", dir, err)
	}
	h := sha256.New()
	io.WriteString(h, Version+"\n")
	for _, e := range entries {
		writeField(h, e.rel)
		writeField(h, e.head)
		if e.file != "" {
			h.Write(e.sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// describe reads one entry's metadata without following symlinks.
func describe(p, rel string, links map[[2]uint64]string) (*entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	e := &entry{rel: rel}
	head := fmt.Sprintf("mode=%o uid=%d gid=%d", st.Mode, st.Uid, st.Gid)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := links[key]; ok && st.Nlink > 1 {
			// The writer stores a second name for the same inode; the
			// contents were counted under the first.
			head += " link=" + strconv.Quote(first)
		} else {
			if st.Nlink > 1 {
				links[key] = rel
			}
			head += " size=" + strconv.FormatInt(st.Size, 10)
			e.file = p
		}
	case unix.S_IFLNK:
		t, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		head += " target=" + strconv.Quote(t)
	case unix.S_IFCHR, unix.S_IFBLK:
		head += fmt.Sprintf(" rdev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	x, err := xattrs(p)
	if err != nil {
		return nil, err
	}
	e.head = head + x
	return e, nil
}

// xattrs renders every extended attribute of p, sorted by name.
func xattrs(p string) (string, error) {
	names, err := listXattrs(p)
	if err != nil {
		return "", err
	}
	slices.Sort(names)
	out := ""
	for _, n := range names {
		v, err := getXattr(p, n)
		if err != nil {
			return "", err
		}
		out += " xattr:" + n + "=" + hex.EncodeToString(v)
	}
	return out, nil
}

func listXattrs(p string) ([]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, &fs.PathError{Op: "llistxattr", Path: p, Err: err}
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "llistxattr", Path: p, Err: err}
	}
	var names []string
	for _, b := range splitNul(buf[:n]) {
		names = append(names, string(b))
	}
	return names, nil
}

func getXattr(p, name string) ([]byte, error) {
	size, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return nil, &fs.PathError{Op: "lgetxattr " + name, Path: p, Err: err}
	}
	buf := make([]byte, size)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "lgetxattr " + name, Path: p, Err: err}
	}
	return buf[:n], nil
}

func splitNul(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := slices.Index(b, 0)
		if i < 0 {
			i = len(b)
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// hashFiles fills in the sha256 of every regular file's contents.
func hashFiles(entries []*entry) error {
	work := make(chan *entry)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			buf := make([]byte, 256*1024)
			for e := range work {
				if err := hashFile(h, buf, e); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, e := range entries {
		if e.file != "" {
			work <- e
		}
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

func hashFile(h hash.Hash, buf []byte, e *entry) error {
	f, err := os.Open(e.file)
	if err != nil {
		return err
	}
	defer f.Close()
	h.Reset()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return fmt.Errorf("reading %s: %w", e.file, err)
	}
	h.Sum(e.sum[:0])
	return nil
}

// writeField writes s length-prefixed, so that no two different lists of
// fields hash the same.
func writeField(w io.Writer, s string) {
	fmt.Fprintf(w, "%d:%s\n", len(s), s)
}
