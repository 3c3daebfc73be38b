package rootfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/runlog"
)

// The initrd is built by the native tool root's dracut with --sysroot: the
// image's own dracut modules, binaries, libraries and kernel modules go in,
// but dracut's shell, dracut-install, cpio and gzip run natively. Inside an
// arm64 rootfs under qemu-user the same dracut took 62 s of a cold build
// (2 cores); natively it is a few seconds. Three things dracut does with
// the build host's view, not the sysroot's, are given the sysroot's:
//
//   - library resolution (DRACUT_LDD): what glibc's ldd does, --verify then
//     --list, with the image's own loader run inside the image (qemu-user
//     for a foreign arch). The image's ldd script would do the same at ten
//     times the cost: it is bash under emulation.
//   - the initrd's ld.so.cache (DRACUT_LDCONFIG): the image's ldconfig, run
//     in the image; the build host's writes a cache the image's loader
//     cannot use.
//   - two checks dracut 106 makes against host paths in sysroot mode:
//     `modinfo -k` (the dm module's pre-udev hook) and inst_simple's
//     existence test (/etc/ld.so.conf.d/*.conf). The image's
//     /usr/lib/modules and /etc/ld.so.conf.d are bound over the tool root's
//     for the command, in its own mount namespace.
//
// With these the arm64 and amd64 initrds were byte-for-byte the files of
// the ones built inside the image (2026-11-29, dracut 106-6); only
// build-parameter.txt, which records dracut's arguments, differs.

// InitrdOptions configures one initrd build.
type InitrdOptions struct {
	Arch    arch.Arch
	Tools   string   // the native tool root (toolroot.Ensure), with dracut-core
	Root    string   // the assembled rootfs; the initrd goes to its /boot/initrd.img
	Drivers []string // kernel modules the initrd carries
	Epoch   time.Time
	Log     io.Writer // dracut's output; may be nil
}

// dracutModules are the dracut modules of a systemd-based initrd that opens
// /usr with dm-verity (systemd-veritysetup) and mounts root by PARTUUID.
var dracutModules = []string{"systemd", "systemd-initrd", "systemd-veritysetup", "dracut-systemd",
	"base", "fs-lib", "rootfs-block", "udev-rules", "kernel-modules", "dm"}

// InitrdPath is where Initrd writes the initrd, relative to the rootfs.
const InitrdPath = "boot/initrd.img"

// sysroot is where the rootfs is bound in the tool root for dracut. A fixed
// path, not the rootfs's own: dracut records its arguments in the initrd
// (build-parameter.txt), and the image must not depend on where the cache
// is.
const sysroot = "/sysroot"

// Initrd builds the rootfs's initrd with the tool root's dracut.
func Initrd(ctx context.Context, o InitrdOptions) error {
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return err
	}
	mods, err := os.ReadDir(filepath.Join(root, "usr/lib/modules"))
	if err != nil || len(mods) != 1 {
		return fmt.Errorf("building the initrd: want exactly one kernel in %s/usr/lib/modules, found %d (%v)", root, len(mods), err)
	}
	kver := mods[0].Name()
	// The helpers are bound into the tool root's /run, a tmpfs of the
	// command's own, so the cached tool root is not changed.
	helpers, err := os.MkdirTemp(filepath.Dir(root), ".initrd-helpers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(helpers)
	const ldd, ldconfig = "/run/bulwark/sysroot-ldd", "/run/bulwark/sysroot-ldconfig"
	for name, text := range map[string]string{"sysroot-ldd": lddScript(sysroot, o.Arch.Loader), "sysroot-ldconfig": ldconfigScript(sysroot)} {
		if err := os.WriteFile(filepath.Join(helpers, name), []byte(text), 0o755); err != nil {
			return err
		}
	}
	binds := []toolroot.Bind{
		{Src: root, Dst: sysroot},
		{Src: helpers, Dst: "/run/bulwark"},
		{Src: filepath.Join(root, "usr/lib/modules"), Dst: "/usr/lib/modules"},
		{Src: filepath.Join(root, "etc/ld.so.conf.d"), Dst: "/etc/ld.so.conf.d"},
	}
	c := toolroot.Command(o.Tools, binds, "dracut", "--sysroot", sysroot,
		"--force", "--no-hostonly", "--reproducible", "--quiet",
		"--modules", strings.Join(dracutModules, " "),
		"--drivers", strings.Join(o.Drivers, " "),
		"--kver", kver, filepath.Join(sysroot, InitrdPath))
	c.Env = append(c.Env,
		"DRACUT_LDD="+ldd, "DRACUT_LDCONFIG="+ldconfig,
		// dracut would find the image's own dracut-install in the sysroot.
		"DRACUT_INSTALL=/usr/lib/dracut/dracut-install",
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(o.Epoch.Unix(), 10))
	c.Log = o.Log
	if err := runlog.Run(ctx, c); err != nil {
		return fmt.Errorf("building the %s initrd with the tool root's dracut: %w", o.Arch.Name, err)
	}
	out := filepath.Join(root, InitrdPath)
	fi, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("building the %s initrd: dracut wrote no %s: %w", o.Arch.Name, out, err)
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "I: initrd for %s: %d bytes\n", kver, fi.Size())
	}
	return nil
}

// lddScript is DRACUT_LDD for the image at root: glibc's ldd reduced to
// what dracut-install reads, with the image's loader run in the image.
// dracut passes the file's path as it sees it (under root).
func lddScript(root, loader string) string {
	return `#!/bin/sh
# osbuild: ldd for the image at ` + root + `, run in the image.
f=${1#` + shq(root) + `}
chroot ` + shq(root) + ` ` + shq(loader) + ` --verify "$f" >/dev/null 2>&1
case $? in
0|2) exec chroot ` + shq(root) + ` ` + shq(loader) + ` --list "$f" ;;
esac
printf '\tnot a dynamic executable\n'
exit 1
`
}

// ldconfigScript is DRACUT_LDCONFIG for the image at root: the image's
// ldconfig, run in the image, with -r DIR made relative to it (dracut's -r
// is root itself or the initrd taking shape in root's /var/tmp).
func ldconfigScript(root string) string {
	return `#!/bin/sh
# osbuild: ldconfig for the image at ` + root + `, run in the image.
first=1 prev=
for a do
	if [ -n "$first" ]; then set --; first=; fi
	if [ "$prev" = -r ]; then
		a=${a#` + shq(root) + `}
		[ -n "$a" ] || a=/
	fi
	set -- "$@" "$a"
	prev=$a
done
exec chroot ` + shq(root) + ` /sbin/ldconfig "$@"
`
}

func shq(s string) string { return shellQuote(s) }
