package customize

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark/bulwark/internal/nodepaths"
)

// moveToBin moves each of nodepaths.MovedToBin from usr/sbin to usr/bin
// under root, leaving a relative link at Debian's path. The CIS Docker
// Benchmark (and docker-bench-security, which greps `auditctl -l` for these
// names) expects the daemon and runc in /usr/bin, as Flatcar has them; an
// audit watch must sit on the file itself, since the kernel watches a link's
// own inode. With the file in /usr/bin, a run through either path resolves
// to the one watched inode. A link already at the /usr/bin path (Debian's
// runc ships /usr/bin/runc -> ../sbin/runc) is replaced; a regular file
// there is an error, since the two packages would then disagree about which
// program that name is.
func moveToBin(root string) error {
	for _, p := range nodepaths.MovedToBin {
		bin := filepath.Join(root, p)
		sbin := filepath.Join(root, "usr/sbin", filepath.Base(p))
		fi, err := os.Lstat(sbin)
		if err != nil {
			return fmt.Errorf("moving %s to /usr/bin: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("moving %s to /usr/bin: /usr/sbin/%s is %s, not a regular file", p, filepath.Base(p), fi.Mode().Type())
		}
		if bi, err := os.Lstat(bin); err == nil {
			if bi.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("moving %s to /usr/bin: %s is already a %s", p, p, bi.Mode().Type())
			}
			if err := os.Remove(bin); err != nil {
				return fmt.Errorf("moving %s to /usr/bin: %w", p, err)
			}
		}
		if err := os.Rename(sbin, bin); err != nil {
			return fmt.Errorf("moving %s to /usr/bin: %w", p, err)
		}
		if err := os.Symlink("../bin/"+filepath.Base(p), sbin); err != nil {
			return fmt.Errorf("linking /usr/sbin/%s to %s: %w", filepath.Base(p), p, err)
		}
	}
	return nil
}
