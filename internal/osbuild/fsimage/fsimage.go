// Package fsimage builds the filesystem images of the disk with the image
// suite's own tools, run from the tool root: EROFS for the read-only /usr (mkfs.erofs: fast, keeps SELinux
// xattrs, reproducible with a fixed timestamp and UUID) and ext4 for the
// writable ROOT (mkfs.ext4 -d, which also keeps xattrs).
package fsimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
)

// EROFS builds a read-only image of dir at out.
func EROFS(ctx context.Context, tools, dir, out, uuid, compression string, epoch time.Time) (int64, error) {
	args := []string{"-T" + strconv.FormatInt(epoch.Unix(), 10), "-U" + strings.ToLower(uuid), "--quiet"}
	if compression != "" {
		args = append(args, "-z"+compression)
	}
	args = append(args, out, dir)
	if err := toolroot.Run(ctx, tools, binds(dir, out), append([]string{"mkfs.erofs"}, args...)...); err != nil {
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
func Ext4(ctx context.Context, tools, dir, out string, size int64, label, uuid string, epoch time.Time) error {
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
	err = toolroot.RunEnv(ctx, tools, binds(dir, out),
		[]string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(epoch.Unix(), 10), "SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch.Unix(), 10)},
		append([]string{"mkfs.ext4"}, args...)...)
	if err != nil {
		return fmt.Errorf("building %s filesystem: %w", label, err)
	}
	return nil
}

// binds makes the source tree and the output's directory visible in the
// tool root at their own paths.
func binds(dir, out string) []toolroot.Bind {
	return []toolroot.Bind{{Src: dir, Dst: dir}, {Src: filepath.Dir(out), Dst: filepath.Dir(out)}}
}
