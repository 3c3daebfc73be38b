package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/deb822"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/diskimage"
	"github.com/bulwark/bulwark/internal/osbuild/inspect"
	"github.com/bulwark/bulwark/internal/osbuild/labels"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/runlog"
)

// The mkosi anchor: the image a user of this field would build with
// mkosi instead of Bulwark, timed cold and warm in the same run as
// osbuild's builds, so the build figures are ratios against that tool and
// not only against Bulwark's own past (issue 12). mkosi is trixie's,
// run from a tool root of its own (a trixie chroot with mkosi and what it
// calls), because the build host's (Debian 12) mkosi is too old for
// EROFS, verity and UKIs as configured here.

// mkosiRecipe changes whenever mkosi's tool root is made
// differently, so a cached tool root from an older recipe is rebuilt.
const mkosiRecipe = "mkosi-v1"

// mkosiToolPackages make up mkosi's tool root: mkosi (its Depends bring
// systemd-repart, ukify, erofs-utils, cryptsetup-bin, mtools, dosfstools,
// apt and the archive keyring) and policycoreutils for setfiles, which
// SELinuxRelabel= runs from the tools tree, not from the image.
var mkosiToolPackages = []string{"mkosi", "policycoreutils"}

// mkosiPins are the versions of osbuild's tool root (the lock's tools
// section: systemd with systemd-repart, ukify, erofs-utils, e2fsprogs,
// setfiles, ...). mkosi's tool root installs all of them at those
// versions, so the two builds write /usr, the UKI and the labels with the
// same tools; the rest (mkosi itself and what only it needs) is the
// archive's candidate.
func mkosiPins(lock *imagespec.Lock, hostDeb string) map[string]string {
	return lock.Tools[hostDeb].Versions()
}

// mkosiToolInclude is mmdebstrap's --include for the tool root: the tool
// packages and every pinned package, each pinned one as name=version.
// Pinning all of the lock's tool packages (not only the ones named here)
// keeps apt from picking a different version of a shared dependency.
func mkosiToolInclude(pins map[string]string) []string {
	names := slices.Clone(mkosiToolPackages)
	for n := range pins {
		names = append(names, n)
	}
	return apt.PinWhereLocked(names, pins)
}

// mkosiToolsDir is mkosi's tool root for the build host in
// CACHE/bench-mkosi, keyed by its inputs (recipe, host arch, release,
// sources, packages and pins), and the packages it is made of.
func (b *bench) mkosiToolsDir() (dir string, include []string, err error) {
	host, err := arch.Host()
	if err != nil {
		return "", nil, err
	}
	include = mkosiToolInclude(mkosiPins(b.lock, host.Debian))
	key := cachedir.Key(append([]string{mkosiRecipe, host.Debian, b.spec.Debian.Release, strings.Join(include, " ")}, b.spec.Debian.Source().Lines()...)...)
	dir, err = filepath.Abs(filepath.Join(b.o.Cache, "bench-mkosi", "tools-"+host.Debian+"-"+key))
	return dir, include, err
}

// mkosiToolsCached reports whether a complete mkosi tool root is cached.
func (b *bench) mkosiToolsCached() bool {
	dir, _, err := b.mkosiToolsDir()
	return err == nil && cachedir.Complete(dir)
}

// mkosiToolRoot returns mkosi's tool root, assembling it with mmdebstrap
// when the cache has none for the current inputs.
func (b *bench) mkosiToolRoot(ctx context.Context) (string, error) {
	host, err := arch.Host()
	if err != nil {
		return "", err
	}
	dir, include, err := b.mkosiToolsDir()
	if err != nil {
		return "", err
	}
	src := b.spec.Debian.Source()
	if cachedir.Complete(dir) {
		fmt.Fprintf(b.w, "bench: reusing mkosi's tool root %s\n", dir)
		return dir, nil
	}
	tmp, err := cachedir.Begin(dir)
	if err != nil {
		return "", err
	}
	log := dir + ".log"
	logf, err := os.Create(log)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	fmt.Fprintf(b.w, "bench: assembling mkosi's tool root (%d packages named, %d pinned to the lock's tools) in %s; log: %s\n", len(include), len(mkosiPins(b.lock, host.Debian)), dir, log)
	start := time.Now()
	args := append(apt.MmdebstrapArgs("essential", host.Debian, include), b.spec.Debian.Release, tmp)
	args = append(args, src.Lines()...)
	if err := runlog.Run(ctx, runlog.Cmd{Name: "mmdebstrap", Log: logf, Env: []string{"LC_ALL=C.UTF-8"}, Args: args}); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("assembling mkosi's tool root (log: %s): %w", log, err)
	}
	if err := cachedir.Finish(tmp, dir); err != nil {
		return "", err
	}
	b.r.Add(mkosiKey(host.Name, "toolroot_s"), unitSeconds, seconds(time.Since(start)))
	return dir, nil
}

// mkosiVersion asks the tool root's dpkg for mkosi's version.
func mkosiVersion(ctx context.Context, tools string) string {
	out, err := runlog.Output(ctx, "chroot", tools, "dpkg-query", "-W", "-f", "${Version}", "mkosi")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// mkosiFile is one file of the generated mkosi configuration, relative to
// its directory.
type mkosiFile struct {
	Path string
	Data string
}

// mkosiArch maps Bulwark's arch names to mkosi's Architecture=.
var mkosiArch = map[string]string{"x86_64": "x86-64", "aarch64": "arm64"}

// mkosiConfig is the closest mkosi equivalent of spec's image for arch a.
// It holds no machine paths (the output, cache, package cache and
// workspace directories are mkosi's command line), so it is the same on
// every machine and is pinned by a golden file.
func mkosiConfig(spec *imagespec.Spec, lock *imagespec.Lock, a string) ([]mkosiFile, error) {
	ma, ok := mkosiArch[a]
	if !ok {
		return nil, fmt.Errorf("no mkosi architecture for %q", a)
	}
	if _, ok := lock.Architectures[a]; !ok {
		return nil, fmt.Errorf("%s: no %s packages in the lock", lock.File, a)
	}
	d := spec.Disk
	var conf strings.Builder
	fmt.Fprintf(&conf, `# Generated by the bench (test/bench/mkosi.go): the closest mkosi
# equivalent of %s for %s, the anchor Bulwark's build figures
# are ratios against. What differs from Bulwark's image, and why:
# - no first-boot nodecfg, no Bulwark overlays, units, Go binaries,
#   SELinux modules, seccomp or audit rules: mkosi builds the distribution
#   image; Bulwark's additions would be mkosi scripts written for the
#   comparison, not what a user gets from mkosi;
# - the initrd is mkosi's default (a second mkosi image with its own
#   packages), not dracut: that is what mkosi does; dracut stays installed,
#   as the spec lists it. Its kernel modules are the spec's initrd drivers
#   and their dependencies, as in Bulwark's initrd (all modules would not
#   fit the spec's ESP);
# - one /usr partition and its verity hash tree, no USR-B slot, no OEM and
#   no DOCKER partition: the A/B update layout and a docker filesystem are
#   Bulwark's design, not the image's content; sizes are minimized rather
#   than fixed (the ESP keeps the spec's size). The ESP and ROOT carry
#   Bulwark's GPT labels so Bulwark's offline inspector reads the image;
# - no usrhash signature and no Secure Boot signing;
# - the package manager stays in the image (mkosi's default): Bulwark
#   removes apt and dpkg.
# The package list is the spec's (%d names), every package pinned to the
# lock's version in mkosi.sandbox/etc/apt/preferences.d, and the sources
# are the spec's suites (mkosi's own add debian-debug and deb-src, which
# this mirror does not serve).

[Distribution]
Distribution=debian
Release=%s
Architecture=%s
`, filepath.Base(spec.File), a, len(spec.Packages.For(a)), spec.Debian.Release, ma)
	if extra := slices.DeleteFunc(slices.Clone(spec.Debian.Components), func(c string) bool { return c == "main" }); len(extra) > 0 {
		fmt.Fprintf(&conf, "Repositories=%s\n", strings.Join(extra, ","))
	}
	fmt.Fprintf(&conf, `
[Output]
Format=disk
ImageId=%s
# 512-byte sectors, as Bulwark's disk: with repart's default of 4096 for an
# image file, FAT32 on the spec's ESP has too few clusters and OVMF does
# not read it (mkosi's own ESP is at least 260 MB for that reason).
SectorSize=512

[Build]
Incremental=yes

[Content]
Bootable=yes
Bootloader=systemd-boot
UnifiedKernelImages=yes
SELinuxRelabel=yes
KernelCommandLine=%s
`, spec.Name, strings.Join(spec.Kernel.Cmdline.For(a), " "))
	if re := initrdModules(spec.Kernel.InitrdDrivers); re != "" {
		fmt.Fprintf(&conf, "KernelModulesInitrdExclude=.*\nKernelModulesInitrdInclude=%s\n", re)
	}
	conf.WriteString("Packages=\n")
	for _, p := range spec.Packages.For(a) {
		fmt.Fprintf(&conf, "        %s\n", p)
	}
	fmt.Fprintf(&conf, "\n[Validation]\nSecureBoot=no\n")

	// The ESP and ROOT carry Bulwark's GPT labels, so Bulwark's offline
	// inspector (checkMkosiImage) finds them; /usr and its verity
	// partition are found by type, as the booting initrd finds them.
	esp := fmt.Sprintf(`[Partition]
Type=esp
Label=%[2]s
Format=vfat
CopyFiles=/boot:/
CopyFiles=/efi:/
SizeMinBytes=%[1]d
SizeMaxBytes=%[1]d
`, int64(d.ESP), layout.ESP)
	usr := `[Partition]
Type=usr
Format=erofs
CopyFiles=/usr:/
Verity=data
VerityMatchKey=usr
Minimize=best
`
	if d.USRCompression != "" {
		usr += "Compression=" + d.USRCompression + "\n"
	}
	files := []mkosiFile{
		{"mkosi.conf", conf.String()},
		{"mkosi.repart/00-esp.conf", esp},
		{"mkosi.repart/10-usr.conf", usr},
		// 4096-byte verity blocks, as Bulwark's (and what its verifier
		// takes): repart's default follows SectorSize=, 512.
		{"mkosi.repart/11-usr-verity.conf", `[Partition]
Type=usr-verity
Verity=hash
VerityMatchKey=usr
VerityDataBlockSizeBytes=4096
VerityHashBlockSizeBytes=4096
Minimize=best
`},
		{"mkosi.repart/20-root.conf", `[Partition]
Type=root
Label=` + layout.Root + `
Format=ext4
CopyFiles=/
ExcludeFilesTarget=/usr/
Minimize=guess
`},
		{"mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources", spec.Debian.Source().Deb822()},
		{"mkosi.sandbox/etc/apt/preferences.d/bulwark-lock.pref", mkosiPreferences(lock.Architectures[a].Versions())},
	}
	return files, nil
}

// initrdModules is a regular expression for mkosi's
// KernelModulesInitrdInclude= that matches the drivers' module files
// (kernel/drivers/block/virtio_blk.ko.xz) under either spelling of a name:
// modprobe treats '_' and '-' alike, file names use either (dm-verity.ko).
func initrdModules(drivers []string) string {
	if len(drivers) == 0 {
		return ""
	}
	alts := make([]string, len(drivers))
	for i, d := range drivers {
		alts[i] = strings.NewReplacer("_", "[_-]", "-", "[_-]").Replace(regexp.QuoteMeta(d))
	}
	return `/(` + strings.Join(alts, "|") + `)\.ko`
}

// mkosiPreferences pins every package of the lock to its locked version
// (priority 1001 also allows what apt would call a downgrade), so mkosi
// installs the .debs Bulwark's build installs, found in the package cache
// the cold builds are seeded with.
func mkosiPreferences(pins map[string]string) string {
	names := make([]string, 0, len(pins))
	for n := range pins {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("# Generated by the bench: the lock's versions (images/*.lock).\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\nPackage: %s\nPin: version %s\nPin-Priority: 1001\n", n, pins[n])
	}
	return b.String()
}

// writeMkosiConfig writes files under dir, replacing what was there.
func writeMkosiConfig(dir string, files []mkosiFile) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.Data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mkosiDirs are one build's directories, all under Base: the
// configuration, and mkosi's output, incremental cache, package cache and
// workspace.
type mkosiDirs struct{ Base, Config, Out, Cache, Packages, Workspace string }

func (d mkosiDirs) all() []string { return []string{d.Out, d.Cache, d.Packages, d.Workspace, d.Tmp()} }

// Tmp is the builds' TMPDIR.
func (d mkosiDirs) Tmp() string { return filepath.Join(d.Base, "tmp") }

// mkosiRun is one finished mkosi build.
type mkosiRun struct {
	Kind    string
	Index   int
	Elapsed time.Duration
	Image   string
	Log     string
	Debs    debOrigins // cold: where the .debs came from
	Check   string     // what checkMkosiImage found
}

// debOrigins counts a package cache's .debs by where they came from.
type debOrigins struct{ Linked, Downloaded int }

// mkosiAptArchives is where mkosi keeps apt's .debs in its package cache
// (PackageCacheDirectory=/cache/apt/archives, mkosi 25).
func mkosiAptArchives(pkgCache string) string {
	return filepath.Join(pkgCache, "cache", "apt", "archives")
}

// aptDebName is the file name apt gives a downloaded .deb in its archives
// directory: name_version_arch.deb with the epoch's colon escaped.
func aptDebName(name, version, debArch string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + debArch + ".deb"
}

// seedMkosiPackages hard-links the local cache's .debs into mkosi's apt
// archives under the names apt looks for, so a cold mkosi build, like a
// cold osbuild build, takes the image's packages from the local cache and
// downloads only what the cache lacks (apt lists, mkosi's initrd's extra
// packages). A .deb is only taken if its control file says it is for the
// host's Debian arch or all.
func seedMkosiPackages(debs, pkgCache, debArch string) (int, error) {
	dst := mkosiAptArchives(pkgCache)
	if err := os.MkdirAll(filepath.Join(dst, "partial"), 0o755); err != nil {
		return 0, err
	}
	controls, err := filepath.Glob(filepath.Join(debs, "*.control"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range controls {
		deb := strings.TrimSuffix(c, ".control") + ".deb"
		if !exists(deb) {
			continue
		}
		f, err := readControl(c)
		if err != nil {
			return n, err
		}
		pkg, version, debArchOf := f.Value("Package"), f.Value("Version"), f.Value("Architecture")
		if debArchOf != debArch && debArchOf != "all" {
			continue
		}
		if pkg == "" || version == "" {
			return n, fmt.Errorf("%s: no Package or Version field", c)
		}
		name := aptDebName(pkg, version, debArchOf)
		if err := os.Link(deb, filepath.Join(dst, name)); err != nil && !errors.Is(err, os.ErrExist) {
			return n, fmt.Errorf("linking %s into %s: %w", deb, dst, err)
		}
		n++
	}
	return n, nil
}

// readControl reads the first paragraph of a Debian control file (the
// package cache keeps dpkg-deb --field's output beside each .deb).
func readControl(path string) (deb822.Paragraph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	paras, err := deb822.Parse(f)
	if err != nil || len(paras) == 0 {
		return nil, cmp.Or(err, fmt.Errorf("%s: no control paragraph", path))
	}
	return paras[0], nil
}

// countDebs counts the .debs in a package cache: hard-linked from the
// local cache (more than one link) or downloaded by this build.
func countDebs(pkgCache string) debOrigins {
	var o debOrigins
	m, _ := filepath.Glob(filepath.Join(mkosiAptArchives(pkgCache), "*.deb"))
	for _, p := range m {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			o.Linked++
		} else {
			o.Downloaded++
		}
	}
	return o
}

// mkosiCommand runs mkosi from the tool root on the configuration in
// dirs.Config. dirs.Base is bound at its own path as one mount, so mkosi
// moves trees between its workspace, cache and output by rename, as it
// does on a user's disk (one bind per directory makes each rename a copy
// across mounts). /sys is bound too: mkosi's sandbox and systemd-repart
// read it.
func mkosiCommand(tools string, dirs mkosiDirs, args ...string) runlog.Cmd {
	binds := []toolroot.Bind{{Src: "/sys", Dst: "/sys"}, {Src: dirs.Base, Dst: dirs.Base}}
	argv := append([]string{"mkosi", "--directory", dirs.Config, "--output-directory", dirs.Out,
		"--cache-directory", dirs.Cache, "--package-cache-directory", dirs.Packages,
		"--workspace-directory", dirs.Workspace}, args...)
	c := toolroot.Command(tools, binds, argv...)
	// Temporary files (systemd-repart's) go under Base, not into the
	// cached tool root, and are renamed within the one mount.
	c.Env = append(c.Env, "HOME=/root", "TMPDIR="+dirs.Tmp())
	return c
}

// mkosiBuilds is the mkosi section: x86_64 only (mkosi cross-builds an
// aarch64 image under qemu-user, which is the cost the bench already
// opts out of for osbuild).
func (b *bench) mkosiBuilds(ctx context.Context) error {
	host, err := arch.Host()
	if err != nil {
		return err
	}
	for _, a := range b.o.Arches {
		if a != host.Name {
			b.r.Skip(b.w, mkosiKey(a, "*"), "mkosi builds only for the build host's arch ("+host.Name+"): a foreign one runs under qemu-user")
		}
	}
	if !slices.Contains(b.o.Arches, host.Name) || b.o.Runs.MkosiCold+b.o.Runs.MkosiWarm == 0 {
		return nil
	}
	a := host.Name
	tools, err := b.mkosiToolRoot(ctx)
	if err != nil {
		return err
	}
	b.r.Facts[mkosiKey(a, "tool")] = "mkosi " + mkosiVersion(ctx, tools) + " (trixie, from the bench's tool root)"
	files, err := mkosiConfig(b.spec, b.lock, a)
	if err != nil {
		return err
	}
	base := filepath.Join(b.o.Work, "mkosi-"+a)
	cfg := filepath.Join(base, "config")
	if err := writeMkosiConfig(cfg, files); err != nil {
		return err
	}
	fmt.Fprintf(b.w, "bench: mkosi configuration for %s in %s\n", a, cfg)
	newDirs := func(i int) (mkosiDirs, error) {
		d := mkosiDirs{Base: base, Config: cfg, Out: filepath.Join(base, fmt.Sprintf("out-%d", i)), Cache: filepath.Join(base, fmt.Sprintf("cache-%d", i)),
			Packages: filepath.Join(base, fmt.Sprintf("packages-%d", i)), Workspace: filepath.Join(base, fmt.Sprintf("workspace-%d", i))}
		for _, p := range d.all() {
			os.RemoveAll(p)
			if err := os.MkdirAll(p, 0o755); err != nil {
				return d, err
			}
		}
		return d, nil
	}
	var runs []*mkosiRun
	var dirs mkosiDirs
	cold, warm := b.o.Runs.MkosiCold, b.o.Runs.MkosiWarm
	if cold == 0 {
		cold = 1 // warm needs a cache; the first build fills it and is counted as cold
		b.r.Note(b.w, "mkosi: warm builds need a filled cache; one cold build runs first")
	}
	for i := 1; i <= cold; i++ {
		if dirs.Cache != "" {
			for _, p := range dirs.all() {
				os.RemoveAll(p)
			}
		}
		if dirs, err = newDirs(i); err != nil {
			return err
		}
		if !b.o.ColdNetwork {
			n, err := seedMkosiPackages(cachedir.Dir(b.o.Cache).Debs(), dirs.Packages, host.Debian)
			if err != nil {
				return err
			}
			fmt.Fprintf(b.w, "bench: mkosi cold#%d: %d .debs hard-linked from the local cache into its package cache\n", i, n)
		}
		r, err := b.runMkosi(ctx, tools, dirs, kindCold, i)
		if err != nil {
			return err
		}
		r.Debs = countDebs(dirs.Packages)
		runs = append(runs, r)
	}
	for i := 1; i <= warm; i++ {
		r, err := b.runMkosi(ctx, tools, dirs, kindWarm, i)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	last := runs[len(runs)-1]
	b.r.Facts[mkosiKey(a, "image")] = last.Check
	for _, k := range []string{kindCold, kindWarm} {
		var total []time.Duration
		var debs []string
		for _, r := range runs {
			if r.Kind == k {
				total = append(total, r.Elapsed)
				if k == kindCold {
					debs = append(debs, fmt.Sprintf("%s: %d .debs seeded from the local cache, %d downloaded", r.Name(), r.Debs.Linked, r.Debs.Downloaded))
				}
			}
		}
		if len(total) == 0 {
			continue
		}
		b.r.Add(mkosiKey(a, k+".total_s"), unitSeconds, seconds(total...))
		if len(debs) > 0 {
			b.r.Facts[mkosiKey(a, "cold.debs")] = strings.Join(debs, "; ")
		}
	}
	if apparent, allocated, err := fileSizes(last.Image); err == nil {
		b.r.Add(mkosiKey(a, "raw_bytes"), unitBytes, []float64{float64(apparent)})
		b.r.Add(mkosiKey(a, "raw_allocated_bytes"), unitBytes, []float64{float64(allocated)})
	}
	if !b.o.Keep {
		os.RemoveAll(base)
	}
	return nil
}

// Name is how the report refers to the run: cold#1, warm#2.
func (r *mkosiRun) Name() string { return fmt.Sprintf("%s#%d", r.Kind, r.Index) }

// runMkosi runs one `mkosi --force build` (which keeps the incremental
// cache: only --force twice removes it) and times it as a whole.
func (b *bench) runMkosi(ctx context.Context, tools string, dirs mkosiDirs, kind string, i int) (*mkosiRun, error) {
	r := &mkosiRun{Kind: kind, Index: i, Log: filepath.Join(filepath.Dir(dirs.Config), fmt.Sprintf("mkosi-%s-%d.log", kind, i))}
	logf, err := os.Create(r.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(b.w, "bench: mkosi build (%s); log: %s\n", r.Name(), r.Log)
	c := mkosiCommand(tools, dirs, "--force", "build")
	c.Log = logf
	c.OnLine = func(l string) {
		// mkosi's own progress lines start with ‣ (nested ones are indented).
		if strings.HasPrefix(l, "‣") {
			fmt.Fprintf(b.w, "    %s\n", l)
		}
	}
	start := time.Now()
	err = runlog.Run(ctx, c)
	r.Elapsed = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("mkosi %s failed after %s (log: %s): %w", r.Name(), r.Elapsed.Round(time.Second), r.Log, err)
	}
	r.Image = filepath.Join(dirs.Out, b.spec.Name+".raw")
	if !exists(r.Image) {
		return nil, fmt.Errorf("mkosi %s: no image %s after a successful build (log: %s)", r.Name(), r.Image, r.Log)
	}
	fmt.Fprintf(b.w, "bench: mkosi %s: %s\n", r.Name(), r.Elapsed.Round(100*time.Millisecond))
	// Every image is checked (untimed) before the next build overwrites
	// it: a build that made something else is a failure, not a figure.
	if r.Check, err = checkMkosiImage(r.Image); err != nil {
		return nil, fmt.Errorf("mkosi %s: the image %s is not what the configuration asks for: %w", r.Name(), r.Image, err)
	}
	fmt.Fprintf(b.w, "bench: mkosi %s image checked: %s\n", r.Name(), r.Check)
	return r, nil
}

// checkESPFAT32 reads the ESP's boot sector: a FAT32 volume needs at
// least 65525 clusters, or UEFI firmware (OVMF) takes it for FAT16 and does
// not read it, and the disk boots to the UEFI shell. Go's FAT reader does
// not mind, so inspect.Read alone would pass such an ESP.
func checkESPFAT32(raw string) error {
	d, err := diskimage.Open(raw)
	if err != nil {
		return err
	}
	defer d.Close()
	sec, err := d.Section(layout.ESP)
	if err != nil {
		return err
	}
	bs := make([]byte, 512)
	if _, err := sec.ReadAt(bs, 0); err != nil {
		return fmt.Errorf("%s: reading the ESP's boot sector: %w", raw, err)
	}
	n, err := fat32Clusters(bs)
	if err != nil {
		return fmt.Errorf("%s: ESP: %w", raw, err)
	}
	if n < 65525 {
		return fmt.Errorf("%s: ESP: FAT32 with %d clusters (%d-byte sectors); UEFI firmware needs at least 65525", raw, n, binary.LittleEndian.Uint16(bs[11:13]))
	}
	return nil
}

// fat32Clusters is the number of data clusters of the FAT32 volume whose
// boot sector is bs (Microsoft's FAT specification, section 3.5).
func fat32Clusters(bs []byte) (int64, error) {
	le := binary.LittleEndian
	bps, spc := int64(le.Uint16(bs[11:13])), int64(bs[13])
	reserved, fats := int64(le.Uint16(bs[14:16])), int64(bs[16])
	total, fatSize := int64(le.Uint16(bs[19:21])), int64(le.Uint32(bs[36:40]))
	if total == 0 { // BPB_TotSec16 is 0 when the count needs BPB_TotSec32
		total = int64(le.Uint32(bs[32:36]))
	}
	if le.Uint16(bs[510:512]) != 0xAA55 || bps == 0 || spc == 0 || le.Uint16(bs[22:24]) != 0 || fatSize == 0 {
		return 0, errors.New("not a FAT32 boot sector")
	}
	return (total - reserved - fats*fatSize) / spc, nil
}

// mkosiLabelled are files whose SELinux labels checkMkosiImage reads back,
// one on /usr (EROFS) and one on the root filesystem: a relabel that did
// not run leaves them without security.selinux.
var mkosiLabelled = []string{"/usr/bin/containerd", "/etc/passwd"}

// checkMkosiImage verifies that mkosi's image is what the configuration
// asks for, with Bulwark's own offline readers (no loop devices): a GPT
// with the ESP and ROOT (labelled as in Bulwark's layout) and a /usr and
// /usr verity pair found by their Discoverable Partitions types; one UKI
// in /EFI/Linux whose usrhash= verifies the /usr data against its hash
// tree, with the partition UUIDs as the halves of that hash; /usr readable
// as EROFS and ROOT as ext4; and SELinux labels on mkosiLabelled. It
// returns a one-line description for the report.
func checkMkosiImage(raw string) (string, error) {
	img, err := inspect.Read(raw)
	if err != nil {
		return "", err
	}
	if err := img.Check(raw); err != nil {
		return "", fmt.Errorf("/usr verity: %w", err)
	}
	if err := checkESPFAT32(raw); err != nil {
		return "", err
	}
	v, err := labels.Open(raw)
	if err != nil {
		return "", err
	}
	defer v.Close()
	var parts, labelled []string
	for _, p := range img.Partitions {
		parts = append(parts, fmt.Sprintf("%s %q %s", cmp.Or(p.Role, "?"), p.Label, progress.Bytes(p.Size)))
	}
	for _, p := range mkosiLabelled {
		f, err := v.Lookup(p)
		if err != nil {
			return "", fmt.Errorf("SELinux relabel: %w", err)
		}
		labelled = append(labelled, p+" "+f.Label)
	}
	return fmt.Sprintf("partitions: %s; UKI %s with usrhash=%s… verified against the /usr hash tree; /usr is EROFS, ROOT ext4; labels: %s",
		strings.Join(parts, ", "), img.UKIs[0], img.USRHash[:12], strings.Join(labelled, ", ")), nil
}
