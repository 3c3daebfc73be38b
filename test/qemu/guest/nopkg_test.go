//go:build guest

package guest

// This file sorts before teardown_test.go on purpose: go test runs the
// files in name order, and TestNoSELinuxDenials must see what the walks
// below did.

import (
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/osbuild/nopkg"
	"github.com/bulwark/bulwark/internal/setid"
)

// walkedFS are the filesystem types whose files are the node's own: ROOT,
// the verity /usr, the ESP and the tmpfs mounts (/run, /tmp, /dev/shm), and
// /dev. Kernel views (proc, sysfs, cgroup2, securityfs, ...) and lxcfs's
// FUSE views hold no programs.
var walkedFS = []string{"ext4", "erofs", "tmpfs", "vfat", "devtmpfs"}

// containerStorage holds the workloads' image layers and container
// filesystems, not the node's programs: they run only inside containers,
// where the docker floor's no-new-privileges makes a set-id bit inert.
var containerStorage = []string{"/var/lib/docker", "/var/lib/containerd"}

// TestSetIDPrograms walks every filesystem of the booted node and fails on
// a regular file with a setuid or setgid bit that internal/setid does not
// keep, or a kept one without its bits.
func TestSetIDPrograms(t *testing.T) {
	ms := mounts(t)
	var skipped []string
	skip := func(p string, d fs.DirEntry) bool {
		if slices.Contains(containerStorage, p) {
			skipped = append(skipped, p+" (container storage)")
			return true
		}
		if m, ok := ms[p]; ok && !slices.Contains(walkedFS, m.fstype) {
			skipped = append(skipped, p+" ("+m.fstype+")")
			return true
		}
		return false
	}
	found, err := setid.Find("/", skip)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("set-id files: %v", found)
	t.Logf("not walked: %s", strings.Join(skipped, ", "))
	for _, f := range setid.Unlisted(found) {
		t.Errorf("%s: not on internal/setid's list", f)
	}
	for _, p := range setid.Keep {
		if !slices.ContainsFunc(found, func(f setid.File) bool { return f.Path == p.Path && f.Bits == p.Bits }) {
			t.Errorf("%s: kept by internal/setid but not found with its bits", p.Path)
		}
	}
	// Programs Debian installs set-id and the build strips: still there,
	// without the bits (so the walk did reach them).
	for _, p := range []string{"/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if setid.Bits(fi.Mode()) != 0 {
			t.Errorf("%s: mode %v, want no set-id bits", p, fi.Mode())
		}
	}
}

// TestNoPackageManager fails if apt, dpkg, their databases, configuration,
// caches or logs are on the node.
func TestNoPackageManager(t *testing.T) {
	if left := nopkg.Left("/"); len(left) > 0 {
		t.Errorf("package manager paths on the node: %s", strings.Join(left, ", "))
	}
	for _, p := range []string{"/usr/bin/apt-get", "/usr/bin/dpkg", "/var/lib/dpkg/status"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}
