// Package esp builds the EFI System Partition image: systemd-boot as the
// removable-media boot loader and the UKI as a Type #2 boot entry under
// /EFI/Linux, which systemd-boot finds without any loader entry file. The
// FAT32 filesystem is written by go-diskfs in its reproducible mode.
package esp

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// File is one file to put on the ESP.
type File struct {
	Path   string // absolute path on the ESP, e.g. /EFI/BOOT/BOOTX64.EFI
	Source string // host file to copy, or
	Data   []byte // literal contents
}

// Build writes a FAT32 image of size bytes to out holding files, every
// timestamp in it epoch.
func Build(out string, size int64, files []File, epoch time.Time) error {
	// go-diskfs (v1.9.4, util/timestamp) stamps the "." and ".." entries of
	// new directories with SOURCE_DATE_EPOCH from the environment, or the
	// wall clock when it is unset, and takes the time no other way. So the
	// epoch is in the environment for the write only, and whatever the
	// process had before is put back.
	restore, err := setSourceDateEpoch(epoch)
	if err != nil {
		return err
	}
	defer restore()
	return write(out, size, files, epoch)
}

// setSourceDateEpoch sets SOURCE_DATE_EPOCH to epoch and returns the
// function that restores the environment as it was.
func setSourceDateEpoch(epoch time.Time) (restore func(), err error) {
	old, had := os.LookupEnv("SOURCE_DATE_EPOCH")
	if err := os.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(epoch.Unix(), 10)); err != nil {
		return nil, fmt.Errorf("setting SOURCE_DATE_EPOCH: %w", err)
	}
	return func() {
		if had {
			os.Setenv("SOURCE_DATE_EPOCH", old)
		} else {
			os.Unsetenv("SOURCE_DATE_EPOCH")
		}
	}, nil
}

func write(out string, size int64, files []File, epoch time.Time) error {
	os.Remove(out)
	st, err := file.CreateFromPath(out, size)
	if err != nil {
		return fmt.Errorf("creating ESP image: %w", err)
	}
	defer st.Close()
	fs, err := fat32.Create(st, size, 0, 512, "EFI-SYSTEM", true)
	if err != nil {
		return fmt.Errorf("formatting ESP: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	dirs := map[string]bool{}
	for _, f := range files {
		data := f.Data
		if f.Source != "" {
			if data, err = os.ReadFile(f.Source); err != nil {
				return fmt.Errorf("ESP %s: %w", f.Path, err)
			}
		}
		dir := path.Dir(f.Path)
		if !dirs[dir] {
			if err := fs.Mkdir(dir); err != nil {
				return fmt.Errorf("ESP mkdir %s: %w", dir, err)
			}
			// Directories too get the build's epoch, not the wall clock.
			for d := dir; d != "/" && !dirs[d]; d = path.Dir(d) {
				if err := fs.Chtimes(d, epoch, epoch, epoch); err != nil {
					return fmt.Errorf("ESP %s: setting times: %w", d, err)
				}
				dirs[d] = true
			}
		}
		w, err := fs.OpenFile(f.Path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("ESP %s: %w", f.Path, err)
		}
		if _, err := w.Write(data); err != nil {
			w.Close()
			return fmt.Errorf("ESP %s: writing %d bytes: %w", f.Path, len(data), err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("ESP %s: %w", f.Path, err)
		}
		if err := fs.Chtimes(f.Path, epoch, epoch, epoch); err != nil {
			return fmt.Errorf("ESP %s: setting times: %w", f.Path, err)
		}
	}
	return nil
}
