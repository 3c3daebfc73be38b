// Package osbuild is the image builder's engine: Build runs the ordered steps
// that turn an image spec and its lock into a bootable, verity-protected GPT
// disk image, and Lock pins a spec's packages. Each step lives in its own
// package under internal/osbuild/; this package only orders them, owns the
// work directory and moves finished outputs into place.
package osbuild

import (
	"context"
	"errors"
	"fmt"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/customize"
	"github.com/bulwark/bulwark/internal/osbuild/pkgcache"
	"github.com/bulwark/bulwark/internal/osbuild/secureboot"
	"github.com/bulwark/bulwark/internal/outputs"
	"github.com/bulwark/bulwark/internal/progress"
)

// BuildOptions configures one build.
type BuildOptions struct {
	SpecPath string
	Arch     string
	OutDir   string
	CacheDir string
	// KeepWork leaves the work directory for debugging.
	KeepWork bool
	// FreshUSR compresses /usr even when the image cache has it (and
	// caches the result as usual): for tests that check mkfs.erofs's
	// output is reproducible, which a cache hit would not exercise.
	FreshUSR bool
	// Lock says what to do when the archive moved past a locked package
	// that the package cache does not have: fail (the default) or relock.
	Lock LockMode
	// SignKey names the gpg secret key (as gpg --local-user takes it, from
	// the caller's GNUPGHOME) that signs SHA256SUMS into SHA256SUMS.gpg;
	// empty leaves the outputs unsigned.
	SignKey string
	// ImageVersion overrides the spec's version (os-release IMAGE_VERSION,
	// what systemd-sysupdate compares); it must pass imagespec.VersionOK.
	ImageVersion string
	// SecureBootKeys is a key directory (osbuild secureboot keys) whose db
	// key signs systemd-boot and the UKI and whose .auth files go on the
	// ESP for enrollment; empty builds an unsigned boot chain.
	SecureBootKeys string
	// ExtraTrees are directories laid over the tree after the spec's
	// overlays, in order (mkosi's --extra-tree): a site's or a test's
	// files without a copy of the spec. They count as inputs in the
	// manifest like the spec's overlays.
	ExtraTrees []string
	Stdout     io.Writer
}

// rootfsRecipe changes whenever the way a rootfs is assembled changes, so
// cached trees from an older recipe are not reused.
const rootfsRecipe = "rootfs-v4" // v4: the initrd is built by the tool root's dracut

// build carries the state that flows between steps of one build.
type build struct {
	o     BuildOptions
	spec  *imagespec.Spec
	lock  *imagespec.Lock
	arch  arch.Arch
	epoch time.Time
	work  string
	tools string // the native tool root
	pkgs  *pkgcache.Cache
	// fetchAll makes the packages step fetch every locked package, even
	// those of an assembled tool root or rootfs (osbuild fetch).
	fetchAll bool
	rep      *progress.Reporter
	layout   *layout.Layout
	files    map[string]string // partition label → image file
	img      *manifest.Image
	outputs  map[string]string // temp output → final name
	install  map[string]customize.InstallFile
	sec      *security
	sbKeys   *secureboot.Keys // nil: unsigned boot chain
	uki      string           // the UKI as written to the ESP (signed when sbKeys is set)
}

// Build builds the image and returns its manifest entry.
func Build(ctx context.Context, o BuildOptions) (*manifest.Image, error) {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	b := &build{o: o, files: map[string]string{}, outputs: map[string]string{}, install: map[string]customize.InstallFile{}}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	work, err := b.cache().NewWork(b.spec.Name, b.arch.Name)
	if err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	b.work = work
	defer func() {
		for tmp := range b.outputs {
			os.Remove(tmp) // only still there if the build failed
		}
		if !o.KeepWork {
			os.RemoveAll(work)
		}
	}()
	steps := []struct {
		name string
		fn   func(context.Context, *progress.Step) error
	}{
		{"packages: locked .debs, verified", b.stepPackages},
		{"tools: native tool root", b.stepTools},
		{"rootfs: install packages", b.stepRootfs},
		{"binaries: Go programs and unit files", b.stepGoBinaries},
		{"customize: overlays, units, config", b.stepCustomize},
		{"security: SELinux modules, seccomp profiles, audit rules", b.stepSecurity},
		{"trim: no package manager, minimal setuid/setgid set", b.stepTrim},
		{"label: SELinux file contexts", b.stepLabel},
		{"usr: EROFS image", b.stepUSR},
		{"verity: /usr hash tree", b.stepVerity},
		{"root: ext4 image", b.stepRoot},
		{"esp: UKI and systemd-boot", b.stepESP},
		{"disk: GPT image", b.stepDisk},
		{"sbom: SPDX document", b.stepSBOM},
		{"outputs: qcow2, manifest", b.stepOutputs},
	}
	b.rep = progress.New(o.Stdout, len(steps))
	fmt.Fprintf(o.Stdout, "osbuild: building %s for %s from %s\n", b.spec.Name, b.arch.Name, o.SpecPath)
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build interrupted: %w", err)
		}
		st := b.rep.Step(s.name)
		if err := s.fn(ctx, st); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Fprintf(o.Stdout, "osbuild: built %s in %s\n", filepath.Join(o.OutDir, b.file(outputs.Raw)), b.rep.Elapsed().Round(time.Second))
	return b.img, nil
}

// validate checks every input before anything is written.
func (b *build) validate() error {
	spec, err := imagespec.Load(b.o.SpecPath)
	if err != nil {
		return err
	}
	b.spec = spec
	if v := b.o.ImageVersion; v != "" && !imagespec.VersionOK(v) {
		return fmt.Errorf("--image-version %q: must start with a letter or digit and hold only letters, digits and . + ~ ^ - (at most 64)", v)
	}
	for _, dir := range b.o.ExtraTrees {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--extra-tree %s: not a directory", dir)
		}
	}
	if !spec.HasArch(b.o.Arch) {
		return fmt.Errorf("%s: $.architectures: does not list %q (lists %v)", spec.File, b.o.Arch, spec.Architectures)
	}
	if b.arch, err = arch.Lookup(b.o.Arch); err != nil {
		return err
	}
	if err := b.loadLock(); err != nil {
		return err
	}
	if err := checkHost(b.arch, true); err != nil {
		return err
	}
	l, err := layout.Plan(b.arch, layout.Sizes{Disk: int64(spec.Disk.Size), ESP: int64(spec.Disk.ESP),
		USR: int64(spec.Disk.USR), USRVerity: int64(spec.Disk.USRVerity), OEM: int64(spec.Disk.OEM),
		Root: int64(spec.Disk.Root), Docker: spec.Disk.DockerPartition}, spec.Name+"/"+b.arch.Name, spec.Name, b.version())
	if err != nil {
		return fmt.Errorf("%s: $.disk: %w", spec.File, err)
	}
	b.layout = l
	if b.o.CacheDir == "" {
		b.o.CacheDir = ".cache"
	}
	if err := os.MkdirAll(b.o.CacheDir, 0o755); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	if b.pkgs, err = pkgcache.Open(b.cache().Debs()); err != nil {
		return err
	}
	b.img = &manifest.Image{Name: spec.Name, Arch: b.arch.Name, Layout: l,
		Inputs: map[string]string{}, Outputs: map[string]string{}}
	if err := b.checkSigning(); err != nil {
		return err
	}
	if err := b.prepareSecurity(); err != nil {
		return err
	}
	return b.recordInputs()
}

// loadLock reads and checks the spec's lock, and takes the build's
// timestamps from it; a refreshing build calls it again after relocking.
func (b *build) loadLock() error {
	lock, err := imagespec.LoadLock(imagespec.LockPath(b.o.SpecPath), b.spec, []string{b.o.Arch})
	if err != nil {
		return err
	}
	b.lock = lock
	b.epoch = time.Unix(lock.SourceDateEpoch, 0).UTC()
	if b.layout != nil { // a relock: a version taken from the lock's date moved with it
		if err := b.layout.SetVersion(b.spec.Name, b.version()); err != nil {
			return err
		}
	}
	if b.img != nil {
		return b.recordInputs()
	}
	return nil
}

// recordInputs hashes the spec, lock and overlay trees into the manifest.
func (b *build) recordInputs() error {
	paths := []string{b.spec.File, b.lock.File}
	for _, u := range b.spec.Units.Files {
		paths = append(paths, b.spec.UnitFile(u))
	}
	for _, dir := range b.overlayDirs() {
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				paths = append(paths, p)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("reading overlay %s: %w", dir, err)
		}
	}
	for _, p := range paths {
		d, err := manifest.FileDigest(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(b.spec.Dir, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = p
		}
		b.img.Inputs[rel] = d
	}
	return nil
}

// overlayDirs are the directories laid over the tree, in order: the
// spec's overlays, then the build's extra trees.
func (b *build) overlayDirs() []string {
	var dirs []string
	for _, ov := range b.spec.Overlays {
		dirs = append(dirs, b.spec.OverlayDir(ov))
	}
	return append(dirs, b.o.ExtraTrees...)
}

// version is the image's version: --image-version, else the spec's, else
// the lock's date (a relock moves it, so it is not fixed before the build).
func (b *build) version() string {
	switch {
	case b.o.ImageVersion != "":
		return b.o.ImageVersion
	case b.spec.Version != "":
		return b.spec.Version
	}
	return b.epoch.Format("2006.01.02")
}

// sysupdate names this build for systemd-sysupdate.
func (b *build) sysupdate() sysupdate.Image {
	return sysupdate.Image{Name: b.spec.Name, Arch: b.arch.Systemd, Version: b.version()}
}

// cache is the build's cache directory.
func (b *build) cache() cachedir.Dir { return cachedir.Dir(b.o.CacheDir) }

// rootfsKey hashes the parts of the inputs that decide the rootfs.
func (b *build) rootfsKey() string {
	// The initrd in the rootfs is made by the tool root's dracut-install
	// and cpio, from the image's own modules and binaries.
	tools := b.lock.Tools[imagespec.HostToolsArch].Packages
	return cachedir.Key(rootfsRecipe, b.arch.Name, b.spec.Debian.Release, fmt.Sprint(b.spec.Kernel.InitrdDrivers),
		strconv.FormatInt(b.lock.SourceDateEpoch, 10), lockedKey(b.lock.Architectures[b.arch.Name]), b.spec.Debian.Source().Deb822(),
		"dracut-core="+tools["dracut-core"].Version, "dracut-install="+tools["dracut-install"].Version, "cpio="+tools["cpio"].Version)
}

// rootfsDir is where the rootfs of this build's lock is cached; one whose
// assembly was interrupted is not cachedir.Complete and is rebuilt.
func (b *build) rootfsDir() string {
	return b.cache().Rootfs(b.arch.Name, b.rootfsKey())
}

// CachedRootfs says where a build of the spec for arch would find its
// rootfs in cacheDir and whether it is there, without building anything:
// for callers (the bench) that plan around a cold rootfs assembly, which
// takes minutes natively and a quarter of an hour under qemu-user.
func CachedRootfs(specPath, archName, cacheDir string) (string, bool, error) {
	spec, err := imagespec.Load(specPath)
	if err != nil {
		return "", false, err
	}
	a, err := arch.Lookup(archName)
	if err != nil {
		return "", false, err
	}
	lock, err := imagespec.LoadLock(imagespec.LockPath(specPath), spec, []string{archName})
	if err != nil {
		return "", false, err
	}
	b := &build{o: BuildOptions{CacheDir: cacheDir}, spec: spec, lock: lock, arch: a}
	dir := b.rootfsDir()
	return dir, cachedir.Complete(dir), nil
}

// file is the output o's file name for this build.
func (b *build) file(o outputs.Output) string { return o.File(b.spec.Name, b.arch.Name) }

// output registers a temp output file to be renamed to final at the end.
func (b *build) output(final string) string {
	tmp := b.partial(final)
	b.outputs[tmp] = final
	return tmp
}

// partial is where the output final is written until the build succeeds.
func (b *build) partial(final string) string {
	return filepath.Join(b.o.OutDir, "."+final+".partial")
}

func (b *build) commitOutputs() error {
	var errs []error
	current := map[string]bool{}
	for tmp, final := range b.outputs {
		current[final] = true
		if err := os.Rename(tmp, filepath.Join(b.o.OutDir, final)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return b.removeStalePayload(current)
}

// removeStalePayload deletes the update payload an earlier build of this
// image and architecture left in the output directory: SHA256SUMS no
// longer lists it, so sysupdate cannot take it, and each /usr is hundreds
// of MiB.
func (b *build) removeStalePayload(current map[string]bool) error {
	entries, err := os.ReadDir(b.o.OutDir)
	if err != nil {
		return err
	}
	img := b.sysupdate()
	for _, e := range entries {
		if e.Type().IsRegular() && !current[e.Name()] && img.IsPayload(e.Name()) {
			if err := os.Remove(filepath.Join(b.o.OutDir, e.Name())); err != nil {
				return fmt.Errorf("removing an earlier build's update payload: %w", err)
			}
		}
	}
	return nil
}
