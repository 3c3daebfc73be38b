package osbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/bulwark/bulwark/internal/signedsums"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/customize"
	"github.com/bulwark/bulwark/internal/osbuild/disk"
	"github.com/bulwark/bulwark/internal/osbuild/esp"
	"github.com/bulwark/bulwark/internal/osbuild/fsimage"
	"github.com/bulwark/bulwark/internal/osbuild/imagecache"
	"github.com/bulwark/bulwark/internal/osbuild/labeling"
	"github.com/bulwark/bulwark/internal/osbuild/rootfs"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/osbuild/treedigest"
	"github.com/bulwark/bulwark/internal/osbuild/uki"
	"github.com/bulwark/bulwark/internal/outputs"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/runlog"
	"github.com/bulwark/bulwark/internal/verity"
)

func (b *build) source() apt.Source { return b.spec.Debian.Source() }

func (b *build) path(name string) string { return filepath.Join(b.work, name) }

// stepTools makes (or reuses) the native tool root from the locked tools.
func (b *build) stepTools(ctx context.Context, st *progress.Step) error {
	ts, err := toolSpec(b.spec, b.lock, b.pkgs, b.path("repo-tools"))
	if err != nil {
		return err
	}
	dir, err := toolroot.Ensure(ctx, b.cache(), ts, func(s string) { st.Printf("%s", s) })
	if err != nil {
		return err
	}
	b.tools = dir
	st.Done("%d packages of %s for %s", len(ts.Pins), b.spec.Debian.Release, ts.Arch)
	return nil
}

// stepRootfs assembles the rootfs, or reuses the cached one built from the
// same lock, and copies it into the work directory.
func (b *build) stepRootfs(ctx context.Context, st *progress.Step) error {
	cached := b.rootfsDir()
	if cachedir.Complete(cached) {
		st.Printf("reusing cached rootfs %s", cached)
	} else {
		tmp, err := cachedir.Begin(cached)
		if err != nil {
			return err
		}
		ap := b.lock.Architectures[b.arch.Name]
		repo, err := b.pkgs.Repo(ctx, b.path("repo-"+b.arch.Debian), b.spec.Debian.Release, items(b.spec, ap))
		if err != nil {
			return err
		}
		st.Printf("assembling %d packages for %s with mmdebstrap (log: %s)", len(b.lock.Architectures[b.arch.Name].Packages), b.arch.Debian, cached+".log")
		err = rootfs.Build(ctx, rootfs.Options{
			Arch: b.arch, Release: b.spec.Debian.Release, Repo: repo, Pins: ap.Versions(),
			AptSources: b.source().Deb822(), Out: tmp, Epoch: b.epoch, LogFile: cached + ".log", Step: st,
			SemoduleRecorder: toolroot.SemoduleRecorder,
		})
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		st.Printf("compiling the SELinux policy natively")
		n, err := toolroot.ReplaySemodule(ctx, b.tools, tmp)
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		st.Printf("replayed %d semodule call(s)", n)
		st.Printf("building the initrd natively (dracut --sysroot from the tool root)")
		logf, err := os.OpenFile(cached+".log", os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		err = rootfs.Initrd(ctx, rootfs.InitrdOptions{Arch: b.arch, Tools: b.tools, Root: tmp, Drivers: b.spec.Kernel.InitrdDrivers, Epoch: b.epoch, Log: logf})
		logf.Close()
		if err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("%w (log: %s)", err, cached+".log")
		}
		if err := cachedir.Finish(tmp, cached); err != nil {
			return err
		}
	}
	root := b.path("root")
	// A cache from an older osbuild may hold a mount mmdebstrap left
	// behind (rootfs.DetachMounts says why); -x keeps the copy from
	// following one into the host's files in any case.
	if left, err := rootfs.DetachMounts(cached); err != nil {
		return err
	} else if len(left) > 0 {
		st.Printf("unmounted what was left mounted in the cached rootfs: %s", strings.Join(left, ", "))
	}
	if _, err := runlog.Output(ctx, "cp", "-a", "-x", "--reflink=auto", cached, root); err != nil {
		return fmt.Errorf("copying cached rootfs: %w", err)
	}
	if err := cachedir.Unmark(root); err != nil {
		return err
	}
	pkgs, err := rootfs.Installed(root)
	if err != nil {
		return err
	}
	b.img.Packages = map[string]manifest.Package{}
	locked := b.lock.Architectures[b.arch.Name].Packages
	for n, v := range pkgs {
		l := locked[n]
		if l.Version != v {
			return fmt.Errorf("rootfs has %s=%s, the lock says %q", n, v, l.Version)
		}
		b.img.Packages[n] = manifest.Package{Version: v, Suite: l.Suite, SHA256: l.SHA256}
	}
	mods, err := os.ReadDir(filepath.Join(root, "usr/lib/modules"))
	if err != nil || len(mods) != 1 {
		return fmt.Errorf("expected exactly one kernel in /usr/lib/modules, found %d (%v)", len(mods), err)
	}
	b.img.Kernel = mods[0].Name()
	// The kernel and initrd go into the UKI, not into the image's /boot.
	for src, dst := range map[string]string{"boot/vmlinuz-" + b.img.Kernel: "vmlinuz", rootfs.InitrdPath: "initrd.img"} {
		if err := os.Rename(filepath.Join(root, src), b.path(dst)); err != nil {
			return fmt.Errorf("taking %s out of the rootfs: %w", src, err)
		}
	}
	st.Done("%d packages, kernel %s", len(pkgs), b.img.Kernel)
	return nil
}

// stepGoBinaries cross-compiles the spec's Go programs for the image's arch,
// reproducibly (-trimpath, no build ID, no VCS stamp: the git revision and
// dirty flag would make every commit, even one to the README, change the
// image), statically (no cgo).
func (b *build) stepGoBinaries(ctx context.Context, st *progress.Step) error {
	goarch := b.arch.GoArch
	for _, gb := range b.spec.GoBinaries {
		out := b.path(filepath.Join("gobin", filepath.Base(gb.Path)))
		err := runlog.Run(ctx, runlog.Cmd{Name: "go", Dir: b.spec.Dir,
			Args: []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, gb.Package},
			Env:  []string{"GOOS=linux", "GOARCH=" + goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly"}})
		if err != nil {
			return fmt.Errorf("building %s for %s: %w", gb.Package, goarch, err)
		}
		d, err := manifest.FileDigest(out)
		if err != nil {
			return err
		}
		b.img.Inputs[gb.Package+" ("+goarch+" binary)"] = d
		b.install[gb.Path] = customize.InstallFile{Source: out, Mode: 0o755}
		st.Printf("%s -> %s", gb.Package, gb.Path)
	}
	for _, u := range b.spec.Units.Files {
		b.install[filepath.Join("/usr/lib/systemd/system", u)] = customize.InstallFile{Source: b.spec.UnitFile(u), Mode: 0o644}
	}
	// The docker floor: in /usr, where verity keeps it and nodecfg apply
	// merges every node's settings over it, and as the daemon.json of a
	// node that was given no config. Both come from the copy built into
	// nodecfg, so render checks against exactly what the node enforces.
	floor := b.path("floor-daemon.json")
	if err := os.WriteFile(floor, dockerfloor.Embedded(), 0o644); err != nil {
		return err
	}
	b.install[dockerfloor.NodePath] = customize.InstallFile{Source: floor, Mode: 0o644}
	b.install[nodepaths.DaemonJSON] = customize.InstallFile{Source: floor, Mode: 0o644}
	d, err := manifest.FileDigest(floor)
	if err != nil {
		return err
	}
	b.img.Inputs["docker floor ("+dockerfloor.NodePath+")"] = d
	st.Done("%d Go binaries, %d unit files", len(b.spec.GoBinaries), len(b.spec.Units.Files))
	return nil
}

// installUpdater writes systemd-sysupdate's transfer definitions for the
// image into /usr, and, when the build signs its outputs, the public key
// sysupdate checks an update's SHA256SUMS.gpg with: the image trusts the
// key its own release was signed with.
func (b *build) installUpdater(ctx context.Context, st *progress.Step) error {
	dir := filepath.Join(b.path("root"), sysupdate.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range sysupdate.Definitions(b.spec.Name, b.arch.Systemd) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	if b.o.SignKey == "" {
		st.Printf("update definitions in %s; no update keyring (no --sign-key): this image cannot verify, so cannot take, updates", sysupdate.Dir)
		return nil
	}
	key, err := signedsums.ExportPublic(ctx, b.o.SignKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.path("root"), sysupdate.Keyring), key, 0o644); err != nil {
		return fmt.Errorf("installing the update keyring: %w", err)
	}
	st.Printf("update definitions in %s; updates verified with %s's key (%s)", sysupdate.Dir, b.o.SignKey, sysupdate.Keyring)
	return nil
}

func (b *build) stepCustomize(ctx context.Context, st *progress.Step) error {
	err := customize.Apply(ctx, customize.Options{
		Root: b.path("root"), Overlays: b.overlayDirs(), Install: b.install,
		Enable: b.spec.Units.Enable, Disable: b.spec.Units.Disable, Mask: b.spec.Units.Mask,
		Hostname: b.spec.Name, RootPartUUID: b.layout.Get(layout.Root).UUID, DockerPartUUID: dockerPartUUID(b.layout),
		SELinuxPolicy: b.spec.SELinux.Policy, SELinuxMode: b.spec.SELinux.Mode,
		OSRelease: map[string]string{"IMAGE_ID": b.spec.Name, "IMAGE_VERSION": b.version(), "VARIANT_ID": "bulwark", "VARIANT": "Bulwark container host"},
		Epoch:     b.epoch,
		Tools:     b.tools,
	})
	if err != nil {
		return err
	}
	if err := b.installUpdater(ctx, st); err != nil {
		return err
	}
	b.img.Version = b.version()
	st.Done("%d overlays, %d units enabled, %d masked; version %s", len(b.overlayDirs()), len(b.spec.Units.Enable), len(b.spec.Units.Mask), b.img.Version)
	return nil
}

func (b *build) stepLabel(ctx context.Context, st *progress.Step) error {
	root := b.path("root")
	if err := labeling.Apply(ctx, b.tools, root, b.spec.SELinux.Policy); err != nil {
		return err
	}
	bad, err := labeling.Unlabeled(root, 20)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("files left without an SELinux label (policy %s): %s", b.spec.SELinux.Policy, strings.Join(bad, ", "))
	}
	st.Done("every file labelled by policy %q", b.spec.SELinux.Policy)
	return nil
}

// stepUSR moves /usr out of the tree (ROOT keeps an empty, labelled mount
// point) and builds its read-only image.
func (b *build) stepUSR(ctx context.Context, st *progress.Step) error {
	root, usr := b.path("root"), b.path("usr")
	lbl, err := labeling.Get(filepath.Join(root, "usr"))
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(root, "usr"), usr); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, "usr"), 0o755); err != nil {
		return err
	}
	if err := labeling.Set(filepath.Join(root, "usr"), lbl); err != nil {
		return err
	}
	if err := customize.ClampTimes(root, b.epoch); err != nil {
		return err
	}
	part := b.layout.Get(layout.USRA)
	size, reused, err := b.usrImage(ctx, st, usr, b.path("usr.img"))
	if err != nil {
		return err
	}
	if size > part.Size {
		return fmt.Errorf("%s: $.disk.usr: the /usr filesystem is %s but USR-A holds %s; raise disk.usr", b.spec.File, progress.Bytes(size), progress.Bytes(part.Size))
	}
	b.img.USRBytes = size
	b.files[layout.USRA] = b.path("usr.img")
	how := "built"
	if reused {
		how = "reused"
	}
	st.Done("%s of %s partition (%.0f%%), %s", progress.Bytes(size), progress.Bytes(part.Size), 100*float64(size)/float64(part.Size), how)
	return nil
}

// usrImageRecipe changes whenever what goes into the /usr image's cache key
// changes.
const usrImageRecipe = "usr-erofs-v1"

// usrImage writes the EROFS image of the tree at usr to out, or links the
// one an earlier build made from an identical tree with the same tools and
// options: the tree is hashed (a second or two) instead of compressed
// again (about ten). The image is read-only from here on (verity and disk
// only read it), which the hard link into the cache relies on.
func (b *build) usrImage(ctx context.Context, st *progress.Step, usr, out string) (size int64, reused bool, err error) {
	uuid := layout.DerivedUUID(b.spec.Name+"/"+b.arch.Name, "usr-fs")
	tree, err := treedigest.Digest(usr)
	if err != nil {
		return 0, false, err
	}
	key := cachedir.Key(usrImageRecipe, filepath.Base(b.tools), uuid, b.spec.Disk.USRCompression, strconv.FormatInt(b.epoch.Unix(), 10), tree)
	cache := imagecache.Cache{Dir: b.cache().Images(), Keep: 2}
	prefix := cachedir.USRImagePrefix(b.arch.Name)
	if b.o.FreshUSR {
		st.Printf("not looking in the /usr image cache (fresh /usr asked for)")
	} else if ok, err := cache.Get(prefix, key, out); err != nil {
		return 0, false, err
	} else if ok {
		st.Printf("reusing cached /usr image %s-%s (tree %s unchanged)", prefix, key, tree[:16])
		fi, err := os.Stat(out)
		if err != nil {
			return 0, false, err
		}
		return fi.Size(), true, nil
	}
	st.Printf("mkfs.erofs %s (compression: %s; tree %s)", usr, orNone(b.spec.Disk.USRCompression), tree[:16])
	if size, err = fsimage.EROFS(ctx, b.tools, usr, out, uuid, b.spec.Disk.USRCompression, b.epoch); err != nil {
		return 0, false, err
	}
	if err := cache.Put(prefix, key, out); err != nil {
		// The image is built and correct; only the next build loses.
		st.Printf("warning: not cached: %v", err)
	}
	return size, false, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (b *build) stepVerity(ctx context.Context, st *progress.Step) error {
	in, err := os.Open(b.path("usr.img"))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(b.path("usr-verity.img"))
	if err != nil {
		return err
	}
	defer out.Close()
	seed := sha256.Sum256([]byte("bulwark-verity-salt\x00" + b.spec.Name + "\x00" + b.arch.Name))
	var uuid [16]byte
	copy(uuid[:], seed[16:])
	size := b.img.USRBytes
	tree, err := verity.Format(in, size, out, seed[:], uuid, func(done int64) { st.Progress("hashing", done, size, "bytes") })
	if err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if part := b.layout.Get(layout.USRAVerity); tree.HashSize > part.Size {
		return fmt.Errorf("%s: $.disk.usrVerity: the hash tree is %d bytes but USR-A-VERITY holds %d", b.spec.File, tree.HashSize, part.Size)
	}
	if err := b.layout.SetUSRHash(tree.RootHash); err != nil {
		return err
	}
	b.img.VerityRootHash = hex.EncodeToString(tree.RootHash)
	b.files[layout.USRAVerity] = b.path("usr-verity.img")
	st.Done("root hash %s, tree %s", b.img.VerityRootHash, progress.Bytes(tree.HashSize))
	return nil
}

// dockerPartUUID is the DOCKER partition's UUID, or "" without one.
func dockerPartUUID(l *layout.Layout) string {
	if p := l.Find(layout.Docker); p != nil {
		return p.UUID
	}
	return ""
}

func (b *build) stepRoot(ctx context.Context, st *progress.Step) error {
	part := b.layout.Get(layout.Root)
	// DOCKER's filesystem is made from the labelled /var/lib/docker of the
	// tree (customize made it); ROOT keeps the empty mount point.
	if dp := b.layout.Find(layout.Docker); dp != nil {
		dir := filepath.Join(b.path("root"), nodepaths.DockerRoot)
		if err := fsimage.Ext4(ctx, b.tools, dir, b.path("docker.img"), dp.Size, layout.Docker, layout.DerivedUUID(b.spec.Name+"/"+b.arch.Name, "docker-fs"), b.epoch); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(dir, "lost+found")); err != nil {
			return fmt.Errorf("emptying ROOT's %s mount point: %w", nodepaths.DockerRoot, err)
		}
		b.files[layout.Docker] = b.path("docker.img")
	}
	if err := fsimage.Ext4(ctx, b.tools, b.path("root"), b.path("root.img"), part.Size, "ROOT", layout.DerivedUUID(b.spec.Name+"/"+b.arch.Name, "root-fs"), b.epoch); err != nil {
		return err
	}
	empty := b.path("oem")
	if err := os.Mkdir(empty, 0o755); err != nil {
		return err
	}
	if err := fsimage.Ext4(ctx, b.tools, empty, b.path("oem.img"), b.layout.Get(layout.OEM).Size, "OEM", layout.DerivedUUID(b.spec.Name+"/"+b.arch.Name, "oem-fs"), b.epoch); err != nil {
		return err
	}
	b.files[layout.Root], b.files[layout.OEM] = b.path("root.img"), b.path("oem.img")
	st.Done("ROOT %s, OEM %s", progress.Bytes(part.Size), progress.Bytes(b.layout.Get(layout.OEM).Size))
	return nil
}

// Cmdline returns the kernel command line of the image: root, the verity
// protected /usr, SELinux as the major LSM, then the spec's additions.
func (b *build) cmdline() string {
	enforcing := "0"
	if b.spec.SELinux.Mode == "enforcing" {
		enforcing = "1"
	}
	lower := strings.ToLower
	args := []string{
		"root=PARTUUID=" + lower(b.layout.Get(layout.Root).UUID), "rootfstype=ext4", "rw",
		"mount.usr=/dev/mapper/usr", "mount.usrfstype=erofs", "mount.usrflags=ro",
		"usrhash=" + b.img.VerityRootHash,
		"systemd.verity_usr_data=/dev/disk/by-partuuid/" + lower(b.layout.Get(layout.USRA).UUID),
		"systemd.verity_usr_hash=/dev/disk/by-partuuid/" + lower(b.layout.Get(layout.USRAVerity).UUID),
		"lsm=landlock,lockdown,yama,integrity,selinux,bpf", "selinux=1", "enforcing=" + enforcing,
	}
	return strings.Join(append(args, b.spec.Kernel.Cmdline.For(b.arch.Name)...), " ")
}

func (b *build) stepESP(ctx context.Context, st *progress.Step) error {
	b.img.Cmdline = b.cmdline()
	usr := b.path("usr")
	ukiPath := b.path("bulwark.efi")
	err := uki.Build(ctx, uki.Options{
		Tools: b.tools, Work: b.work, Kernel: b.path("vmlinuz"), Initrd: b.path("initrd.img"),
		Stub: filepath.Join(usr, "lib/systemd/boot/efi", b.arch.Stub), OSRelease: filepath.Join(usr, "lib/os-release"),
		Uname: b.img.Kernel, Cmdline: b.img.Cmdline, Out: ukiPath,
	})
	if err != nil {
		return err
	}
	sdboot := filepath.Join(usr, "lib/systemd/boot/efi", b.arch.SystemdBoot)
	// No menu and no editor: the command line carries the verity hash.
	loaderConf := "timeout 0\neditor no\nrandom-seed-mode off\n"
	ukiPath, sdboot, loaderConf, keyFiles, err := b.secureBoot(ctx, st, ukiPath, sdboot, loaderConf)
	if err != nil {
		return err
	}
	files := []esp.File{
		{Path: "/EFI/BOOT/" + b.arch.EFIBoot, Source: sdboot},
		{Path: "/EFI/systemd/" + b.arch.SystemdBoot, Source: sdboot},
		// The name systemd-sysupdate's UKI transfer matches (no boot
		// counter: the installed entry is good).
		{Path: b.sysupdate().UKIPath(), Source: ukiPath},
		{Path: "/loader/loader.conf", Data: []byte(loaderConf)},
	}
	files = append(files, keyFiles...)
	part := b.layout.Get(layout.ESP)
	if err := esp.Build(b.path("esp.img"), part.Size, files, b.epoch); err != nil {
		return err
	}
	b.files[layout.ESP] = b.path("esp.img")
	b.uki = ukiPath
	fi, _ := os.Stat(ukiPath)
	st.Done("UKI %s, cmdline: %s", progress.Bytes(fi.Size()), b.img.Cmdline)
	return nil
}

func (b *build) stepDisk(ctx context.Context, st *progress.Step) error {
	raw := b.output(b.file(outputs.Raw))
	err := disk.Write(raw, b.layout, b.files, func(label string, done, total int64) {
		st.Progress("writing "+label, done, total, "bytes")
	})
	if err != nil {
		return err
	}
	st.Done("%s, %d partitions", progress.Bytes(b.layout.DiskSize), len(b.layout.Parts))
	return nil
}

func (b *build) stepOutputs(ctx context.Context, st *progress.Step) error {
	in := outputs.Build{Image: b.spec.Name, Arch: b.arch.Name, SystemdArch: b.arch.Systemd, Version: b.version(),
		Raw: b.partial(b.file(outputs.Raw)), USR: b.files[layout.USRA], USRVerity: b.files[layout.USRAVerity], UKI: b.uki,
		USRUUID: b.layout.Get(layout.USRA).UUID, VerityUUID: b.layout.Get(layout.USRAVerity).UUID}
	for _, name := range b.spec.Outputs {
		o, ok := outputs.Lookup(name)
		if !ok {
			return fmt.Errorf("unknown output %q", name) // the spec's validation refuses it first
		}
		if o.Write == nil {
			continue // an earlier step wrote it
		}
		if err := o.Write(ctx, in, b.output); err != nil {
			return err
		}
	}
	for tmp, final := range b.outputs {
		if _, ok := b.img.Outputs[final]; ok {
			continue // hashed by an earlier step
		}
		d, err := manifest.FileDigest(tmp)
		if err != nil {
			return err
		}
		b.img.Outputs[final] = d
	}
	b.img.Steps = b.rep.Timings
	if err := b.commitOutputs(); err != nil {
		return err
	}
	if err := manifest.Update(b.o.OutDir, b.img); err != nil {
		return err
	}
	for final, d := range b.img.Outputs {
		st.Printf("%s  sha256:%s", final, d)
	}
	return b.signSums(ctx, st)
}
