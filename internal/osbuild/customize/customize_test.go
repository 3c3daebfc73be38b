package customize

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/daemonconfig"
)

func TestClampTimes(t *testing.T) {
	root := t.TempDir()
	epoch := time.Unix(1_700_000_000, 0)
	old := epoch.Add(-48 * time.Hour)
	newer := epoch.Add(48 * time.Hour)
	os.WriteFile(filepath.Join(root, "old"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "new"), nil, 0o644)
	os.Symlink("old", filepath.Join(root, "link"))
	os.Chtimes(filepath.Join(root, "old"), newer, old) // read after the epoch
	os.Chtimes(filepath.Join(root, "new"), newer, newer)
	if err := ClampTimes(root, epoch); err != nil {
		t.Fatal(err)
	}
	for name, wantM := range map[string]time.Time{"old": old, "new": epoch, "link": epoch} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, name), &st); err != nil {
			t.Fatal(err)
		}
		at, mt := time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix())
		if !at.Equal(epoch) {
			t.Errorf("%s atime %v, want the epoch %v", name, at, epoch)
		}
		if name != "link" && !mt.Equal(wantM) {
			t.Errorf("%s mtime %v, want %v", name, mt, wantM)
		}
	}
}

// The stamp must read as up to date for the /usr it was written for and as
// stale for any later one, as systemd's ConditionNeedsUpdate compares them:
// mtime seconds first, then TIMESTAMP_NSEC.
func TestWriteUpdatedStamp(t *testing.T) {
	for _, tc := range []struct {
		name string
		usr  time.Time
	}{
		{"whole second", time.Unix(1_795_858_690, 0)},
		{"with nanoseconds", time.Unix(1_700_000_000, 123_456_789)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "usr"), 0o755)
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.Chtimes(filepath.Join(root, "usr"), tc.usr, tc.usr)
			if err := WriteUpdatedStamp(root); err != nil {
				t.Fatal(err)
			}
			if needsUpdate(t, root) {
				t.Error("fresh stamp: /etc needs an update")
			}
			later := tc.usr.Add(time.Nanosecond)
			os.Chtimes(filepath.Join(root, "usr"), later, later)
			if !needsUpdate(t, root) {
				t.Error("/usr 1 ns newer than the stamp: /etc does not need an update")
			}
		})
	}
	if err := WriteUpdatedStamp(t.TempDir()); err == nil {
		t.Error("no /usr: no error")
	}
}

// needsUpdate is systemd's condition_test_needs_update for /etc.
func needsUpdate(t *testing.T, root string) bool {
	t.Helper()
	var usr, stamp unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "usr"), &usr); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(root, UpdatedStamp), &stamp); err != nil {
		t.Fatal(err)
	}
	if usr.Mtim.Sec != stamp.Mtim.Sec {
		return usr.Mtim.Sec > stamp.Mtim.Sec
	}
	b, err := os.ReadFile(filepath.Join(root, UpdatedStamp))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TIMESTAMP_NSEC="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return usr.Mtim.Nano() > n
		}
	}
	t.Fatal("no TIMESTAMP_NSEC in the stamp")
	return false
}

// TestRepoSubordinateIDs: the image's /etc/subuid and /etc/subgid (the
// ranges the floor's userns-remap uses unless a node spec replaces them)
// give dockremap one valid range each, of the same size.
func TestRepoSubordinateIDs(t *testing.T) {
	var sizes []int64
	for _, f := range []string{"subuid", "subgid"} {
		p := filepath.Join("../../../overlays/docker/etc", f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimSpace(string(b)), ":")
		if len(parts) != 3 || parts[0] != daemonconfig.RemapUser {
			t.Fatalf("%s = %q, want one line %s:START:COUNT", p, b, daemonconfig.RemapUser)
		}
		start, err1 := strconv.ParseInt(parts[1], 10, 64)
		n, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s = %q: not numbers", p, b)
		}
		if errs := daemonconfig.CheckUsernsRange(start, start, n); len(errs) > 0 {
			t.Errorf("%s: %v", p, errs)
		}
		sizes = append(sizes, n)
	}
	if sizes[0] != sizes[1] {
		t.Errorf("subuid and subgid ranges differ in size: %v", sizes)
	}
}
