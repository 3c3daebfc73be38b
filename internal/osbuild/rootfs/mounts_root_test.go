//go:build root

package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// TestDetachMountsBusy: a rootfs with a proc mount that is busy (a file
// open in it, as mmdebstrap met it) and a mount below it comes out with
// nothing mounted, the deeper mount first.
func TestDetachMountsBusy(t *testing.T) {
	root := t.TempDir()
	proc := filepath.Join(root, "proc")
	sub := filepath.Join(proc, "sys/fs/binfmt_misc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", proc, "tmpfs", 0, ""); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH); unix.Unmount(proc, unix.MNT_DETACH) })
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	busy, err := os.Create(filepath.Join(sub, "open"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := unix.Unmount(proc, 0); err != unix.EBUSY {
		t.Fatalf("plain umount of the busy mount: %v, want EBUSY (the case under test)", err)
	}
	got, err := DetachMounts(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{sub, proc}) {
		t.Errorf("unmounted %v, want %v (deepest first)", got, []string{sub, proc})
	}
	left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("still mounted under %s: %v", root, left)
	}
	again, err := DetachMounts(root)
	if err != nil || len(again) != 0 {
		t.Errorf("second call: %v, %v; want nothing to do", again, err)
	}
}
