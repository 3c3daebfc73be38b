// Package imagecache keeps filesystem images built by earlier builds under
// a key that says everything they were built from, so that a build whose
// tree did not change (a warm rebuild, or one that only changed /etc)
// reuses the image instead of compressing the same tree again.
//
// Entries are files named <prefix>-<key>.img in one directory. They are
// hard-linked into and out of the cache, so callers must treat a file they
// got from Get as read-only. Put publishes with a rename, so a build
// interrupted halfway never leaves a partial entry that a later build
// would trust.
package imagecache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Cache is a directory of images; Keep is how many entries per prefix Put
// leaves behind (the newest, by last use).
type Cache struct {
	Dir  string
	Keep int
}

func (c Cache) entry(prefix, key string) string {
	return filepath.Join(c.Dir, prefix+"-"+key+".img")
}

// Get links the entry for key to dst and reports whether there was one.
// A hit counts as a use for pruning.
func (c Cache) Get(prefix, key, dst string) (bool, error) {
	src := c.entry(prefix, key)
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	os.Remove(dst)
	if err := linkOrCopy(src, dst); err != nil {
		return false, fmt.Errorf("reusing cached image %s: %w", src, err)
	}
	now := time.Now()
	os.Chtimes(src, now, now) // best effort: only decides what pruning keeps
	return true, nil
}

// Put stores src as the entry for key, then prunes the prefix's oldest
// entries beyond Keep. src stays where it is.
func (c Cache) Put(prefix, key, src string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("creating image cache: %w", err)
	}
	final := c.entry(prefix, key)
	// A name of its own: two builds may cache the same key at once, and
	// one must never write into the file the other linked.
	var r [8]byte
	rand.Read(r[:])
	tmp := final + "." + hex.EncodeToString(r[:]) + ".partial"
	if err := linkOrCopy(src, tmp); err != nil {
		return fmt.Errorf("caching image %s: %w", src, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("caching image %s: %w", src, err)
	}
	now := time.Now()
	os.Chtimes(final, now, now)
	return c.prune(prefix)
}

// prune removes the prefix's least recently used entries beyond Keep.
func (c Cache) prune(prefix string) error {
	matches, err := filepath.Glob(filepath.Join(c.Dir, prefix+"-*.img"))
	if err != nil {
		return err
	}
	type aged struct {
		path string
		mod  time.Time
	}
	var list []aged
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil {
			list = append(list, aged{m, fi.ModTime()})
		}
	}
	slices.SortFunc(list, func(a, b aged) int { return b.mod.Compare(a.mod) })
	var errs []error
	for i := max(c.Keep, 1); i < len(list); i++ {
		if err := os.Remove(list[i].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// linkOrCopy hard-links src to dst, or copies it (fsynced) when they are
// on different filesystems. dst must not exist: an existing file may be
// another build's link to an image, which a copy would overwrite.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
