// Package labels reads the SELinux labels of files in a built image offline,
// with no root, loop device or boot. The build labels every file with the
// image's own policy and the labels travel as security.selinux xattrs in
// the USR-A EROFS and the ROOT ext4, so a policy author can check them here
// instead of booting a VM and running ls -Z. Paths are the booted node's:
// ROOT at / with USR-A mounted on /usr, and symlinks resolve across that
// mount as the kernel would resolve them.
package labels

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/osbuild/diskimage"
	"github.com/bulwark/bulwark/internal/selinux"
)

// xattrName is where a file's SELinux label is stored; internal/selinux
// owns the name.
const xattrName = selinux.XattrName

// ErrNoLabel marks a file that exists but carries no security.selinux.
var ErrNoLabel = errors.New("no SELinux label")

// maxSymlinks is the kernel's limit on links followed in one lookup
// (MAXSYMLINKS).
const maxSymlinks = 40

// View is a read-only view of a built image's file tree, as the booted
// node sees it.
type View struct {
	disk *diskimage.Disk
	root tree // ROOT, mounted at /
	usr  tree // USR-A, mounted at /usr
}

// Open opens the file tree of the raw disk image at p.
func Open(p string) (*View, error) {
	d, err := diskimage.Open(p)
	if err != nil {
		return nil, err
	}
	v, err := open(d)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

func open(d *diskimage.Disk) (*View, error) {
	usrData, err := d.Section(layout.USRA)
	if err != nil {
		return nil, err
	}
	rootPart, err := d.Partition(layout.Root)
	if err != nil {
		return nil, err
	}
	usr, err := openErofs(usrData)
	if err != nil {
		return nil, fmt.Errorf("reading %s as EROFS: %w", layout.USRA, err)
	}
	root, err := openExt4(d.Storage(), rootPart.Start, rootPart.Size)
	if err != nil {
		return nil, fmt.Errorf("reading %s as ext4: %w", layout.Root, err)
	}
	return &View{disk: d, root: root, usr: usr}, nil
}

// Close releases the image file.
func (img *View) Close() error {
	if img.disk == nil {
		return nil
	}
	return img.disk.Close()
}

// File is one looked-up file.
type File struct {
	Path  string      // absolute, every symlink followed but a final one
	Mode  fs.FileMode // type and permissions
	Label string      // security.selinux without its trailing NUL; "" when none
}

// Class is the SELinux object class of f: file, dir, lnk_file, ...
func (f *File) Class() string {
	switch m := f.Mode; {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "lnk_file"
	case m&fs.ModeNamedPipe != 0:
		return "fifo_file"
	case m&fs.ModeSocket != 0:
		return "sock_file"
	case m&fs.ModeCharDevice != 0:
		return "chr_file"
	case m&fs.ModeDevice != 0:
		return "blk_file"
	}
	return "file"
}

// Lookup finds the absolute path p as the booted node would and returns
// the file with its label. Like lstat, it does not follow a final symlink:
// a link has a label of its own. A file without a label is returned with
// an error wrapping ErrNoLabel; a missing one gives fs.ErrNotExist.
func (img *View) Lookup(p string) (*File, error) {
	f, n, err := img.resolve(p, false)
	if err != nil {
		return nil, err
	}
	if n.label == nil {
		return f, fmt.Errorf("%s: %w", p, ErrNoLabel)
	}
	f.Label = trimLabel(n.label)
	if f.Label == "" {
		return f, fmt.Errorf("%s: %w (security.selinux is empty)", p, ErrNoLabel)
	}
	return f, nil
}

// ReadFile reads the file at the absolute path p, following symlinks.
func (img *View) ReadFile(p string) ([]byte, error) {
	f, n, err := img.resolve(p, true)
	if err != nil {
		return nil, err
	}
	if !n.mode.IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", f.Path)
	}
	t, rel := img.tree(f.Path)
	b, err := t.readFile(rel)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	return b, nil
}

// tree returns the filesystem that holds the symlink-free absolute path p
// and p relative to its root.
func (img *View) tree(p string) (tree, string) {
	rel := strings.TrimPrefix(p, "/")
	if rel == "usr" {
		return img.usr, ""
	}
	if r, ok := strings.CutPrefix(rel, "usr/"); ok {
		return img.usr, r
	}
	return img.root, rel
}

func (img *View) lstat(p string) (*node, error) {
	t, rel := img.tree(p)
	return t.lstat(rel)
}

// resolve walks p one element at a time, as the kernel's path walk does:
// "." and ".." apply to the path resolved so far, so that "link/.." leaves
// the link's target rather than the link's directory, and a symlink's
// target replaces it in the rest of the walk. A final symlink is followed
// only when follow is set or p ends in a slash.
func (img *View) resolve(p string, follow bool) (*File, *node, error) {
	if !path.IsAbs(p) {
		return nil, nil, fmt.Errorf("%s: %w: not an absolute path", p, fs.ErrInvalid)
	}
	todo := strings.Split(p, "/")
	var done []string // resolved elements: no symlinks, no "." or ".."
	links := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := "/" + strings.Join(append(done, elem), "/")
		n, err := img.lstat(cur)
		if err != nil {
			return nil, nil, pathError(p, cur, err)
		}
		last := len(todo) == 0
		if n.mode&fs.ModeSymlink != 0 && (follow || !last) {
			if links++; links > maxSymlinks {
				return nil, nil, pathError(p, cur, syscall.ELOOP)
			}
			if n.target == "" {
				return nil, nil, pathError(p, cur, errors.New("symlink with an empty target"))
			}
			if path.IsAbs(n.target) {
				done = nil
			}
			todo = append(strings.Split(n.target, "/"), todo...)
			continue
		}
		if !last && !n.mode.IsDir() {
			// Only "." and "" may follow a non-directory, and not even
			// those: "file/" and "file/." fail in the kernel too.
			return nil, nil, pathError(p, cur, syscall.ENOTDIR)
		}
		done = append(done, elem)
	}
	resolved := "/" + strings.Join(done, "/")
	n, err := img.lstat(resolved)
	if err != nil {
		return nil, nil, pathError(p, resolved, err)
	}
	return &File{Path: resolved, Mode: n.mode}, n, nil
}

// pathError names p, and the element where the walk failed when that is
// somewhere else.
func pathError(p, at string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		err = syscall.ENOENT // the readers' own messages name paths relative to their filesystem
	}
	if at != p {
		return fmt.Errorf("%s: at %s: %w", p, at, err)
	}
	return fmt.Errorf("%s: %w", p, err)
}
