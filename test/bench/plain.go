package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vincent-petithory/dataurl"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/osbuild/disk"
	"github.com/bulwark/bulwark/internal/osbuild/esp"
	"github.com/bulwark/bulwark/internal/osbuild/fsimage"
	"github.com/bulwark/bulwark/internal/runlog"
)

// The plain image is what a user would run instead: Debian trixie with the
// spec's packages at the lock's versions (the same kernel, the same
// docker.io), less Bulwark's security stack and image machinery, booted the
// stock Debian way: an initramfs-tools initrd and kernel on the ESP behind a
// systemd-boot Type #1 entry, root on one ext4 partition, no verity, no
// SELinux. Docker gets the example node's TLS listener the Debian way
// (/etc/default/docker and daemon.json), baked in: there is no first-boot
// configuration, so that cost is Bulwark's alone.

// plainRecipe changes whenever the plain image is made differently, so a
// cached one from an older recipe is rebuilt.
const plainRecipe = "plain-v2"

// bulwarkOnly are the spec's packages the plain image leaves out.
var bulwarkOnly = []string{"selinux-policy-default", "policycoreutils", "auditd", "lxcfs", "dracut", "systemd-cryptsetup", "systemd-repart"}

// plainExtra are what a stock install boots with instead.
var plainExtra = []string{"initramfs-tools"}

const (
	plainDiskSize = 4 << 30
	plainESPSize  = 256 << 20
)

// plainPackages lists the plain image's packages for arch a, pinned to the
// lock's versions where the lock has them (all of the spec's do; the
// versioned kernel package too).
func plainPackages(spec *imagespec.Spec, lock *imagespec.Lock, a string) []string {
	pins := lock.Architectures[a].Versions()
	names := slices.DeleteFunc(spec.Packages.For(a), func(p string) bool { return slices.Contains(bulwarkOnly, p) })
	names = append(names, plainExtra...)
	for p := range pins {
		// The versioned kernel package (linux-image-6.12.107+deb13-amd64),
		// not the metapackage (linux-image-amd64).
		if v, ok := strings.CutPrefix(p, "linux-image-"); ok && v != "" && v[0] >= '0' && v[0] <= '9' {
			names = append(names, p)
		}
	}
	return apt.PinWhereLocked(names, pins)
}

// plainFile is a file baked into the plain image.
type plainFile struct {
	Path string
	Mode os.FileMode
	Data []byte
}

// plainDaemonKeys are the daemon.json settings the plain image keeps: the
// TLS listener a user would configure by hand. The rest of the rendered
// daemon.json is Bulwark's hardening (authz plugin, runtime wrapper,
// seccomp profile, SELinux, no-new-privileges, ...), which the plain image
// is the baseline without.
var plainDaemonKeys = []string{"tlscacert", "tlscert", "tlskey", "tlsverify", "log-level"}

// plainConfigFiles turns the Ignition config's files into the plain
// image's: Bulwark's own (/etc/bulwark) are left out, daemon.json keeps
// plainDaemonKeys only, and its TCP listeners go to /etc/default/docker,
// because Debian's docker.service passes -H fd:// and a listener in both
// places is an error. network is the spec's systemd-networkd file, for the
// same DHCP.
func plainConfigFiles(ign []byte, network []byte) ([]plainFile, error) {
	var c struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Mode     *int   `json:"mode"`
				Contents struct {
					Source *string `json:"source"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(ign, &c); err != nil {
		return nil, fmt.Errorf("parsing the Ignition config: %w", err)
	}
	var out []plainFile
	var listeners []string
	for _, f := range c.Storage.Files {
		if strings.HasPrefix(f.Path, "/etc/bulwark/") {
			continue
		}
		var data []byte
		if f.Contents.Source != nil {
			u, err := dataurl.DecodeString(*f.Contents.Source)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			data = u.Data
		}
		mode := os.FileMode(0o644)
		if f.Mode != nil {
			mode = os.FileMode(*f.Mode)
		}
		if f.Path == "/etc/docker/daemon.json" {
			var d map[string]any
			if err := json.Unmarshal(data, &d); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			if hosts, ok := d["hosts"].([]any); ok {
				for _, h := range hosts {
					if s, _ := h.(string); strings.HasPrefix(s, "tcp://") {
						listeners = append(listeners, "-H "+s)
					}
				}
			}
			for k := range d {
				if !slices.Contains(plainDaemonKeys, k) {
					delete(d, k)
				}
			}
			var err error
			if data, err = json.MarshalIndent(d, "", "  "); err != nil {
				return nil, err
			}
			data = append(data, '\n')
		}
		out = append(out, plainFile{f.Path, mode, data})
	}
	if len(listeners) == 0 {
		return nil, errors.New("the Ignition config's daemon.json has no tcp:// listener to check dockerd over TLS")
	}
	out = append(out,
		plainFile{"/etc/default/docker", 0o644, []byte(`DOCKER_OPTS="` + strings.Join(listeners, " ") + "\"\n")},
		plainFile{"/etc/systemd/network/50-wired.network", 0o644, network})
	slices.SortFunc(out, func(a, b plainFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// plainInputs gathers everything the plain image of arch a is made from.
func (b *bench) plainInputs(a string) (pkgs []string, files []plainFile, cmdline string, err error) {
	ign, err := os.ReadFile(b.o.Ignition)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w (make example-node renders it)", err)
	}
	network, err := os.ReadFile(filepath.Join(b.spec.OverlayDir("base"), "etc/systemd/network/50-wired.network"))
	if err != nil {
		network = []byte("[Match]\nType=ether\n\n[Network]\nDHCP=yes\n")
	}
	if files, err = plainConfigFiles(ign, network); err != nil {
		return nil, nil, "", err
	}
	return plainPackages(b.spec, b.lock, a), files, strings.Join(b.spec.Kernel.Cmdline.For(a), " "), nil
}

// plainLocation is the plain image's directory in the cache, keyed by its
// inputs, and whether a finished image is there.
func (b *bench) plainLocation(a string) (string, bool, error) {
	pkgs, files, cmdline, err := b.plainInputs(a)
	if err != nil {
		return "", false, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n", plainRecipe, a, strings.Join(b.spec.Debian.Source().Lines(), "\n"), strings.Join(pkgs, " "), cmdline)
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %x\n", f.Path, f.Mode, sha256.Sum256(f.Data))
	}
	dir := filepath.Join(b.o.Cache, "bench-plain", a+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	return dir, exists(filepath.Join(dir, ".complete")), nil
}

// plainImage returns the plain image of arch a, building it when the cache
// has none for the current inputs.
func (b *bench) plainImage(ctx context.Context, a string) (string, error) {
	dir, ok, err := b.plainLocation(a)
	if err != nil {
		return "", err
	}
	raw := filepath.Join(dir, "disk.raw")
	if !ok {
		start := time.Now()
		if err := b.buildPlain(ctx, a, dir); err != nil {
			return "", err
		}
		b.r.Add(plainKey(a, "build_s"), unitSeconds, seconds(time.Since(start)))
	} else {
		fmt.Fprintf(b.w, "bench: reusing the plain %s image %s\n", a, raw)
	}
	apparent, allocated, err := fileSizes(raw)
	if err != nil {
		return "", err
	}
	b.r.Add(plainKey(a, "raw_bytes"), unitBytes, []float64{float64(apparent)})
	b.r.Add(plainKey(a, "raw_allocated_bytes"), unitBytes, []float64{float64(allocated)})
	if v, err := os.ReadFile(filepath.Join(dir, "packages")); err == nil {
		b.r.Facts[plainKey(a, "packages")] = strings.TrimSpace(string(v))
	}
	return raw, nil
}

// buildPlain makes the plain image in dir: mmdebstrap, the config files,
// then the ESP, the ext4 root and the GPT disk with osbuild's own steps.
func (b *bench) buildPlain(ctx context.Context, a, dir string) error {
	target, err := arch.Lookup(a)
	if err != nil {
		return err
	}
	pkgs, files, cmdline, err := b.plainInputs(a)
	if err != nil {
		return err
	}
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	log := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".log")
	fmt.Fprintf(b.w, "bench: building the plain %s image (%d packages, log: %s)\n", a, len(pkgs), log)
	logf, err := os.Create(log)
	if err != nil {
		return err
	}
	defer logf.Close()
	// The plain image takes packages the lock does not have (plainExtra),
	// so it installs from the release's suites, not from the package cache.
	args := append(apt.MmdebstrapArgs("apt", target.Debian, pkgs), b.spec.Debian.Release, rootfs)
	args = append(args, b.spec.Debian.Source().Lines()...)
	err = runlog.Run(ctx, runlog.Cmd{Name: "mmdebstrap", Log: logf, Env: []string{"LC_ALL=C.UTF-8"}, Args: args})
	if err != nil {
		return fmt.Errorf("mmdebstrap (log: %s): %w", log, err)
	}
	for _, f := range files {
		p := filepath.Join(rootfs, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "systemctl", "--root="+rootfs, "enable", "systemd-networkd.service").CombinedOutput(); err != nil {
		return fmt.Errorf("enabling systemd-networkd: %w: %s", err, out)
	}
	return b.assemblePlain(ctx, target, rootfs, tmp, dir, pkgs, cmdline)
}

// assemblePlain makes the disk from a finished rootfs: ESP with
// systemd-boot, the kernel, the initrd and a Type #1 entry; ext4 root.
func (b *bench) assemblePlain(ctx context.Context, target arch.Arch, rootfs, tmp, dir string, pkgs []string, cmdline string) error {
	kernels, _ := filepath.Glob(filepath.Join(rootfs, "boot/vmlinuz-*"))
	initrds, _ := filepath.Glob(filepath.Join(rootfs, "boot/initrd.img-*"))
	if len(kernels) != 1 || len(initrds) != 1 {
		return fmt.Errorf("want one kernel and one initrd in %s/boot, found %d and %d", rootfs, len(kernels), len(initrds))
	}
	seed := "bench-plain/" + target.Name
	l := plainLayout(target, seed)
	root := l.Get(layout.Root)
	entry := fmt.Sprintf("title Debian GNU/Linux (plain, bench)\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTUUID=%s rw %s\n", strings.ToLower(root.UUID), cmdline)
	epoch := time.Unix(b.lock.SourceDateEpoch, 0).UTC()
	espImg, rootImg := filepath.Join(tmp, "esp.img"), filepath.Join(tmp, "root.img")
	// esp.Build sets SOURCE_DATE_EPOCH in this process for go-diskfs; the
	// bench's later children must not inherit it.
	if old, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok {
		defer os.Setenv("SOURCE_DATE_EPOCH", old)
	} else {
		defer os.Unsetenv("SOURCE_DATE_EPOCH")
	}
	err := esp.Build(espImg, plainESPSize, []esp.File{
		{Path: "/EFI/BOOT/" + target.EFIBoot, Source: filepath.Join(rootfs, "usr/lib/systemd/boot/efi", target.SystemdBoot)},
		{Path: "/loader/loader.conf", Data: []byte("timeout 0\neditor no\n")},
		{Path: "/loader/entries/debian.conf", Data: []byte(entry)},
		{Path: "/vmlinuz", Source: kernels[0]},
		{Path: "/initrd.img", Source: initrds[0]},
	}, epoch)
	if err != nil {
		return err
	}
	tools, err := b.toolRoot(ctx)
	if err != nil {
		return err
	}
	if err := fsimage.Ext4(ctx, tools, rootfs, rootImg, root.Size, "root", layout.DerivedUUID(seed, "root-fs"), epoch); err != nil {
		return err
	}
	raw := filepath.Join(tmp, "disk.raw")
	if err := disk.Write(raw, l, map[string]string{layout.ESP: espImg, layout.Root: rootImg}, func(string, int64, int64) {}); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(raw, filepath.Join(dir, "disk.raw")); err != nil {
		return err
	}
	info := fmt.Sprintf("kernel %s; %s\n", strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-"), strings.Join(pkgs, " "))
	if err := os.WriteFile(filepath.Join(dir, "packages"), []byte(info), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

// plainLayout is a two-partition GPT: the ESP and one root partition of
// the Discoverable Partitions type for the arch, filling the disk.
func plainLayout(target arch.Arch, seed string) *layout.Layout {
	start := int64(layout.Align)
	rootStart := start + plainESPSize
	rootSize := (plainDiskSize - layout.Align - rootStart) / layout.Align * layout.Align
	return &layout.Layout{DiskSize: plainDiskSize, DiskGUID: layout.DerivedUUID(seed, "disk"), Parts: []layout.Partition{
		{Number: 1, Label: layout.ESP, Type: arch.ESPType, UUID: layout.DerivedUUID(seed, layout.ESP), Start: start, Size: plainESPSize},
		{Number: 2, Label: layout.Root, Type: target.RootType, UUID: layout.DerivedUUID(seed, layout.Root), Start: rootStart, Size: rootSize},
	}}
}
