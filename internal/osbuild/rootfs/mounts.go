package rootfs

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// DetachMounts lazily unmounts whatever is still mounted under root,
// deepest first, and fails if anything is left. mmdebstrap mounts /proc
// (and more) into the tree it builds and only warns when it cannot unmount
// them at the end ("umount: target is busy", e.g. while another process
// walks the tree): a rootfs cached with a live /proc in it is copied into
// every later build through /proc/<pid>/root, the whole host over and
// over, until the disk is full (2026-12-07: 75 GB of one pagemap).
// A lazy unmount takes the mount out of the tree at once even if busy.
func DetachMounts(root string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		return nil, fmt.Errorf("listing mounts under %s: %w", root, err)
	}
	var points []string
	for _, m := range ms {
		if m.Mountpoint != root {
			points = append(points, m.Mountpoint)
		}
	}
	// Deepest first: a mount under /proc (binfmt_misc) before /proc.
	sort.Slice(points, func(i, j int) bool { return strings.Count(points[i], "/") > strings.Count(points[j], "/") })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return points, fmt.Errorf("unmounting %s, left mounted in the rootfs: %w", p, err)
		}
	}
	left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		return points, fmt.Errorf("listing mounts under %s: %w", root, err)
	}
	for _, m := range left {
		if m.Mountpoint != root {
			return points, fmt.Errorf("%s is still mounted inside the rootfs %s after unmounting", m.Mountpoint, root)
		}
	}
	return points, nil
}
