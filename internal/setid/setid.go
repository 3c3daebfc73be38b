// Package setid is the one list of the setuid and setgid programs a Bulwark
// node keeps, with the reason for each, and the code that enforces it: the
// image build drops every other set-id bit (Strip) and the guest checks of a
// booted node walk its filesystems for any file the list does not name
// (Find, Unlisted). A container host's users are admins who log in as root
// with SSH keys and talk to dockerd over TLS; none of them needs a program
// that raises privilege, and each set-id program is a way up for whoever
// gets a shell as another user.
package setid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Program is a file that keeps a set-id bit.
type Program struct {
	// Path is the file's path on the node.
	Path string
	// Bits is fs.ModeSetuid, fs.ModeSetgid or both: exactly the bits the
	// file may carry.
	Bits fs.FileMode
	// Why the node cannot do without the bit (also in the README).
	Reason string
}

// Keep lists every file of the image that may carry a set-id bit.
//
// What Debian's packages set and Bulwark drops, and why (README, "Setuid
// and setgid programs"): su, passwd, chage, chfn, chsh, expiry, gpasswd
// (shadow/util-linux account tools: only root administers accounts on a
// node, through nodecfg's users and without the bit); mount, umount (no
// user mounts in fstab); fusermount3 (lxcfs, the only FUSE user, runs as
// root); ssh-agent (agents run on the admin's machine, not on the node);
// ssh-keysign (host-based SSH authentication is off); and
// dbus-daemon-launch-helper (every system-bus service of the image is
// activated through systemd, SystemdService=, so dbus-daemon never runs the
// helper; osbuild's trim step fails the build if a package adds one that
// is not, see DBusActivation).
var Keep = []Program{
	{
		Path: "/usr/sbin/unix_chkpwd", Bits: fs.ModeSetgid,
		Reason: "pam_unix runs it (setgid shadow, confined to chkpwd_t) to check the calling user's own password " +
			"or account expiry when the caller cannot read /etc/shadow itself; without it a non-root PAM client fails closed",
	},
}

// Lookup returns the entry of Keep for path.
func Lookup(path string) (Program, bool) {
	for _, p := range Keep {
		if p.Path == path {
			return p, true
		}
	}
	return Program{}, false
}

// File is a regular file with a set-id bit.
type File struct {
	Path string      // on the node, e.g. /usr/bin/su
	Bits fs.FileMode // fs.ModeSetuid and/or fs.ModeSetgid
}

func (f File) String() string { return f.Path + " (" + bitsName(f.Bits) + ")" }

func bitsName(b fs.FileMode) string {
	switch Bits(b) {
	case fs.ModeSetuid:
		return "setuid"
	case fs.ModeSetgid:
		return "setgid"
	case fs.ModeSetuid | fs.ModeSetgid:
		return "setuid+setgid"
	}
	return "no set-id bits"
}

// Bits are the set-id bits of a mode.
func Bits(m fs.FileMode) fs.FileMode { return m & (fs.ModeSetuid | fs.ModeSetgid) }

// Allowed reports whether f is on the list with exactly its bits.
func Allowed(f File) bool {
	p, ok := Lookup(f.Path)
	return ok && p.Bits == f.Bits
}

// Unlisted returns the files of found that Keep does not allow.
func Unlisted(found []File) []File {
	var out []File
	for _, f := range found {
		if !Allowed(f) {
			out = append(out, f)
		}
	}
	return out
}

// Skip decides, for a directory of the walk, whether to leave it out
// (path is as on the node). Find with a nil Skip walks everything.
type Skip func(path string, d fs.DirEntry) bool

// Find walks the tree at root (a node's "/", or an image tree) and returns
// every regular file with a set-id bit, sorted by path. Set-id directories
// (group inheritance, as /var/log/journal) grant nothing and are not
// listed; symlinks are not followed.
func Find(root string, skip Skip) ([]File, error) {
	var out []File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		node := filepath.Join("/", rel)
		if err != nil {
			return fmt.Errorf("walking %s: %w", node, err)
		}
		if d.IsDir() {
			if skip != nil && p != root && skip(node, d) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone while we walked (a live node's /run, /tmp)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", node, err)
		}
		if b := Bits(info.Mode()); b != 0 {
			out = append(out, File{Path: node, Bits: b})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// Strip drops every set-id bit of the tree at root that Keep does not
// allow, keeping the rest of each mode, and returns the files it changed.
// It fails if a listed program is missing or lacks its bits, so the list
// cannot go stale without the build saying so.
func Strip(root string) ([]File, error) {
	found, err := Find(root, nil)
	if err != nil {
		return nil, err
	}
	var dropped []File
	for _, f := range Unlisted(found) {
		full := filepath.Join(root, f.Path)
		info, err := os.Lstat(full)
		if err != nil {
			return nil, err
		}
		keep := fs.FileMode(0)
		if p, ok := Lookup(f.Path); ok {
			keep = p.Bits & f.Bits
		}
		if err := os.Chmod(full, info.Mode().Perm()|keep|(info.Mode()&fs.ModeSticky)); err != nil {
			return nil, fmt.Errorf("dropping the set-id bits of %s: %w", f.Path, err)
		}
		dropped = append(dropped, File{Path: f.Path, Bits: f.Bits &^ keep})
	}
	var errs []error
	for _, p := range Keep {
		full, err := securejoin.SecureJoin(root, p.Path)
		if err != nil {
			return nil, err
		}
		info, err := os.Lstat(full)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is on the set-id list but not in the image: %w", p.Path, err))
		case !info.Mode().IsRegular() || Bits(info.Mode()) != p.Bits:
			errs = append(errs, fmt.Errorf("%s is on the set-id list as %s but the image has mode %v", p.Path, bitsName(p.Bits), info.Mode()))
		}
	}
	return dropped, errors.Join(errs...)
}

// SystemServices is where D-Bus looks for the system bus's activatable
// services.
const SystemServices = "/usr/share/dbus-1/system-services"

// DBusActivation fails unless every activatable system-bus service of the
// tree at root is started by systemd (SystemdService=), which is why the
// setuid dbus-daemon-launch-helper is not on Keep: dbus-daemon runs the
// helper only for a service without one. org.freedesktop.systemd1 is PID 1
// itself, never activated.
func DBusActivation(root string) error {
	dir, err := securejoin.SecureJoin(root, SystemServices)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.service"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if filepath.Base(f) == "org.freedesktop.systemd1.service" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Join(SystemServices, filepath.Base(f)), err)
		}
		if !systemdService(string(b)) {
			errs = append(errs, fmt.Errorf("%s: no SystemdService=: dbus-daemon would activate it through the setuid "+
				"dbus-daemon-launch-helper, which the node does not keep (internal/setid)", filepath.Join(SystemServices, filepath.Base(f))))
		}
	}
	return errors.Join(errs...)
}

// systemdService reports whether a D-Bus .service file names a systemd
// unit to activate.
func systemdService(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok && strings.TrimSpace(k) == "SystemdService" && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}
