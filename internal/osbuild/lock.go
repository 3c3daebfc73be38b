package osbuild

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"pault.ag/go/debian/version"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
)

// LockOptions configures `osbuild lock`.
type LockOptions struct {
	SpecPath string
	CacheDir string
	Stdout   io.Writer
	Now      time.Time // the lock's SOURCE_DATE_EPOCH; zero means now
}

// Lock resolves the spec's packages for each of its architectures with apt
// across the spec's suites and writes images/<name>.lock. Nothing is written
// unless every arch resolves: an unknown package fails the whole lock.
func Lock(ctx context.Context, o LockOptions) (*imagespec.Lock, error) {
	spec, err := imagespec.Load(o.SpecPath)
	if err != nil {
		return nil, err
	}
	l, err := resolveLock(ctx, spec, o)
	if err != nil {
		return nil, err
	}
	return l, writeLock(spec, l, o.Stdout)
}

// writeLock writes l as spec's lock. Relocking an unchanged package set
// keeps the old time, so the lock file (and every build from it) only
// changes when a package does.
func writeLock(spec *imagespec.Spec, l *imagespec.Lock, stdout io.Writer) error {
	path := imagespec.LockPath(spec.File)
	if old, err := imagespec.ReadLockFile(path); err == nil && old.SamePackages(l) {
		l.SourceDateEpoch = old.SourceDateEpoch
	}
	b, err := l.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	l.File = path
	fmt.Fprintf(stdout, "lock: wrote %s\n", path)
	return nil
}

// resolveLock asks the archive, as it is today, what the spec's packages
// resolve to: apt's candidate across the suites, then each version's suite,
// path and SHA256 from the signed indexes.
func resolveLock(ctx context.Context, spec *imagespec.Spec, o LockOptions) (*imagespec.Lock, error) {
	if o.CacheDir == "" {
		o.CacheDir = ".cache"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	src := spec.Debian.Source()
	l := &imagespec.Lock{APIVersion: imagespec.APIVersion, Kind: "ImageLock", Spec: spec.Name,
		InputsDigest: spec.PackageInputsDigest(), SourceDateEpoch: o.Now.Unix(),
		Tools: map[string]imagespec.ArchPackages{}, Architectures: map[string]imagespec.ArchPackages{}}
	names := make([]string, 0, len(src.Suites))
	for _, su := range src.Suites {
		names = append(names, su.Name)
	}
	resolve := func(debArch string, pkgs []string) (imagespec.ArchPackages, error) {
		r, err := apt.NewRoot(cachedir.Dir(o.CacheDir).Apt(debArch), debArch, src)
		if err != nil {
			return imagespec.ArchPackages{}, err
		}
		fmt.Fprintf(o.Stdout, "lock: %s: updating package indexes of %s\n", debArch, strings.Join(names, ", "))
		if err := r.Update(ctx); err != nil {
			return imagespec.ArchPackages{}, err
		}
		versions, err := r.Resolve(ctx, pkgs)
		if err != nil {
			return imagespec.ArchPackages{}, err
		}
		origins, err := r.Origins(ctx, versions)
		if err != nil {
			return imagespec.ArchPackages{}, err
		}
		ap := imagespec.ArchPackages{Packages: map[string]imagespec.Package{}}
		for n, v := range versions {
			og := origins[n]
			ap.Packages[n] = imagespec.Package{Version: v, Suite: og.Suite, Size: og.Size, SHA256: og.SHA256, Path: og.Path}
		}
		return ap, nil
	}
	for _, name := range spec.Architectures {
		a, err := arch.Lookup(name)
		if err != nil {
			return nil, err
		}
		ap, err := resolve(a.Debian, spec.Packages.For(name))
		if err != nil {
			return nil, fmt.Errorf("%s: $.packages (%s): %w", spec.File, name, err)
		}
		l.Architectures[name] = ap
		fmt.Fprintf(o.Stdout, "lock: %s: %d packages (%s)\n", name, len(ap.Packages), bySuite(ap))
	}
	ap, err := resolve(imagespec.HostToolsArch, imagespec.ToolPackages)
	if err != nil {
		return nil, fmt.Errorf("resolving the tool root: %w", err)
	}
	l.Tools[imagespec.HostToolsArch] = ap
	fmt.Fprintf(o.Stdout, "lock: tool root (%s): %d packages (%s)\n", imagespec.HostToolsArch, len(ap.Packages), bySuite(ap))
	return l, nil
}

// bySuite counts packages per suite: "312 trixie, 9 trixie-security".
func bySuite(ap imagespec.ArchPackages) string {
	n := map[string]int{}
	for _, p := range ap.Packages {
		n[p.Suite]++
	}
	var parts []string
	for s, c := range n {
		parts = append(parts, fmt.Sprintf("%d %s", c, s))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Change is one package that differs between two locks.
type Change struct {
	Scope    string // "x86_64", "aarch64" or "tools/amd64"
	Name     string
	Old, New imagespec.Package // zero Version: not in that lock
}

// Newer reports whether the change moves to a higher version.
func (c Change) Newer() bool {
	if c.Old.Version == "" || c.New.Version == "" {
		return c.New.Version != ""
	}
	o, err1 := version.Parse(c.Old.Version)
	n, err2 := version.Parse(c.New.Version)
	if err1 != nil || err2 != nil {
		return c.New.Version != c.Old.Version
	}
	return version.Compare(n, o) > 0
}

// String reads "x86_64: runc 1.1.15+ds1-2 → 1.1.15+ds1-2+deb13u1 (trixie-security, security update)".
func (c Change) String() string {
	switch {
	case c.Old.Version == "":
		return fmt.Sprintf("%s: %s (new) → %s (%s)", c.Scope, c.Name, c.New.Version, c.New.Suite)
	case c.New.Version == "":
		return fmt.Sprintf("%s: %s %s → (removed)", c.Scope, c.Name, c.Old.Version)
	}
	s := fmt.Sprintf("%s: %s %s → %s (%s", c.Scope, c.Name, c.Old.Version, c.New.Version, c.New.Suite)
	if imagespec.SecuritySuite(c.New.Suite) {
		s += ", security update"
	}
	return s + ")"
}

// Diff lists what moved from old to new, sorted by scope and name. A package
// whose version stayed but whose suite or hash changed is listed too.
func Diff(old, new *imagespec.Lock) []Change {
	var out []Change
	scopes := func(l *imagespec.Lock) map[string]imagespec.ArchPackages {
		m := map[string]imagespec.ArchPackages{}
		for a, ap := range l.Architectures {
			m[a] = ap
		}
		for a, ap := range l.Tools {
			m["tools/"+a] = ap
		}
		return m
	}
	o, n := scopes(old), scopes(new)
	for scope, nap := range n {
		oap := o[scope]
		for name, np := range nap.Packages {
			if op, ok := oap.Packages[name]; !ok || op != np {
				out = append(out, Change{Scope: scope, Name: name, Old: op, New: np})
			}
		}
		for name, op := range oap.Packages {
			if _, ok := nap.Packages[name]; !ok {
				out = append(out, Change{Scope: scope, Name: name, Old: op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// CheckLock compares the spec's lock with what the archive offers today and
// returns the locked packages that have a newer version there (security
// updates marked), without writing anything. A lock that does not load is
// an error.
func CheckLock(ctx context.Context, o LockOptions) ([]Change, error) {
	spec, err := imagespec.Load(o.SpecPath)
	if err != nil {
		return nil, err
	}
	old, err := imagespec.LoadLock(imagespec.LockPath(o.SpecPath), spec, spec.Architectures)
	if err != nil {
		return nil, err
	}
	now, err := resolveLock(ctx, spec, o)
	if err != nil {
		return nil, err
	}
	var outdated []Change
	for _, c := range Diff(old, now) {
		if c.Old.Version != "" && c.Newer() {
			outdated = append(outdated, c)
		}
	}
	return outdated, nil
}
