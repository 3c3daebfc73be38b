package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// staged is what staging did for one op, so commit and rollback can
// finish or undo it.
type staged struct {
	parent int    // descriptor of the parent directory
	name   string // last element of the real path
	tmp    string // the new entry, beside its final name
	bak    string // a hard link to what was at the name before, if anything
	made   bool   // a directory this apply made
	// old mode and owner of an existing directory whose are set
	old     *unix.Stat_t
	applied bool // committed: in place
}

// txn stages a plan beside its final names, commits it with renames and
// undoes either. Directories are walked from the root one element at a
// time with O_NOFOLLOW: the plan resolved every link, so a link met now
// appeared since and is refused, and nothing reaches outside the root.
type txn struct {
	root int
	dirs map[string]int // real path → descriptor
	made []string       // directories made, in order
	euid int
}

// fault, when set by a test, is called before each step (phase "stage"
// or "commit", and the real path); an error it returns is that step's, as
// a full disk or a failing device would make it.
var fault func(phase, real string) error

func (t *txn) step(phase, real string) error {
	if fault != nil {
		return fault(phase, real)
	}
	return nil
}

func openTxn(r resolver) (*txn, error) {
	fd, err := unix.Open(r.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: r.root, Err: err}
	}
	return &txn{root: fd, dirs: map[string]int{"/": fd}, euid: os.Geteuid()}, nil
}

// dir returns a descriptor of the directory at real, making missing ones
// (root's, 0755) on the way.
func (t *txn) dir(real string) (int, error) {
	if fd, ok := t.dirs[real]; ok {
		return fd, nil
	}
	parent, err := t.dir(path.Dir(real))
	if err != nil {
		return -1, err
	}
	name := path.Base(real)
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := t.step("stage", real); err != nil {
			return -1, err
		}
		if err := unix.Mkdirat(parent, name, 0o700); err != nil {
			return -1, &os.PathError{Op: "mkdir", Path: real, Err: err}
		}
		t.made = append(t.made, real)
		if fd, err = unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
			err = unix.Fchmod(fd, 0o755) // whatever the umask
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: real, Err: err}
	}
	t.dirs[real] = fd
	return fd, nil
}

func (t *txn) madeHere(real string) bool {
	for _, m := range t.made {
		if m == real {
			return true
		}
	}
	return false
}

func tmpName(kind string) string {
	var b [6]byte
	rand.Read(b[:])
	return ".nodecfg-" + hex.EncodeToString(b[:]) + "." + kind
}

// stage prepares x without changing what any path on the node shows:
// files and links are made under temporary names beside their final ones
// (fsynced, owned, with their mode checked), and what they will replace
// is kept under a second name for rollback. Only directories are made.
func (t *txn) stage(ctx context.Context, x *op, files map[string]*op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.step("stage", x.real); err != nil {
		return err
	}
	parent, err := t.dir(path.Dir(x.real))
	if err != nil {
		return err
	}
	s := &x.st
	s.parent, s.name = parent, path.Base(x.real)
	var st unix.Stat_t
	exists := unix.Fstatat(parent, s.name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	switch x.kind {
	case opDir, opEnsureDir:
		switch {
		case !exists:
			if err := unix.Mkdirat(parent, s.name, 0o700); err != nil {
				return &os.PathError{Op: "mkdir", Path: x.real, Err: err}
			}
			t.made = append(t.made, x.real)
			s.made = true
			return t.setDir(x, x.mode, x.uid, x.gid)
		case t.madeHere(x.real):
			// Made on the way to an earlier entry (root's, 0755): a config
			// directory or a home takes it over; a directory that must
			// merely exist keeps what made it first.
			s.made = true
			if x.kind == opDir || x.owner != nil {
				return t.setDir(x, x.mode, x.uid, x.gid)
			}
		case x.kind == opDir:
			s.old = &st
		}
		return nil
	case opRemove:
		s.bak = tmpName("old")
		return nil
	}
	if exists {
		s.bak = tmpName("old")
		if err := unix.Linkat(parent, s.name, parent, s.bak, 0); err != nil {
			s.bak = ""
			return &os.PathError{Op: "keeping the old", Path: x.real, Err: err}
		}
	}
	s.tmp = tmpName("new")
	switch x.kind {
	case opFile:
		err = t.writeFile(x)
	case opSymlink:
		if err = unix.Symlinkat(x.target, parent, s.tmp); err == nil && t.euid == 0 {
			err = unix.Fchownat(parent, s.tmp, x.uid, x.gid, unix.AT_SYMLINK_NOFOLLOW)
		}
	case opHardlink:
		srcDir, srcName := -1, path.Base(x.target)
		if f := files[x.target]; f != nil {
			srcDir, srcName = f.st.parent, f.st.tmp // the same inode, renamed in place later
		} else if srcDir, err = t.dir(path.Dir(x.target)); err != nil {
			break
		}
		err = unix.Linkat(srcDir, srcName, parent, s.tmp, 0)
	}
	if err != nil {
		return &os.PathError{Op: "staging", Path: x.real, Err: err}
	}
	return nil
}

// writeFile writes x's contents under its temporary name: owner first,
// since chown clears setuid and setgid, then the mode, read back to be
// sure the kernel kept every bit asked for.
func (t *txn) writeFile(x *op) error {
	fd, err := unix.Openat(x.st.parent, x.st.tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		x.st.tmp = ""
		return err
	}
	f := os.NewFile(uintptr(fd), x.real)
	defer f.Close()
	if _, err := f.Write(x.data); err != nil {
		return err
	}
	if t.euid == 0 {
		if err := f.Chown(x.uid, x.gid); err != nil {
			return err
		}
	}
	if err := chmodExact(fd, x.mode); err != nil {
		return err
	}
	return f.Sync()
}

// setDir gives a directory this apply made (or one being committed) its
// owner and mode.
func (t *txn) setDir(x *op, mode Mode, uid, gid int) error {
	fd, err := unix.Openat(x.st.parent, x.st.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: x.real, Err: err}
	}
	defer unix.Close(fd)
	if t.euid == 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return &os.PathError{Op: "chown", Path: x.real, Err: err}
		}
	}
	if err := chmodExact(fd, mode); err != nil {
		return &os.PathError{Op: "chmod", Path: x.real, Err: err}
	}
	return nil
}

// chmodExact sets mode, special bits included, and fails if the kernel
// did not keep all of it (setgid for a group the caller is not in).
func chmodExact(fd int, mode Mode) error {
	if err := unix.Fchmod(fd, uint32(mode)); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if got := Mode(st.Mode & 0o7777); got != mode {
		return fmt.Errorf("mode %04o asked, the kernel kept %04o", mode, got)
	}
	return nil
}

// commit puts x in place: a rename for files and links (atomic for each),
// the mode and owner for an existing directory.
func (t *txn) commit(x *op) error {
	if err := t.step("commit", x.real); err != nil {
		return err
	}
	s := &x.st
	var err error
	switch {
	case x.kind == opDir && s.old != nil:
		s.applied = true // a chown that succeeded before a failing chmod is undone too
		err = t.setDir(x, x.mode, x.uid, x.gid)
	case x.kind <= opEnsureDir:
		return nil
	case x.kind == opRemove:
		err = unix.Renameat(s.parent, s.name, s.parent, s.bak)
	default:
		err = unix.Renameat(s.parent, s.tmp, s.parent, s.name)
	}
	if err != nil {
		return &os.PathError{Op: "committing", Path: x.real, Err: err}
	}
	s.applied = true
	return nil
}

// undo reverts a committed x.
func (t *txn) undo(x *op) error {
	s := &x.st
	if !s.applied {
		return nil
	}
	var err error
	switch {
	case x.kind == opDir && s.old != nil:
		err = t.setDir(x, Mode(s.old.Mode&0o7777), int(s.old.Uid), int(s.old.Gid))
	case x.kind == opRemove || s.bak != "":
		err = unix.Renameat(s.parent, s.bak, s.parent, s.name)
		s.bak = ""
	default:
		err = unix.Unlinkat(s.parent, s.name, 0)
	}
	s.applied = false
	if err != nil {
		return &os.PathError{Op: "restoring", Path: x.real, Err: err}
	}
	return nil
}

// discard removes what staging left: temporary entries, kept old ones
// (after a commit) and, when undoing, the directories this apply made.
func (t *txn) discard(ops []*op, dirs bool) error {
	var errs []error
	for _, x := range ops {
		s := &x.st
		if s.tmp != "" && !s.applied {
			if err := unix.Unlinkat(s.parent, s.tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &os.PathError{Op: "removing the staged", Path: x.real, Err: err})
			}
		}
		if s.bak != "" && (s.applied || x.kind != opRemove) {
			if err := unix.Unlinkat(s.parent, s.bak, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &os.PathError{Op: "removing the old", Path: x.real, Err: err})
			}
		}
		s.tmp, s.bak = "", ""
	}
	for i := len(t.made) - 1; dirs && i >= 0; i-- {
		d := t.made[i]
		parent := t.dirs[path.Dir(d)]
		if fd, ok := t.dirs[d]; ok {
			unix.Close(fd)
			delete(t.dirs, d)
		}
		if err := unix.Unlinkat(parent, path.Base(d), unix.AT_REMOVEDIR); err != nil {
			errs = append(errs, &os.PathError{Op: "removing the directory made", Path: d, Err: err})
		}
	}
	return errors.Join(errs...)
}

// sync makes every rename durable.
func (t *txn) sync() error {
	for d, fd := range t.dirs {
		if err := unix.Fsync(fd); err != nil {
			return &os.PathError{Op: "fsync", Path: d, Err: err}
		}
	}
	return nil
}

func (t *txn) close() {
	for _, fd := range t.dirs {
		unix.Close(fd)
	}
}
