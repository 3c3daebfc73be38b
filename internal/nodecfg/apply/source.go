package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bulwark/bulwark/internal/nodepaths"
)

// FwCfgNames are the QEMU fw_cfg entries a config may come in, in order:
// Fedora CoreOS's and Flatcar's names, so the same VM tooling works.
var FwCfgNames = nodepaths.FwCfgNames

// OEMConfig is the config's file name on the OEM partition.
const OEMConfig = nodepaths.OEMConfig

// ErrNoConfig means no source had a config: the node comes up with the
// image's defaults (the Docker API only on the local unix socket).
var ErrNoConfig = errors.New("no Ignition config found")

// Find returns the config and where it came from: explicit path, then
// fw_cfg, then the OEM partition (mounted read-only for the read).
func Find(ctx context.Context, explicit string) ([]byte, string, error) {
	if explicit != "" {
		b, err := readConfig(explicit)
		if err != nil {
			return nil, "", fmt.Errorf("reading config: %w", err)
		}
		return b, explicit, nil
	}
	// The fw_cfg sysfs driver is a module in Debian's kernel.
	exec.CommandContext(ctx, "modprobe", "qemu_fw_cfg").Run()
	for _, n := range FwCfgNames {
		p := filepath.Join("/sys/firmware/qemu_fw_cfg/by_name", n, "raw")
		if b, err := readConfig(p); err == nil {
			return b, "fw_cfg " + n, nil
		} else if errors.Is(err, errTooBig) {
			return nil, "", err
		}
	}
	dev := "/dev/disk/by-partlabel/OEM"
	if _, err := os.Stat(dev); err == nil {
		dir, err := os.MkdirTemp("", "nodecfg-oem-")
		if err != nil {
			return nil, "", err
		}
		defer os.Remove(dir)
		// A temporary directory is no mount point in the policy's eyes:
		// label it like /mnt, where mount (mount_t) may mount.
		if err := labelLike(dir, "/mnt"); err != nil {
			return nil, "", err
		}
		if out, err := exec.CommandContext(ctx, "mount", "-o", "ro,nodev,nosuid,noexec", dev, dir).CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("mounting OEM partition: %v: %s", err, out)
		}
		defer exec.Command("umount", dir).Run()
		if b, err := readConfig(filepath.Join(dir, OEMConfig)); err == nil {
			return b, "OEM partition " + OEMConfig, nil
		} else if errors.Is(err, errTooBig) {
			return nil, "", err
		}
	}
	return nil, "", ErrNoConfig
}

// errTooBig is a config found but too large: an error, never a reason to
// go on without one.
var errTooBig = fmt.Errorf("more than the %d MiB nodecfg reads as a config", MaxConfigSize>>20)

// readConfig reads a config, refusing one larger than MaxConfigSize
// before holding it all in memory.
func readConfig(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxConfigSize {
		return nil, fmt.Errorf("%s: %w", p, errTooBig)
	}
	return b, nil
}
