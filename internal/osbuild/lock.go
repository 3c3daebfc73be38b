package osbuild

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/imagespec"
)

// LockOptions configures `osbuild lock`.
type LockOptions struct {
	SpecPath string
	CacheDir string
	Stdout   io.Writer
	Now      time.Time // the lock's SOURCE_DATE_EPOCH; zero means now
}

// Lock resolves the spec's packages for each of its architectures with apt
// and writes images/<name>.lock. Nothing is written unless every arch
// resolves: an unknown package fails the whole lock.
func Lock(ctx context.Context, o LockOptions) (*imagespec.Lock, error) {
	spec, err := imagespec.Load(o.SpecPath)
	if err != nil {
		return nil, err
	}
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
	for _, name := range spec.Architectures {
		a, err := arch.Lookup(name)
		if err != nil {
			return nil, err
		}
		r, err := apt.NewRoot(filepath.Join(o.CacheDir, "apt", a.Debian), a.Debian, src)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Stdout, "lock: %s: updating package indexes from %s %s\n", name, spec.Debian.Mirror, spec.Debian.Suite)
		if err := r.Update(ctx); err != nil {
			return nil, err
		}
		pkgs, err := r.Resolve(ctx, spec.Packages.For(name))
		if err != nil {
			return nil, fmt.Errorf("%s: $.packages (%s): %w", spec.File, name, err)
		}
		l.Architectures[name] = imagespec.ArchPackages{Packages: pkgs}
		fmt.Fprintf(o.Stdout, "lock: %s: %d packages\n", name, len(pkgs))
	}
	r, err := apt.NewRoot(filepath.Join(o.CacheDir, "apt", imagespec.HostToolsArch), imagespec.HostToolsArch, src)
	if err != nil {
		return nil, err
	}
	if err := r.Update(ctx); err != nil {
		return nil, err
	}
	tools, err := r.Resolve(ctx, imagespec.ToolPackages)
	if err != nil {
		return nil, fmt.Errorf("resolving the tool root: %w", err)
	}
	l.Tools[imagespec.HostToolsArch] = imagespec.ArchPackages{Packages: tools}
	fmt.Fprintf(o.Stdout, "lock: tool root (%s): %d packages\n", imagespec.HostToolsArch, len(tools))
	// Relocking an unchanged package set keeps the old time, so the lock file
	// (and every build from it) only changes when a package does.
	if old, err := imagespec.ReadLockFile(imagespec.LockPath(o.SpecPath)); err == nil && old.SamePackages(l) {
		l.SourceDateEpoch = old.SourceDateEpoch
	}
	b, err := l.Marshal()
	if err != nil {
		return nil, err
	}
	path := imagespec.LockPath(o.SpecPath)
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Stdout, "lock: wrote %s\n", path)
	return l, nil
}
