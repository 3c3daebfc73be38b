package osbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/pkgcache"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/progress"
)

// LockMode says what a build does when the archive no longer has a locked
// package and the package cache does not have it either.
type LockMode string

const (
	// LockStrict fails, naming every missing package: release builds
	// install exactly what was reviewed or nothing.
	LockStrict LockMode = "strict"
	// LockRefresh relocks against the archive as it is, prints what moved,
	// writes the new lock and builds from it: the everyday targets, which
	// must work on a fresh machine whatever day it is.
	LockRefresh LockMode = "refresh"
)

// ParseLockMode reads a --lock value.
func ParseLockMode(s string) (LockMode, error) {
	switch m := LockMode(s); m {
	case LockStrict, LockRefresh:
		return m, nil
	}
	return "", fmt.Errorf("want %s or %s, got %q", LockStrict, LockRefresh, s)
}

// String and Set make a LockMode a flag.Value.
func (m *LockMode) String() string { return string(*m) }

// Set parses a --lock value into m.
func (m *LockMode) Set(s string) error {
	v, err := ParseLockMode(s)
	if err == nil {
		*m = v
	}
	return err
}

// items turns locked packages into the cache's download list, each from its
// suite's mirror.
func items(spec *imagespec.Spec, ap imagespec.ArchPackages) []pkgcache.Item {
	src := spec.Debian.Source()
	out := make([]pkgcache.Item, 0, len(ap.Packages))
	for name, p := range ap.Packages {
		out = append(out, pkgcache.Item{Name: name, Version: p.Version, Suite: p.Suite,
			URL: src.Mirror(p.Suite) + "/" + p.Path, Size: p.Size, SHA256: p.SHA256})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lockedKey identifies a locked package set by versions and .deb hashes.
func lockedKey(ap imagespec.ArchPackages) string {
	names := make([]string, 0, len(ap.Packages))
	for n := range ap.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s=%s %s\n", n, ap.Packages[n].Version, ap.Packages[n].SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// toolSpec describes the native tool root of lock for the build host; its
// repository is made from the package cache in repoDir when needed.
func toolSpec(spec *imagespec.Spec, lock *imagespec.Lock, cache *pkgcache.Cache, repoDir string) (toolroot.Spec, error) {
	h, err := arch.Host()
	if err != nil {
		return toolroot.Spec{}, err
	}
	ap, ok := lock.Tools[h.Debian]
	if !ok {
		return toolroot.Spec{}, fmt.Errorf("%s: $.tools: no tool root locked for build host arch %s", lock.File, h.Debian)
	}
	return toolroot.Spec{Arch: h.Debian, Release: spec.Debian.Release, Pins: ap.Versions(), Key: lockedKey(ap),
		Repo: func(ctx context.Context) (string, error) {
			return cache.Repo(ctx, repoDir, spec.Debian.Release, items(spec, ap))
		}}, nil
}

// ToolRoot returns the native tool root of the spec's lock, fetching its
// packages and assembling it if it is not cached: for tests and benchmarks
// that must run the very tools the build runs. It never relocks.
func ToolRoot(ctx context.Context, specPath, cacheDir string, log func(string)) (string, error) {
	spec, lock, err := loadSpecAndLock(specPath, nil)
	if err != nil {
		return "", err
	}
	cache, err := pkgcache.Open(cachedir.Dir(cacheDir).Debs())
	if err != nil {
		return "", err
	}
	repo, err := cachedir.Dir(cacheDir).NewToolsRepo()
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(repo)
	ts, err := toolSpec(spec, lock, cache, repo)
	if err != nil {
		return "", err
	}
	if !toolroot.Cached(cachedir.Dir(cacheDir), ts) {
		gone, err := cache.Fetch(ctx, items(spec, lock.Tools[ts.Arch]), nil)
		if err != nil {
			return "", err
		}
		if len(gone) > 0 {
			return "", missingError(lock, spec, gone)
		}
	}
	return toolroot.Ensure(ctx, cachedir.Dir(cacheDir), ts, log)
}

// missingError names every locked package that is neither in the archive
// nor in the package cache.
func missingError(lock *imagespec.Lock, spec *imagespec.Spec, gone []pkgcache.Item) error {
	names := make([]string, len(gone))
	for i, it := range gone {
		names[i] = it.String()
	}
	return fmt.Errorf("%s: %d locked package(s) are neither in the archive nor in the package cache:\n  %s\n"+
		"the archive moved on since the lock was written; run `osbuild lock %s` (or build with --lock refresh) to move to what it has now",
		lock.File, len(gone), strings.Join(names, "\n  "), spec.File)
}

// FetchOptions configures `osbuild fetch`.
type FetchOptions struct {
	SpecPath string
	Arches   []string // default: every arch of the spec
	CacheDir string
	Lock     LockMode
	Stdout   io.Writer
}

// Fetch puts every locked package of the spec's arches and tool root into
// the package cache, verified, handling a moved archive as a build does:
// so a machine can be readied for building offline, and so the drift
// handling can be tested without building an image.
func Fetch(ctx context.Context, o FetchOptions) error {
	spec, err := imagespec.Load(o.SpecPath)
	if err != nil {
		return err
	}
	if len(o.Arches) == 0 {
		o.Arches = spec.Architectures
	}
	if o.CacheDir == "" {
		o.CacheDir = ".cache"
	}
	cache, err := pkgcache.Open(cachedir.Dir(o.CacheDir).Debs())
	if err != nil {
		return err
	}
	rep := progress.New(o.Stdout, len(o.Arches))
	for _, a := range o.Arches {
		if !spec.HasArch(a) {
			return fmt.Errorf("%s: $.architectures: does not list %q (lists %v)", spec.File, a, spec.Architectures)
		}
		b := &build{o: BuildOptions{SpecPath: o.SpecPath, Arch: a, CacheDir: o.CacheDir, Lock: o.Lock, Stdout: o.Stdout}, spec: spec, pkgs: cache, fetchAll: true}
		if b.arch, err = arch.Lookup(a); err != nil {
			return err
		}
		if err := b.loadLock(); err != nil {
			return err
		}
		if err := b.stepPackages(ctx, rep.Step("packages: "+a+" and the tool root")); err != nil {
			return err
		}
	}
	return nil
}

// neededItems lists the packages this build must have: the tool root's
// and the rootfs's, unless those are already assembled in the cache (or
// all of them, for Fetch).
func (b *build) neededItems() ([]pkgcache.Item, error) {
	var out []pkgcache.Item
	ts, err := toolSpec(b.spec, b.lock, b.pkgs, b.path("repo-tools"))
	if err != nil {
		return nil, err
	}
	if b.fetchAll || !toolroot.Cached(b.cache(), ts) {
		out = append(out, items(b.spec, b.lock.Tools[ts.Arch])...)
	}
	if b.fetchAll || !cachedir.Complete(b.rootfsDir()) {
		out = append(out, items(b.spec, b.lock.Architectures[b.arch.Name])...)
	}
	return out, nil
}

// stepPackages makes sure every locked .deb the build needs is in the
// package cache, verified against the lock. A package the archive no
// longer serves is the archive moving on: strict builds stop and name every
// such package; refreshing builds relock, print what moved and go on.
func (b *build) stepPackages(ctx context.Context, st *progress.Step) error {
	need, err := b.neededItems()
	if err != nil {
		return err
	}
	missing := len(b.pkgs.Missing(need))
	downloaded := 0
	gone, err := b.fetch(ctx, st, need)
	if err != nil {
		return err
	}
	downloaded += missing - len(gone)
	if len(gone) > 0 {
		if b.o.Lock != LockRefresh {
			return missingError(b.lock, b.spec, gone)
		}
		if err := b.relock(ctx, st, gone); err != nil {
			return err
		}
		if need, err = b.neededItems(); err != nil {
			return err
		}
		missing = len(b.pkgs.Missing(need))
		if gone, err = b.fetch(ctx, st, need); err != nil {
			return err
		}
		if len(gone) > 0 {
			return fmt.Errorf("the fresh lock names packages the archive does not serve (is the mirror mid-sync?): %w", missingError(b.lock, b.spec, gone))
		}
		downloaded += missing
	}
	st.Done("%d packages needed, %d were in the package cache; %d downloaded in all", len(need), len(need)-missing, downloaded)
	return nil
}

func (b *build) fetch(ctx context.Context, st *progress.Step, need []pkgcache.Item) ([]pkgcache.Item, error) {
	todo := b.pkgs.Missing(need)
	if len(todo) > 0 {
		var total int64
		for _, it := range todo {
			total += it.Size
		}
		st.Printf("downloading %d of %d packages (%s) into %s", len(todo), len(need), progress.Bytes(total), b.cache().Debs())
		return b.pkgs.Fetch(ctx, todo, func(done, n int, bytes int64) { st.Progress("downloading", bytes, total, "bytes") })
	}
	return nil, nil
}

// relock replaces the build's lock with one resolved against the archive
// today, prints what moved and writes it.
func (b *build) relock(ctx context.Context, st *progress.Step, gone []pkgcache.Item) error {
	st.Printf("%d locked package(s) are gone from the archive and not cached (e.g. %s); relocking (--lock refresh)", len(gone), gone[0])
	fresh, err := resolveLock(ctx, b.spec, LockOptions{SpecPath: b.o.SpecPath, CacheDir: b.o.CacheDir, Stdout: stepWriter{st}})
	if err != nil {
		return fmt.Errorf("relocking: %w", err)
	}
	changes := Diff(b.lock, fresh)
	st.Printf("the lock moved (%d change(s)):", len(changes))
	for _, c := range changes {
		st.Printf("  %s", c)
	}
	if err := writeLock(b.spec, fresh, stepWriter{st}); err != nil {
		return err
	}
	return b.loadLock()
}

// stepWriter prints lines written to it as the step's lines.
type stepWriter struct{ st *progress.Step }

func (w stepWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.st.Printf("%s", l)
	}
	return len(p), nil
}

// ToolRootCached reports whether the tool root of the spec's lock is
// assembled in cacheDir, without fetching or building anything.
func ToolRootCached(specPath, cacheDir string) (bool, error) {
	spec, lock, err := loadSpecAndLock(specPath, nil)
	if err != nil {
		return false, err
	}
	ts, err := toolSpec(spec, lock, nil, "")
	if err != nil {
		return false, err
	}
	return toolroot.Cached(cachedir.Dir(cacheDir), ts), nil
}

// loadSpecAndLock reads and checks the spec at specPath and its lock for
// arches, for the callers that need both without building.
func loadSpecAndLock(specPath string, arches []string) (*imagespec.Spec, *imagespec.Lock, error) {
	spec, err := imagespec.Load(specPath)
	if err != nil {
		return nil, nil, err
	}
	lock, err := imagespec.LoadLock(imagespec.LockPath(specPath), spec, arches)
	if err != nil {
		return nil, nil, err
	}
	return spec, lock, nil
}
