// Package atomicfile writes files so that a reader, or the next run after a
// crash, sees either the old contents or the new, never a torn mix: data
// goes to a temp file in the same directory, is fsynced, then renamed.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return WriteFileOwned(path, data, mode, -1, -1)
}

// WriteFileOwned is WriteFile with an owner, set on the temp file before
// the rename so the file never appears with the wrong owner. uid -1 keeps
// the writer's; ownership is only changed when running as root.
func WriteFileOwned(path string, data []byte, mode os.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if uid >= 0 && os.Geteuid() == 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// Rename renames old to new and fsyncs the directory so the rename itself
// survives a crash.
func Rename(old, new string) error {
	if err := os.Rename(old, new); err != nil {
		return fmt.Errorf("renaming into place: %w", err)
	}
	d, err := os.Open(filepath.Dir(new))
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}

// Sync fsyncs the file at path.
func Sync(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
