package customize

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/nodepaths"
)

// dockerFstab is the fstab line of the DOCKER partition: mounted on
// dockerd's data root as part of local-fs.target (so before docker.service,
// which also requires it by RequiresMountsFor=), and grown online after
// systemd-repart has grown the partition at first boot. The mount waits
// for systemd-repart: in the booted system (not the initrd) nothing else
// orders the two, and systemd-growfs, which runs once after the mount,
// would otherwise grow the filesystem to the partition's size before
// repart has grown it.
func dockerFstab(partUUID string) string {
	return fmt.Sprintf("PARTUUID=%s %s ext4 defaults,x-systemd.growfs,x-systemd.after=systemd-repart.service 0 2\n", strings.ToLower(partUUID), nodepaths.DockerRoot)
}

// dockerTree makes dockerd's data root in the tree, with the lost+found
// directory mke2fs would otherwise create unlabelled: the label step gives
// both their file context (container_var_lib_t), and the build makes
// DOCKER's filesystem from this directory, so its root and lost+found carry
// the labels from the first boot (no relabel at boot). The mode is what
// dockerd sets on its root.
func dockerTree(root string) error {
	dir := filepath.Join(root, nodepaths.DockerRoot)
	if err := os.MkdirAll(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		return fmt.Errorf("making %s: %w", nodepaths.DockerRoot, err)
	}
	if err := os.Chmod(dir, 0o710); err != nil {
		return fmt.Errorf("making %s: %w", nodepaths.DockerRoot, err)
	}
	return nil
}
