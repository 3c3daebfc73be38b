package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/nodepaths"
)

type opKind int

const (
	// opDir is a config directory: made if missing, else its mode and
	// owner are set.
	opDir opKind = iota
	// opEnsureDir is a directory that must exist: made with the mode and
	// owner given if missing, else left as it is (after the plan checked
	// its owner, for homes).
	opEnsureDir
	opFile
	opSymlink
	opHardlink
	// opRemove removes the link at the path (disabling a unit).
	opRemove
)

// op is one write of an apply, planned against the root.
type op struct {
	kind  opKind
	where string // the config entry it comes from, as a JSON path
	path  string // on the node, as the config names it
	real  string // in the root, parents resolved (resolver.real)
	data  []byte
	mode  Mode
	uid   int
	gid   int
	// target is a symlink's text, or the real path of a hard link's target.
	target string
	// owner, for an opEnsureDir that exists, is the uid it must have.
	owner *int
	// relabel: give it its SELinux label after the apply.
	relabel bool

	st staged // filled while staging
}

// plan is every write of an apply, in order, and the record last.
type plan struct {
	ops    []*op
	record *op
}

// makePlan resolves every path of c in the root and checks what is there:
// nothing is written. Its errors name the config entry at fault.
func makePlan(c *Config, o Options, r resolver, rec []byte) (*plan, error) {
	errs := &fielderr.List{File: o.Source}
	p := &plan{}
	add := func(x *op) *op {
		if x.real == "" {
			real, err := r.real(x.path)
			if err != nil {
				errs.Add(0, x.where, "%v", err)
				return nil
			}
			x.real = real
		}
		p.ops = append(p.ops, x)
		return x
	}
	for _, d := range c.Dirs {
		add(&op{kind: opDir, where: d.Where, path: d.Path, mode: d.Mode, uid: d.UID, gid: d.GID, relabel: true})
	}
	for _, f := range c.Files {
		add(&op{kind: opFile, where: f.Where, path: f.Path, data: f.Data, mode: f.Mode, uid: f.UID, gid: f.GID, relabel: true})
	}
	for _, l := range c.Links {
		x := &op{kind: opSymlink, where: l.Where, path: l.Path, target: l.Target, relabel: true}
		if l.Hard {
			t, err := r.real(l.Target)
			if err != nil {
				errs.Add(0, l.Where+".target", "%v", err)
				continue
			}
			x.kind, x.target = opHardlink, t
		}
		add(x)
	}
	planAccounts(c, r, add, errs)
	planUnits(c, r, add, errs)
	if real, err := r.real(RecordPath); err != nil {
		errs.Add(0, "$", "%v", err)
	} else {
		p.record = &op{kind: opFile, where: "(record)", path: RecordPath, real: real, data: rec, mode: 0o644}
	}
	if errs.Len() == 0 {
		p.check(r, errs)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	// Directories first, shallow before deep, so each is made with its
	// own mode before what goes in it; then everything else in order.
	sort.SliceStable(p.ops, func(i, j int) bool {
		di, dj := p.ops[i].kind <= opEnsureDir, p.ops[j].kind <= opEnsureDir
		if di != dj {
			return di
		}
		return di && strings.Count(p.ops[i].real, "/") < strings.Count(p.ops[j].real, "/")
	})
	return p, nil
}

// check refuses what the root makes impossible or unsafe, on real paths:
// two entries landing on one path, an entry inside a link or file another
// makes, an entry whose resolved path reaches what the docker guard
// refuses, a directory in the way of a file or the reverse, and a trusted
// root-owned file below a directory others may write.
func (p *plan) check(r resolver, errs *fielderr.List) {
	all := append(append([]*op{}, p.ops...), p.record)
	byReal := map[string]*op{}
	for _, x := range all {
		y, dup := byReal[x.real]
		switch {
		case !dup:
			byReal[x.real] = x
		case x.kind == opEnsureDir && y.kind <= opEnsureDir && x.owner == nil:
			// A directory both need: the first says how it is made.
		case x.kind == opEnsureDir && y.kind == opEnsureDir && y.owner == nil:
			byReal[x.real] = x
		default:
			errs.Add(0, x.where, "%s lands on %s in the root, as %s (%s) does", x.path, x.real, y.where, y.path)
		}
	}
	for _, x := range all {
		for d := path.Dir(x.real); d != "/"; d = path.Dir(d) {
			if y, ok := byReal[d]; ok && y.kind > opEnsureDir {
				errs.Add(0, x.where, "%s would be inside %s, which %s makes a file or link", x.path, d, y.where)
			}
		}
		if strings.HasPrefix(x.where, "$.storage.") && x.real != x.path {
			guardReal(x, errs)
		}
		checkExisting(r, x, errs)
		if x.kind == opHardlink {
			if y := byReal[x.target]; y != nil && y.kind != opFile {
				errs.Add(0, x.where+".target", "%s is made by %s as something other than a file", x.target, y.where)
			} else if t, err := r.lstat(x.target); y == nil && (err != nil || !t.Mode().IsRegular()) {
				errs.Add(0, x.where+".target", "%s is not a file in the root, nor one this config writes", x.target)
			}
		}
	}
}

// guardReal applies the path checks of Parse to where an entry resolved
// to: a link in the root must not carry a write to /usr or docker's units.
func guardReal(x *op, errs *fielderr.List) {
	switch p := x.real; {
	case p == "/usr" || under(p, "/usr"):
		errs.Add(0, x.where+".path", "%s resolves to %s in the root, on the read-only /usr", x.path, p)
	case p == nodepaths.DaemonJSON || p == dockerfloor.WeakenPath || guardedUnitPath(p):
		errs.Add(0, x.where+".path", "%s resolves to %s in the root, which the docker guard refuses", x.path, p)
	}
}

// checkExisting checks what the root holds at and above x.
func checkExisting(r resolver, x *op, errs *fielderr.List) {
	fi, err := r.lstat(x.real)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		errs.Add(0, x.where, "%s: %v", x.real, err)
	case err != nil && x.kind == opRemove:
		errs.Add(0, x.where, "%s is gone", x.real)
	case err != nil:
	case x.kind <= opEnsureDir && !fi.IsDir():
		errs.Add(0, x.where, "%s is in the root as a %s, not a directory", x.real, kind(fi))
	case x.kind > opEnsureDir && fi.IsDir():
		errs.Add(0, x.where, "%s is a directory in the root; nodecfg replaces files and links, never directories", x.real)
	case x.kind > opEnsureDir && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
		errs.Add(0, x.where, "%s is in the root as a %s; nodecfg replaces files and links only", x.real, kind(fi))
	case x.kind == opEnsureDir && x.owner != nil && !ownedBy(fi, *x.owner):
		errs.Add(0, x.where, "%s exists and belongs to uid %d, not %d: nodecfg makes home directories, it never takes one over", x.real, uidOf(fi), *x.owner)
	}
	rootTrusted := x.uid == 0 && x.kind != opRemove && trustedPath(x.real)
	for d := path.Dir(x.real); d != "/"; d = path.Dir(d) {
		fi, err := r.lstat(d)
		if err != nil {
			continue // made by the apply, root's and 0755
		}
		if !fi.IsDir() {
			errs.Add(0, x.where, "%s: %s is in the root as a %s, not a directory", x.path, d, kind(fi))
			return
		}
		if rootTrusted && (fi.Mode().Perm()&0o022 != 0 || !ownedBy(fi, 0)) {
			errs.Add(0, x.where, "%s would go in %s, which another user may write (mode %04o, uid %d): root trusts what is there", x.path, d, fi.Mode().Perm(), uidOf(fi))
			return
		}
	}
}

func kind(fi os.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "file"
	case t&fs.ModeSymlink != 0:
		return "link"
	case t&fs.ModeDir != 0:
		return "directory"
	default:
		return "special file (" + t.String() + ")"
	}
}

func uidOf(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// ownedBy reports whether fi belongs to uid. Without root nothing can be
// given away, so what the caller owns counts as everyone's: tests apply
// into temp roots as themselves.
func ownedBy(fi os.FileInfo, uid int) bool {
	got := uidOf(fi)
	return got == uid || os.Geteuid() != 0 && got == os.Geteuid()
}

// relabelPaths are the node paths to label after an apply.
func (p *plan) relabelPaths() []string {
	var out []string
	for _, x := range p.ops {
		if x.relabel && x.kind != opRemove && (x.kind != opEnsureDir || x.st.made) {
			out = append(out, x.real)
		}
	}
	return out
}

func (x *op) String() string { return fmt.Sprintf("%s (%s)", x.path, x.where) }
