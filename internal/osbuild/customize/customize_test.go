package customize

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
