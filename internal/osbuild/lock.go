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
	src := apt.Source{Mirror: spec.Debian.Mirror, Suite: spec.Debian.Suite, Components: spec.Debian.Components}
	l := &imagespec.Lock{APIVersion: imagespec.APIVersion, Kind: "ImageLock", Spec: spec.Name,
		InputsDigest: spec.PackageInputsDigest(), SourceDateEpoch: o.Now.Unix(),
		Tools: map[string]string{}, Architectures: map[string]imagespec.ArchPackages{}}
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
		if len(l.Tools) == 0 {
			for _, t := range imagespec.ToolPackages {
				v, err := r.Candidate(ctx, t)
				if err != nil {
					return nil, err
				}
				l.Tools[t] = v
			}
		}
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
