// Package uki builds the unified kernel image (systemd-stub + kernel + initrd
// + command line + os-release) with systemd's ukify, taken from the image's
// own Debian suite and run by the host's python3. The command line inside
// the UKI carries the /usr verity root hash, so the kernel that boots is
// bound to the /usr it verifies.
package uki

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark/bulwark/internal/runlog"
)

// Options locate the parts of the UKI.
type Options struct {
	Ukify     string // path to the ukify script
	Kernel    string
	Initrd    string
	Stub      string
	OSRelease string
	Uname     string
	Cmdline   string
	Out       string
}

// Build writes the UKI to o.Out.
func Build(ctx context.Context, o Options) error {
	for _, p := range []string{o.Ukify, o.Kernel, o.Initrd, o.Stub, o.OSRelease} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("building UKI: %w", err)
		}
	}
	args := []string{o.Ukify, "build", "--linux", o.Kernel, "--initrd", o.Initrd, "--stub", o.Stub,
		"--os-release", "@" + o.OSRelease, "--uname", o.Uname, "--cmdline", o.Cmdline, "--output", o.Out}
	// Debian's python3 carries python3-pefile; a python3 earlier in PATH
	// (pyenv and the like) may not.
	py := "/usr/bin/python3"
	if err := runlog.Run(ctx, runlog.Cmd{Name: py, Args: args, Dir: filepath.Dir(o.Out)}); err != nil {
		return fmt.Errorf("building UKI: %w", err)
	}
	return nil
}
