package customize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Units the spec enables or masks are the image's, so they live in
// /usr/lib/systemd/system, not in /etc. /etc is on ROOT: a node keeps its
// /etc across updates (README "Updates"), so a link there reaches only
// nodes installed from an image that had it. A unit a later image enables
// (a new hardening service) would never run on an updated node, and a
// unit it masks would stay reachable; both silently. In /usr the links
// come with the dm-verity protected /usr of every update, as the unit
// files do. An admin turns such a unit off with `systemctl mask` (a link
// in /etc still overrides /usr); `systemctl disable` only removes links in
// /etc.

// etcUnits and usrUnits are the system unit directories, relative to the
// image root.
const (
	etcUnits = "etc/systemd/system"
	usrUnits = "usr/lib/systemd/system"
)

// unitLinks returns the symlinks under root's /etc/systemd/system (the
// directory itself and its .wants, .requires and .upholds directories),
// relative to it, mapped to their targets.
func unitLinks(root string) (map[string]string, error) {
	dir := filepath.Join(root, etcUnits)
	links := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if p == dir {
				return nil
			}
			switch filepath.Ext(p) {
			case ".wants", ".requires", ".upholds":
				if !strings.Contains(rel, string(filepath.Separator)) {
					return nil
				}
			}
			return fs.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		links[rel] = target
		return nil
	})
	return links, err
}

// moveEnabled moves into /usr/lib/systemd/system the enablement links
// `systemctl enable` created (after, less the links that were there
// before it ran: aliases and Also= units' links included) and every link
// already there for a unit in enabled (a package's postinst may have
// enabled it first). A link of the same name already in /usr wins.
func moveEnabled(root string, before, after map[string]string, enabled []string) error {
	var move []string
	for rel, target := range after {
		if before[rel] != target || slices.Contains(enabled, filepath.Base(rel)) {
			move = append(move, rel)
		}
	}
	slices.Sort(move)
	for _, rel := range move {
		src := filepath.Join(root, etcUnits, rel)
		dst := filepath.Join(root, usrUnits, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(after[rel], dst); err != nil {
				return fmt.Errorf("moving /%s to /usr: %w", filepath.Join(etcUnits, rel), err)
			}
		} else if err != nil {
			return err
		}
		if err := os.Remove(src); err != nil {
			return err
		}
		if d := filepath.Dir(src); d != filepath.Join(root, etcUnits) {
			os.Remove(d) // only if empty; an error leaves it, which is harmless
		}
	}
	return nil
}

// moveMasks replaces each masked unit's file in /usr/lib/systemd/system
// with the link to /dev/null that `systemctl mask` made in /etc: systemd
// treats a unit file that is a link to /dev/null as masked wherever it is.
func moveMasks(root string, masked []string) error {
	for _, u := range masked {
		src := filepath.Join(root, etcUnits, u)
		if t, err := os.Readlink(src); err != nil || t != "/dev/null" {
			return fmt.Errorf("masking %s: /%s is not the link to /dev/null systemctl mask makes (%q, %v)", u, filepath.Join(etcUnits, u), t, err)
		}
		dst := filepath.Join(root, usrUnits, u)
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Symlink("/dev/null", dst); err != nil {
			return fmt.Errorf("masking %s in /usr: %w", u, err)
		}
		if err := os.Remove(src); err != nil {
			return err
		}
	}
	return nil
}
