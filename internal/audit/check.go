package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Check reports every watched path the image tree cannot satisfy when
// augenrules loads the rules early at boot. root is the image's file tree
// (os.DirFS of the assembled root, or any fs.FS that implements
// fs.ReadLinkFS so that symlinks are read, not followed on the host).
//
// A watch (-w, -F path=) needs its parent directory at load time; the
// kernel refuses it otherwise, and auditctl stops there. Its path itself
// may be missing only where something creates it after boot: under /run
// (a fresh tmpfs every boot, so the parent must be /run itself or exist in
// the image) and for watches marked with a "#bulwark:runtime" comment. A
// -F dir= rule needs the directory itself. A watch on a symlink is an
// error: the kernel watches the link's own inode, so running or opening
// the file through it is never recorded.
func Check(rules []Rule, root fs.FS) error {
	var c errs
	for _, r := range rules {
		p, dirRule := watchedPath(r)
		if p == "" {
			continue
		}
		res, err := lookup(root, p)
		if err != nil {
			c.add(r.File, r.Line, "%s: %v", p, err)
			continue
		}
		atRuntime := r.Runtime || underRun(p) || (res.parentExists && underRun(res.dir))
		switch {
		case res.exists && res.link != "":
			c.add(r.File, r.Line, "%s is a symlink to %s in the image; the kernel would watch the link, not the file, so watch %s", p, res.link, res.linkTarget)
		case res.exists && r.Runtime:
			c.add(r.File, r.Line, "%s exists in the image; remove its %s", p, runtimeDirective)
		case res.exists:
		case dirRule:
			c.add(r.File, r.Line, "-F dir=%s does not exist in the image; the kernel refuses a dir rule for a missing directory", p)
		case !atRuntime:
			c.add(r.File, r.Line, "%s does not exist in the image (mark it with %s if a service creates it after boot)", p, runtimeDirective)
		case !res.parentExists && path.Dir(p) != "/run" && path.Dir(p) != "/var/run":
			c.add(r.File, r.Line, "%s does not exist in the image or at boot, so the kernel refuses the watch on %s", path.Dir(p), p)
		}
	}
	return c.err()
}

// watchedPath returns the path a rule watches and whether it is a -F dir=
// rule.
func watchedPath(r Rule) (string, bool) {
	if r.Kind == Watch {
		return r.Path, false
	}
	if r.Kind == Syscall {
		if f := pathField(r); f != nil {
			return f.Value, f.Name == "dir"
		}
	}
	return "", false
}

func underRun(p string) bool {
	return p == "/run" || strings.HasPrefix(p, "/run/") || strings.HasPrefix(p, "/var/run/")
}

// found is what lookup learns about a path in the image.
type found struct {
	exists       bool
	parentExists bool   // every component but the last exists
	dir          string // the parent directory with symlinks resolved
	link         string // the target of the last component if it is a symlink
	linkTarget   string // that target as an absolute, clean path
}

// lookup resolves p inside root as the kernel will on the booted image:
// symlinks in the directories on the way are followed, with absolute
// targets taken relative to root; the last component is not followed.
func lookup(root fs.FS, p string) (found, error) {
	comps := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	cur := "/"
	for hops, i := 0, 0; i < len(comps); i++ {
		next := path.Join(cur, comps[i])
		last := i == len(comps)-1
		fi, err := fs.Lstat(root, fsName(next))
		if errors.Is(err, fs.ErrNotExist) {
			return found{parentExists: last, dir: cur}, nil
		}
		if err != nil {
			return found{}, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !last && !fi.IsDir() {
				return found{}, fmt.Errorf("%s is not a directory", next)
			}
			cur = next
			continue
		}
		target, err := fs.ReadLink(root, fsName(next))
		if err != nil {
			return found{}, err
		}
		abs := path.Clean(target)
		if !path.IsAbs(target) {
			abs = path.Join(cur, target)
		}
		if last {
			return found{exists: true, parentExists: true, dir: cur, link: target, linkTarget: abs}, nil
		}
		if hops++; hops > 40 {
			return found{}, fmt.Errorf("too many levels of symbolic links at %s", next)
		}
		rest := path.Join(append([]string{abs}, comps[i+1:]...)...)
		comps = strings.Split(strings.TrimPrefix(rest, "/"), "/")
		cur, i = "/", -1
	}
	return found{exists: true, parentExists: true, dir: path.Dir(cur)}, nil
}

// fsName turns an absolute image path into an fs.FS name.
func fsName(p string) string {
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}
