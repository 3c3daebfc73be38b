// Package nopkg takes the package manager out of a finished image tree. A
// Bulwark node changes only by replacing its verity-protected /usr whole
// (A/B), never by installing packages; apt and dpkg on the node could only
// change it behind the image's back, and their databases would describe a
// system the SBOM already describes. Remove first saves what the build
// still needs (dpkg's status file for the SBOM and the copyright files of
// the packages it removes), then deletes the managers, the packages that
// were there only for them (decided on the real graph: dpkg's relations
// and the ELF objects' DT_NEEDED and dlopen notes), and the managers'
// state, configuration, caches and logs (nodepaths.PackageManager).
package nopkg

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/bulwark/bulwark/internal/dpkgstatus"
	"github.com/bulwark/bulwark/internal/nodepaths"
)

// Managers are the packages that are the package manager.
var Managers = []string{"apt", "dpkg"}

// StatusFile is dpkg's database of installed packages, relative to the
// save directory as to the image root.
const StatusFile = dpkgstatus.Path

// Options says what to remove from where.
type Options struct {
	Root string
	// Save receives StatusFile and, for every removed package,
	// doc/<package>/copyright (the SBOM's license source).
	Save string
	// Wanted are the packages the image spec lists: never removed.
	Wanted []string
}

// Result says what Remove did.
type Result struct {
	// Removed maps each removed package to its version.
	Removed map[string]string
	// Kept are the managers' dependencies that stay, and why.
	Kept []Kept
	// Files and Bytes count what left the tree (regular files and links).
	Files int
	Bytes int64
	// Units are the links under /etc/systemd that enabled or masked a
	// unit of a removed package (they would dangle).
	Units []string
	// Others are files of remaining packages that lay under the
	// managers' paths (their configuration for apt or dpkg) and went too.
	Others []string
}

// Remove takes the package manager out of the tree at o.Root.
func Remove(o Options) (*Result, error) {
	pkgs, err := dpkgstatus.ReadFile(filepath.Join(o.Root, StatusFile))
	if err != nil {
		return nil, err
	}
	if pkgs["dpkg"] == nil {
		return nil, fmt.Errorf("/%s: dpkg is not installed: not a Debian tree", StatusFile)
	}
	g := &graph{pkgs: pkgs, files: map[string][]string{}, owner: map[string][]string{}, wanted: map[string]bool{}}
	for _, w := range o.Wanted {
		g.wanted[w] = true
	}
	if err := g.readLists(o.Root); err != nil {
		return nil, err
	}
	if g.elf, err = scanELF(o.Root); err != nil {
		return nil, err
	}
	remove, kept := g.plan(Managers)
	res := &Result{Removed: map[string]string{}, Kept: kept}
	gone := map[string]bool{}
	for _, n := range remove {
		res.Removed[n] = pkgs[n].Version
		gone[n] = true
	}
	if err := save(o.Root, o.Save, remove); err != nil {
		return nil, err
	}
	removedSonames := map[string]string{}
	units := map[string]bool{}
	var dirs []string
	for _, n := range remove {
		for _, p := range g.files[n] {
			if !g.ownedOnlyBy(p, gone, "") {
				continue // shared with a package that stays (a directory, mostly)
			}
			full := filepath.Join(o.Root, p)
			fi, err := os.Lstat(full)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if fi.IsDir() {
				dirs = append(dirs, p)
				continue
			}
			if obj, ok := g.elf[p]; ok && obj.soname != "" {
				removedSonames[obj.soname] = p
			}
			if d := path.Dir(p); d == "/usr/lib/systemd/system" || d == "/lib/systemd/system" {
				units[path.Base(p)] = true
			}
			if err := os.Remove(full); err != nil {
				return nil, fmt.Errorf("removing %s (%s): %w", p, n, err)
			}
			res.Files++
			res.Bytes += fi.Size()
		}
	}
	// Deepest first, so a directory emptied of its subdirectories goes too.
	sort.Slice(dirs, func(i, j int) bool { return dirs[i] > dirs[j] })
	for _, d := range dirs {
		if err := os.Remove(filepath.Join(o.Root, d)); err != nil && !isNotEmpty(err) && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("removing directory %s: %w", d, err)
		}
	}
	if res.Units, err = removeUnitLinks(o.Root, units); err != nil {
		return nil, err
	}
	res.Files += len(res.Units)
	if err := g.removeStatePaths(o.Root, gone, removedSonames, res); err != nil {
		return nil, err
	}
	if err := g.checkLoads(o.Root, removedSonames); err != nil {
		return nil, err
	}
	if left := Left(o.Root); len(left) > 0 {
		return nil, fmt.Errorf("package manager paths left in the tree: %s", strings.Join(left, ", "))
	}
	return res, nil
}

// removeStatePaths removes what nodepaths.PackageManager names: the
// managers' databases, configuration, caches and logs, with any file of a
// package that stays found under them (reported in res.Others). Sonames of
// libraries removed this way go into removed, for checkLoads.
func (g *graph) removeStatePaths(root string, gone map[string]bool, removed map[string]string, res *Result) error {
	for _, pat := range nodepaths.PackageManager {
		matches, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return err
		}
		for _, m := range matches {
			err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel := "/" + strings.TrimPrefix(p, strings.TrimSuffix(root, "/")+"/")
				if obj, ok := g.elf[rel]; ok && obj.soname != "" {
					removed[obj.soname] = rel
				}
				if !d.IsDir() && !g.ownedOnlyBy(rel, gone, "") && len(g.owner[rel]) > 0 {
					res.Others = append(res.Others, rel+" ("+strings.Join(g.owner[rel], ", ")+")")
				}
				if !d.IsDir() {
					res.Files++
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("removing %s: %w", m, err)
			}
		}
	}
	return nil
}

// removeUnitLinks removes the symlinks under /etc/systemd named after a
// removed unit: wants/requires links that enabled it and masks.
func removeUnitLinks(root string, units map[string]bool) ([]string, error) {
	var out []string
	base := filepath.Join(root, "etc/systemd")
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == base {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 || !units[d.Name()] {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, "/"+rel)
		return os.Remove(p)
	})
	return out, err
}

// Left returns the paths of nodepaths.PackageManager that exist under
// root (a tree, or "/" on a node).
func Left(root string) []string {
	var out []string
	for _, pat := range nodepaths.PackageManager {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			out = append(out, "/"+rel)
		}
	}
	return out
}

// checkLoads fails if a file still in the tree loads a soname whose
// library left with the package manager.
func (g *graph) checkLoads(root string, removed map[string]string) error {
	var errs []error
	for _, p := range slices.Sorted(maps.Keys(g.elf)) {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			continue // removed
		}
		for _, n := range g.elf[p].needed {
			if lib, ok := removed[n]; ok {
				errs = append(errs, fmt.Errorf("%s loads %s, which was removed with the package manager (%s)", p, n, lib))
			}
		}
	}
	return errors.Join(errs...)
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// readLists reads dpkg's file list of every installed package, resolving
// each path's directory inside root (a list may name /lib/x when /lib links
// to usr/lib).
func (g *graph) readLists(root string) error {
	resolved := map[string]string{}
	for name := range g.pkgs {
		b, err := readList(root, name)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == "" || l == "/." {
				continue
			}
			dir, base := path.Split(l)
			rd, ok := resolved[dir]
			if !ok {
				full, err := securejoin.SecureJoin(root, dir)
				if err != nil {
					return fmt.Errorf("resolving %s of %s: %w", dir, name, err)
				}
				rel, _ := filepath.Rel(root, full)
				rd = "/" + rel
				resolved[dir] = rd
			}
			p := path.Join(rd, base)
			g.files[name] = append(g.files[name], p)
			g.owner[p] = append(g.owner[p], name)
		}
	}
	return nil
}

// readList returns the file list of an installed package: <name>.list,
// or <name>:<arch>.list for a Multi-Arch: same package.
func readList(root, name string) ([]byte, error) {
	info := filepath.Join(root, "var/lib/dpkg/info")
	b, err := os.ReadFile(filepath.Join(info, name+".list"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	m, _ := filepath.Glob(filepath.Join(info, name+":*.list"))
	if len(m) != 1 {
		return nil, fmt.Errorf("/var/lib/dpkg/info: package %s has %d file lists", name, len(m))
	}
	return os.ReadFile(m[0])
}

// save copies what the build needs after the removal: the status file and
// the removed packages' copyright files.
func save(root, dir string, removed []string) error {
	if err := copyIn(root, "/"+StatusFile, filepath.Join(dir, StatusFile)); err != nil {
		return err
	}
	for _, n := range removed {
		err := copyIn(root, path.Join("/usr/share/doc", n, "copyright"), filepath.Join(dir, "doc", n, "copyright"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// copyIn copies the file at p inside root (links resolved inside root) to
// dst.
func copyIn(root, p, dst string) error {
	full, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return fmt.Errorf("saving %s: %w", p, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
