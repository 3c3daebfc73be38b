package customize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
)

// UpdatedStamp is the file systemd-update-done writes: /etc is up to date
// with the /usr whose modification time it records.
const UpdatedStamp = "etc/.updated"

// The build does what the first boot would otherwise do before
// sysinit.target, under units with ConditionNeedsUpdate=/etc, and then says
// so the way systemd-update-done does (WriteUpdatedStamp, called by the
// last step that changes the tree, osbuild's trim). Those units are
// systemd-sysusers (its users are created here, with trixie's own
// systemd-sysusers from the tool root), ldconfig (dpkg's triggers made
// /etc/ld.so.cache when the packages were installed) and
// systemd-hwdb-update (udev ships /usr/lib/udev/hwdb.bin; at boot the unit
// would compile a 13 MiB copy into /etc). On a node they cost the first
// boot tens of seconds under emulation and change nothing. When a later
// /usr is newer than the stamp (an update), ConditionNeedsUpdate fires and
// they run as usual. /var's stamp is left alone: the journal's message
// catalog is built there at first boot (the build removes it to stay
// reproducible).

// sysusers creates the sysusers.d users in root with trixie's own
// systemd-sysusers from the tool root.
func sysusers(ctx context.Context, tools, root string) error {
	if err := toolroot.Run(ctx, tools, []toolroot.Bind{{Src: root, Dst: "/mnt/image"}}, "systemd-sysusers", "--root=/mnt/image"); err != nil {
		return fmt.Errorf("systemd-sysusers: %w", err)
	}
	return nil
}

// WriteUpdatedStamp writes root/etc/.updated for root/usr's modification
// time, in systemd-update-done's format, with that time as its own mtime:
// ConditionNeedsUpdate=/etc compares the two (to the nanosecond through
// TIMESTAMP_NSEC) and holds only while /usr is newer.
func WriteUpdatedStamp(root string) error {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "usr"), &st); err != nil {
		return fmt.Errorf("stat /usr: %w", err)
	}
	ts := st.Mtim
	body := strings.Join([]string{
		"# This file was created by osbuild, as systemd-update-done would. Its only",
		"# purpose is to hold a timestamp of the time this directory was updated.",
		"# See man:systemd-update-done.service(8).",
		"TIMESTAMP_NSEC=" + strconv.FormatInt(ts.Nano(), 10),
		"",
	}, "\n")
	p := filepath.Join(root, UpdatedStamp)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return fmt.Errorf("writing /%s: %w", UpdatedStamp, err)
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting the time of /%s: %w", UpdatedStamp, err)
	}
	return nil
}
