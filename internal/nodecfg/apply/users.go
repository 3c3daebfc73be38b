package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/atomicfile"
)

// db is one colon-separated account file (/etc/passwd, /etc/group,
// /etc/shadow, /etc/gshadow), edited in memory and written atomically.
// nodecfg edits them itself rather than running useradd so that every
// stage works against --root without privileges in tests.
type db struct {
	path  string
	mode  os.FileMode
	lines [][]string
	dirty bool
}

func loadDB(o Options, path string, mode os.FileMode) (*db, error) {
	d := &db{path: o.path(path), mode: mode}
	b, err := os.ReadFile(d.path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "" {
			d.lines = append(d.lines, strings.Split(l, ":"))
		}
	}
	return d, nil
}

func (d *db) find(name string) []string {
	for _, l := range d.lines {
		if l[0] == name {
			return l
		}
	}
	return nil
}

func (d *db) add(fields ...string) { d.lines = append(d.lines, fields); d.dirty = true }

func (d *db) ids(col int) map[int]bool {
	m := map[int]bool{}
	for _, l := range d.lines {
		if len(l) > col {
			if n, err := strconv.Atoi(l[col]); err == nil {
				m[n] = true
			}
		}
	}
	return m
}

func (d *db) save() error {
	if !d.dirty {
		return nil
	}
	var sb strings.Builder
	for _, l := range d.lines {
		sb.WriteString(strings.Join(l, ":") + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(d.path, []byte(sb.String()), d.mode)
}

type accounts struct {
	passwd, group, shadow, gshadow *db
}

func loadAccounts(o Options) (*accounts, error) {
	var a accounts
	var err error
	for _, x := range []struct {
		p    **db
		path string
		mode os.FileMode
	}{{&a.passwd, "/etc/passwd", 0o644}, {&a.group, "/etc/group", 0o644}, {&a.shadow, "/etc/shadow", 0o640}, {&a.gshadow, "/etc/gshadow", 0o640}} {
		if *x.p, err = loadDB(o, x.path, x.mode); err != nil {
			return nil, fmt.Errorf("reading %s: %w", x.path, err)
		}
	}
	return &a, nil
}

func (a *accounts) save() error {
	for _, d := range []*db{a.passwd, a.group, a.shadow, a.gshadow} {
		if err := d.save(); err != nil {
			return fmt.Errorf("writing %s: %w", d.path, err)
		}
	}
	return nil
}

// freeID returns the lowest id from 1000 that none of used has.
func freeID(used ...map[int]bool) int {
	for id := 1000; ; id++ {
		if !slices.ContainsFunc(used, func(m map[int]bool) bool { return m[id] }) {
			return id
		}
	}
}

func (a *accounts) ensureGroup(name string, gid *int) (string, error) {
	if g := a.group.find(name); g != nil {
		return g[2], nil
	}
	id := freeID(a.group.ids(2))
	if gid != nil {
		id = *gid
		if a.group.ids(2)[id] {
			return "", fmt.Errorf("group %s: gid %d is taken", name, id)
		}
	}
	a.group.add(name, "x", strconv.Itoa(id), "")
	a.gshadow.add(name, "!", "", "")
	return strconv.Itoa(id), nil
}

func applyGroups(o Options, c *Config) error {
	if len(c.Groups) == 0 {
		return nil
	}
	a, err := loadAccounts(o)
	if err != nil {
		return err
	}
	for _, g := range c.Groups {
		if _, err := a.ensureGroup(g.Name, g.Gid); err != nil {
			return err
		}
	}
	return a.save()
}

// applyUsers creates missing users (own group, home, no password: SSH keys
// only), adds them to their groups and writes their authorized_keys.
func applyUsers(o Options, c *Config) ([]string, error) {
	if len(c.Users) == 0 {
		return nil, nil
	}
	a, err := loadAccounts(o)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, u := range c.Users {
		home := "/home/" + u.Name
		if u.HomeDir != nil {
			home = *u.HomeDir
		}
		uid, gid := 0, 0
		if p := a.passwd.find(u.Name); p != nil {
			uid, _ = strconv.Atoi(p[2])
			gid, _ = strconv.Atoi(p[3])
			home = p[5]
		} else {
			uid = freeID(a.passwd.ids(2), a.group.ids(2))
			if u.UID != nil {
				uid = *u.UID
			}
			gs, err := a.ensureGroupID(u.Name, uid)
			if err != nil {
				return nil, err
			}
			gid, _ = strconv.Atoi(gs)
			gecos := ""
			if u.Gecos != nil {
				gecos = *u.Gecos
			}
			a.passwd.add(u.Name, "x", strconv.Itoa(uid), gs, gecos, home, "/bin/bash")
			hash := "*" // no password: key-only, but not locked (sshd refuses locked accounts)
			if u.PasswordHash != nil && *u.PasswordHash != "" {
				hash = *u.PasswordHash
			}
			days := strconv.FormatInt(time.Now().Unix()/86400, 10)
			a.shadow.add(u.Name, hash, days, "0", "99999", "7", "", "", "")
		}
		for _, g := range u.Groups {
			grp := a.group.find(string(g))
			if grp == nil {
				return nil, fmt.Errorf("user %s: group %s does not exist (add it under passwd.groups)", u.Name, g)
			}
			members := strings.Split(grp[3], ",")
			if !slices.Contains(members, u.Name) {
				grp[3] = strings.Trim(grp[3]+","+u.Name, ",")
				a.group.dirty = true
			}
		}
		if len(u.SSHAuthorizedKeys) > 0 {
			var keys []string
			for _, k := range u.SSHAuthorizedKeys {
				keys = append(keys, string(k))
			}
			dir := filepath.Join(home, ".ssh")
			for _, d := range []string{home, dir} {
				if err := os.MkdirAll(o.path(d), 0o700); err != nil {
					return nil, err
				}
				if err := setAttrs(o.path(d), 0o700, uid, gid); err != nil {
					return nil, err
				}
			}
			p := filepath.Join(dir, "authorized_keys")
			if err := atomicfile.WriteFileOwned(o.path(p), []byte(strings.Join(keys, "\n")+"\n"), 0o600, uid, gid); err != nil {
				return nil, fmt.Errorf("writing %s: %w", p, err)
			}
			written = append(written, home, dir, p)
		}
	}
	return written, a.save()
}

// ensureGroupID makes the user's own group, with gid = uid when free.
func (a *accounts) ensureGroupID(name string, uid int) (string, error) {
	if g := a.group.find(name); g != nil {
		return g[2], nil
	}
	if !a.group.ids(2)[uid] {
		return a.ensureGroup(name, &uid)
	}
	return a.ensureGroup(name, nil)
}
