package apply

import (
	"fmt"
	"path"
	"strings"
	"unicode"

	"github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/nodespec"
)

// systemDirs are directories no account may have as its home: nodecfg
// would create .ssh in them and, for a new account, own them to it.
var systemDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc",
	"/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log", "/var/tmp", "/var/cache", "/var/spool"}

// systemTrees are trees no home may be in.
var systemTrees = []string{"/boot", "/dev", "/etc", "/proc", "/run", "/sys", "/usr"}

// homeOf is the home directory the config asks for, or the default.
func homeOf(u types.PasswdUser) string {
	if u.HomeDir != nil && *u.HomeDir != "" {
		return *u.HomeDir
	}
	return "/home/" + u.Name
}

// checkAccounts validates users and groups as useradd and groupadd would,
// and stricter: names by nodespec.CheckUserName, every field free of the
// ':' and newline that separate /etc/passwd's fields and entries, homes
// absolute and outside the system's directories. What nodecfg does not
// implement is refused by path rather than skipped.
func (c *Config) checkAccounts(errs *fielderr.List) {
	for i, g := range c.Groups {
		p := fmt.Sprintf("$.passwd.groups.%d", i)
		if err := nodespec.CheckUserName(g.Name); err != nil {
			errs.Add(0, p+".name", "%v", err)
		}
		if g.Gid != nil && (*g.Gid < 0 || *g.Gid > maxID) {
			errs.Add(0, p+".gid", "%d is not a gid", *g.Gid)
		}
		field(errs, p+".passwordHash", g.PasswordHash)
		if util.IsFalse(g.ShouldExist) {
			errs.Add(0, p+".shouldExist", "false (delete the group) is not supported: nodecfg never deletes accounts on first boot; remove the entry")
		}
		if util.IsTrue(g.System) {
			errs.Add(0, p+".system", "not supported: give gid")
		}
	}
	for i, u := range c.Users {
		p := fmt.Sprintf("$.passwd.users.%d", i)
		if err := nodespec.CheckUserName(u.Name); err != nil {
			errs.Add(0, p+".name", "%v", err)
		}
		if util.IsFalse(u.ShouldExist) {
			// Ignition runs `userdel --remove`, deleting the home too; the
			// image's accounts are the image's, and a config's first boot
			// has no accounts of its own to delete.
			errs.Add(0, p+".shouldExist", "false (delete the account) is not supported: nodecfg never deletes accounts on first boot; remove the entry")
		}
		if util.IsTrue(u.System) {
			errs.Add(0, p+".system", "not supported: give uid")
		}
		if util.IsTrue(u.NoUserGroup) && u.PrimaryGroup == nil {
			errs.Add(0, p+".noUserGroup", "needs primaryGroup: nodecfg does not pick a default group")
		}
		if u.UID != nil && (*u.UID < 0 || *u.UID > maxID) {
			errs.Add(0, p+".uid", "%d is not a uid", *u.UID)
		}
		field(errs, p+".gecos", u.Gecos)
		field(errs, p+".passwordHash", u.PasswordHash)
		field(errs, p+".primaryGroup", u.PrimaryGroup)
		if field(errs, p+".shell", u.Shell) && u.Shell != nil && (!path.IsAbs(*u.Shell) || path.Clean(*u.Shell) != *u.Shell) {
			errs.Add(0, p+".shell", "%q must be an absolute, clean path", *u.Shell)
		}
		if u.HomeDir != nil && field(errs, p+".homeDir", u.HomeDir) {
			checkHome(errs, p+".homeDir", *u.HomeDir)
		}
		for j, g := range u.Groups {
			if err := nodespec.CheckUserName(string(g)); err != nil {
				errs.Add(0, fmt.Sprintf("%s.groups.%d", p, j), "%v", err)
			}
		}
		for j, k := range u.SSHAuthorizedKeys {
			if strings.IndexFunc(string(k), unicode.IsControl) >= 0 {
				errs.Add(0, fmt.Sprintf("%s.sshAuthorizedKeys.%d", p, j), "has a newline or control character: give one key per entry")
			}
		}
		if util.IsTrue(u.NoCreateHome) && len(u.SSHAuthorizedKeys) > 0 {
			errs.Add(0, p+".noCreateHome", "the SSH keys go in the home directory: give the keys or noCreateHome, not both")
		}
	}
}

// field refuses a value that would break /etc/passwd and its kin: ':'
// separates fields, a newline entries (a gecos "x\nroot2::0:0::/root:/bin/bash"
// added a second root). It reports whether v is acceptable.
func field(errs *fielderr.List, p string, v *string) bool {
	if v == nil {
		return true
	}
	if strings.ContainsRune(*v, ':') || strings.IndexFunc(*v, unicode.IsControl) >= 0 {
		errs.Add(0, p, "%q has ':', a newline or a control character, which would break the account files", *v)
		return false
	}
	return true
}

// checkHome refuses a home that is relative, not clean, or one of the
// system's directories or inside /etc, /usr and their like.
func checkHome(errs *fielderr.List, p, h string) {
	if !path.IsAbs(h) || path.Clean(h) != h {
		errs.Add(0, p, "%q must be an absolute, clean path", h)
		return
	}
	for _, d := range systemDirs {
		if h == d {
			errs.Add(0, p, "%s is a system directory: an account's home would take it over", h)
			return
		}
	}
	for _, d := range systemTrees {
		if under(h, d) {
			errs.Add(0, p, "%s is inside %s: a home there would put the account's files among the system's", h, d)
			return
		}
	}
}
