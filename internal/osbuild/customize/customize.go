// Package customize turns an installed Debian rootfs into a Bulwark image
// tree: it lays the spec's overlays over it, writes the files osbuild owns
// (fstab, SELinux config, os-release fields), enables, disables and masks
// units (what it enables and masks in /usr, vendor.go), and removes
// per-machine and per-build state (SSH host keys, machine-id, logs, apt
// lists) so that every node is unique at first boot and every build of the
// same inputs is byte-identical.
package customize

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/runlog"
)

// Options says what to do to the tree at Root.
type Options struct {
	Root     string
	Overlays []string // overlay source directories, applied in order
	// Install maps image paths to host files (unit files from units/,
	// cross-compiled Go binaries), copied after the overlays.
	Install      map[string]InstallFile
	Enable       []string
	Disable      []string
	Mask         []string
	Hostname     string
	RootPartUUID string
	// DockerPartUUID, if set, is the DOCKER partition: fstab mounts it on
	// /var/lib/docker, which the tree then carries (labelled with the rest,
	// so the build can make DOCKER's filesystem from it).
	DockerPartUUID             string
	SELinuxPolicy, SELinuxMode string
	OSRelease                  map[string]string // extra os-release fields (IMAGE_ID, ...)
	Epoch                      time.Time         // every mtime is clamped to this
	// Tools is the native tool root. With it, Apply also creates the
	// sysusers.d users (see updated.go); tests of the file work leave it
	// empty.
	Tools string
}

// InstallFile is a host file and the mode it gets in the image.
type InstallFile struct {
	Source string
	Mode   fs.FileMode
}

// Apply customizes the tree.
func Apply(ctx context.Context, o Options) error {
	for _, ov := range o.Overlays {
		if err := CopyTree(ov, o.Root); err != nil {
			return fmt.Errorf("applying overlay %s: %w", ov, err)
		}
	}
	if err := moveToBin(o.Root); err != nil {
		return err
	}
	dsts := make([]string, 0, len(o.Install))
	for dst := range o.Install {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		f := o.Install[dst]
		target := filepath.Join(o.Root, dst)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := copyFile(f.Source, target, f.Mode); err != nil {
			return fmt.Errorf("installing %s: %w", dst, err)
		}
	}
	fstab := fmt.Sprintf("# Written by osbuild. /usr is mounted from dm-verity by the initrd (mount.usr=).\n"+
		"PARTUUID=%s / ext4 defaults,x-systemd.growfs 0 1\n", strings.ToLower(o.RootPartUUID))
	if o.DockerPartUUID != "" {
		fstab = strings.Replace(fstab, "/ ext4 defaults,x-systemd.growfs", "/ ext4 defaults", 1) + dockerFstab(o.DockerPartUUID)
		if err := dockerTree(o.Root); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/fstab":          fstab,
		"etc/hostname":       o.Hostname + "\n",
		"etc/machine-id":     "", // empty: systemd generates one at first boot
		"etc/selinux/config": fmt.Sprintf("# Written by osbuild.\nSELINUX=%s\nSELINUXTYPE=%s\n", o.SELinuxMode, o.SELinuxPolicy),
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(o.Root, p), []byte(c), 0o644); err != nil {
			return fmt.Errorf("writing /%s: %w", p, err)
		}
	}
	if err := addOSRelease(filepath.Join(o.Root, "usr/lib/os-release"), o.OSRelease); err != nil {
		return err
	}
	if err := setUnits(ctx, o.Root, o.Enable, o.Disable, o.Mask); err != nil {
		return err
	}
	if o.Tools != "" {
		if err := sysusers(ctx, o.Tools, o.Root); err != nil {
			return err
		}
	}
	if err := removeMachineState(o.Root); err != nil {
		return err
	}
	return ClampTimes(o.Root, o.Epoch)
}

// setUnits enables, disables and masks units in root with systemctl, and
// moves what it enabled and masked to /usr (vendor.go).
func setUnits(ctx context.Context, root string, enable, disable, mask []string) error {
	before, err := unitLinks(root)
	if err != nil {
		return err
	}
	if err := systemctl(ctx, root, "enable", enable); err != nil {
		return err
	}
	after, err := unitLinks(root)
	if err != nil {
		return err
	}
	if err := moveEnabled(root, before, after, enable); err != nil {
		return err
	}
	if err := systemctl(ctx, root, "disable", disable); err != nil {
		return err
	}
	if err := systemctl(ctx, root, "mask", mask); err != nil {
		return err
	}
	return moveMasks(root, mask)
}

// systemctl runs `systemctl --root=root verb units...`, if there are units.
func systemctl(ctx context.Context, root, verb string, units []string) error {
	if len(units) == 0 {
		return nil
	}
	args := append([]string{"--root=" + root, "--no-reload", verb}, units...)
	if err := runlog.Run(ctx, runlog.Cmd{Name: "systemctl", Args: args}); err != nil {
		return fmt.Errorf("systemctl %s: %w", verb, err)
	}
	return nil
}

// removeMachineState deletes what must differ per node or per build run.
func removeMachineState(root string) error {
	globs := []string{
		"etc/ssh/ssh_host_*", "var/lib/dbus/machine-id", "etc/resolv.conf",
		"var/log/*.log", "var/log/apt/*", "var/log/journal/*", "var/cache/apt/*.bin",
		"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "var/cache/ldconfig/aux-cache",
		"var/cache/debconf/*-old", "var/lib/dpkg/*-old", "boot/*", "vmlinuz*", "initrd.img*",
		"var/lib/systemd/catalog/database", "etc/*-", "var/lib/systemd/random-seed",
	}
	for _, g := range globs {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return err
		}
		for _, p := range m {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
		}
	}
	return nil
}

func addOSRelease(path string, fields map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading os-release: %w", err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		k, _, _ := strings.Cut(l, "=")
		if _, ours := fields[k]; !ours {
			lines = append(lines, l)
		}
	}
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, fields[k]))
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// CopyTree copies src over dst: directories are merged, files and symlinks
// replaced. Modes come from the source (git keeps 0644 and 0755), owners are
// root: overlay files are part of the OS, not of whoever built it.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			os.RemoveAll(target)
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, d.Type())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
		os.RemoveAll(dst)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	return os.Lchown(dst, 0, 0)
}

// ClampTimes sets every access time to epoch and every modification time
// newer than epoch to epoch, without following symlinks, so that filesystem
// images are reproducible: access times record who read what during the
// build (a cold build reads other files than a cached one) and mkfs copies
// them into the image.
func ClampTimes(root string, epoch time.Time) error {
	at := unix.NsecToTimespec(epoch.UnixNano())
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mt := unix.NsecToTimespec(info.ModTime().UnixNano())
		if info.ModTime().After(epoch) {
			mt = at
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{at, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("clamping times of %s: %w", p, err)
		}
		return nil
	})
}
