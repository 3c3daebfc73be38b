package osbuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
)

// hostTool is a program the build runs on the host and the Debian package
// that provides it, so a missing tool comes with its install command.
type hostTool struct{ name, pkg string }

var buildTools = []hostTool{
	{"mmdebstrap", "mmdebstrap"}, {"apt-get", "apt"}, {"dpkg-deb", "dpkg"},
	{"mkfs.erofs", "erofs-utils"}, {"mkfs.ext4", "e2fsprogs"}, {"setfiles", "policycoreutils"},
	{"systemctl", "systemd"}, {"qemu-img", "qemu-utils"}, {"/usr/bin/python3", "python3"},
}

// checkHost reports everything missing on the build host at once.
func checkHost(target arch.Arch, needRoot bool) error {
	var errs []error
	if needRoot && os.Geteuid() != 0 {
		errs = append(errs, errors.New("osbuild build must run as root: it runs mmdebstrap in root mode, chroots into the image and sets file owners and SELinux labels (try: sudo osbuild build ...)"))
	}
	var missing []string
	for _, t := range buildTools {
		if _, err := exec.LookPath(t.name); err != nil {
			missing = append(missing, t.pkg)
			errs = append(errs, fmt.Errorf("host tool %s not found (Debian package %s)", t.name, t.pkg))
		}
	}
	if _, err := os.Stat("/usr/lib/python3/dist-packages/pefile.py"); err != nil {
		missing = append(missing, "python3-pefile")
		errs = append(errs, errors.New("python module pefile not found (Debian package python3-pefile), needed by ukify"))
	}
	host, err := arch.Host()
	if err != nil {
		errs = append(errs, err)
	} else if target.Name != host.Name {
		if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-" + target.QEMU); err != nil {
			missing = append(missing, "qemu-user-static", "binfmt-support")
			errs = append(errs, fmt.Errorf("no binfmt handler for %s binaries: maintainer scripts of the image cannot run (install qemu-user-static and binfmt-support, then `update-binfmts --enable`)", target.Debian))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("install with: apt-get install %s   (or: make deps)", strings.Join(missing, " ")))
	}
	return errors.Join(errs...)
}
