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

	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
)

// Options locate the parts of the UKI.
type Options struct {
	Tools     string // the tool root, which has ukify and python3-pefile
	Work      string // bound into the tool root; all paths below are in it
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
	for _, p := range []string{o.Kernel, o.Initrd, o.Stub, o.OSRelease} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("building UKI: %w", err)
		}
	}
	args := []string{"ukify", "build", "--linux", o.Kernel, "--initrd", o.Initrd, "--stub", o.Stub,
		"--os-release", "@" + o.OSRelease, "--uname", o.Uname, "--cmdline", o.Cmdline, "--output", o.Out}
	if err := toolroot.Run(ctx, o.Tools, []toolroot.Bind{{Src: o.Work, Dst: o.Work}}, args...); err != nil {
		return fmt.Errorf("building UKI: %w", err)
	}
	return nil
}
