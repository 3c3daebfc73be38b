package qemu

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/bulwark/bulwark/internal/nodepaths"
)

// Machine says how to set a VM up around its disk; Prepare and Machine
// turn it into a Config. It is the one set-up sequence (firmware, its
// variable store, the config, fw_cfg) for osbuild boot, the bench and the
// VM tests, which add their own forwards, disks and credentials to the
// Config.
type Machine struct {
	Arch string
	KVM  bool
	// SecureBoot boots SecureBootFirmwares, whose empty variable store is
	// in setup mode.
	SecureBoot bool
	// Ignition, if set, is a config file the VM reads through fw_cfg as
	// first boot's config (nodepaths.FwCfgNames[0]).
	Ignition string
}

// IgnitionFwCfg is the fw_cfg name Machine passes an Ignition config under.
var IgnitionFwCfg = nodepaths.FwCfgNames[0]

// Prepare makes a qcow2 overlay of image in dir, sized size (see
// PrepareDisk), and returns the Config that boots it as m says.
func Prepare(ctx context.Context, m Machine, image, dir, size string) (Config, error) {
	disk, err := PrepareDisk(ctx, image, dir, size)
	if err != nil {
		return Config{}, err
	}
	return m.Config(disk, dir)
}

// Config returns the Config that boots disk (an overlay from PrepareDisk)
// as m says, with the firmware's variable store copied into dir.
func (m Machine) Config(disk, dir string) (Config, error) {
	fws := Firmwares
	if m.SecureBoot {
		fws = SecureBootFirmwares
	}
	fw, ok := fws[m.Arch]
	if !ok {
		return Config{}, fmt.Errorf("qemu: no firmware for architecture %q", m.Arch)
	}
	vars, err := VarsCopy(fw, dir)
	if err != nil {
		return Config{}, err
	}
	c := Config{Arch: m.Arch, Disk: disk, Vars: vars, Firmware: fw, KVM: m.KVM, FwCfg: map[string]string{}}
	if m.Ignition != "" {
		abs, err := filepath.Abs(m.Ignition)
		if err != nil {
			return Config{}, err
		}
		c.FwCfg[IgnitionFwCfg] = abs
	}
	return c, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a Forward.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
