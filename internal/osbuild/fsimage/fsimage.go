// Package fsimage builds the filesystem images of the disk with Debian's own
// tools: EROFS for the read-only /usr (mkfs.erofs: fast, keeps SELinux
// xattrs, reproducible with a fixed timestamp and UUID) and ext4 for the
// writable ROOT (mkfs.ext4 -d, which also keeps xattrs).
package fsimage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/runlog"
)

// EROFS builds a read-only image of dir at out.
func EROFS(ctx context.Context, dir, out, uuid, compression string, epoch time.Time) (int64, error) {
	args := []string{"-T" + strconv.FormatInt(epoch.Unix(), 10), "-U" + strings.ToLower(uuid), "--quiet"}
	if compression != "" {
		args = append(args, "-z"+compression)
	}
	args = append(args, out, dir)
	if err := runlog.Run(ctx, runlog.Cmd{Name: "mkfs.erofs", Args: args}); err != nil {
		return 0, fmt.Errorf("building /usr image: %w", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Ext4 builds an ext4 image of size bytes at out from the tree at dir.
// E2FSPROGS_FAKE_TIME and a derived hash seed make it reproducible.
func Ext4(ctx context.Context, dir, out string, size int64, label, uuid string, epoch time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	f.Close()
	u := strings.ToLower(uuid)
	args := []string{"-q", "-F", "-t", "ext4", "-L", label, "-U", u, "-d", dir,
		"-E", "hash_seed=" + u + ",lazy_itable_init=0,lazy_journal_init=0,nodiscard",
		"-b", "4096", out}
	err = runlog.Run(ctx, runlog.Cmd{Name: "mkfs.ext4", Args: args,
		Env: []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(epoch.Unix(), 10), "SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch.Unix(), 10)}})
	if err != nil {
		return fmt.Errorf("building ROOT filesystem: %w", err)
	}
	return nil
}
