package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/ignition/v2/config/util"
	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// db is one colon-separated account file (/etc/passwd, /etc/group,
// /etc/shadow, /etc/gshadow), edited in memory and written as one file op.
// nodecfg edits them itself rather than running useradd so that every
// stage works against --root without privileges in tests; Parse has
// checked that no field it adds holds ':' or a newline.
type db struct {
	path     string
	real     string
	mode     Mode
	uid, gid int
	lines    [][]string
	dirty    bool
}

func loadDB(r resolver, p string, mode Mode) (*db, error) {
	real, err := r.real(p)
	if err != nil {
		return nil, err
	}
	d := &db{path: p, real: real, mode: mode}
	b, err := os.ReadFile(r.host(real))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	// An existing file keeps its mode and owner (Debian's shadow is
	// root:shadow 0640).
	if fi, err := r.lstat(real); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.mode, d.uid, d.gid = Mode(st.Mode&0o7777), int(st.Uid), int(st.Gid)
		}
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

func (d *db) op() *op {
	var sb strings.Builder
	for _, l := range d.lines {
		sb.WriteString(strings.Join(l, ":") + "\n")
	}
	return &op{kind: opFile, where: "$.passwd", path: d.path, real: d.real, data: []byte(sb.String()), mode: d.mode, uid: d.uid, gid: d.gid, relabel: true}
}

type accounts struct {
	passwd, group, shadow, gshadow *db
}

// freeID returns the lowest id from 1000 that none of used has.
func freeID(used ...map[int]bool) int {
	for id := 1000; ; id++ {
		if !slices.ContainsFunc(used, func(m map[int]bool) bool { return m[id] }) {
			return id
		}
	}
}

// planAccounts adds the config's groups and users to the root's account
// files, as groupadd and useradd would, and plans their homes and SSH
// keys. Existing accounts get their group memberships, password hash and
// keys; nothing else of theirs is changed, and asking for a different
// uid, home, shell, gecos or primary group is an error.
func planAccounts(c *Config, r resolver, add func(*op) *op, errs *fielderr.List) {
	if len(c.Users) == 0 && len(c.Groups) == 0 {
		return
	}
	var a accounts
	for _, x := range []struct {
		p    **db
		path string
		mode Mode
	}{{&a.passwd, "/etc/passwd", 0o644}, {&a.group, "/etc/group", 0o644}, {&a.shadow, "/etc/shadow", 0o640}, {&a.gshadow, "/etc/gshadow", 0o640}} {
		var err error
		if *x.p, err = loadDB(r, x.path, x.mode); err != nil {
			errs.Add(0, "$.passwd", "%v", err)
			return
		}
	}
	for i, g := range c.Groups {
		p := fmt.Sprintf("$.passwd.groups.%d", i)
		if old := a.group.find(g.Name); old != nil {
			if g.Gid != nil && strconv.Itoa(*g.Gid) != old[2] || g.PasswordHash != nil {
				errs.Add(0, p, "group %s exists (gid %s); nodecfg does not change existing groups", g.Name, old[2])
			}
			continue
		}
		id := freeID(a.group.ids(2))
		if g.Gid != nil {
			if id = *g.Gid; a.group.ids(2)[id] {
				errs.Add(0, p+".gid", "gid %d is taken", id)
				continue
			}
		}
		hash := "!"
		if g.PasswordHash != nil && *g.PasswordHash != "" {
			hash = *g.PasswordHash
		}
		a.group.add(g.Name, "x", strconv.Itoa(id), "")
		a.gshadow.add(g.Name, hash, "", "")
	}
	for i, u := range c.Users {
		a.user(fmt.Sprintf("$.passwd.users.%d", i), u, r, add, errs)
	}
	for _, d := range []*db{a.passwd, a.group, a.shadow, a.gshadow} {
		if d.dirty {
			add(d.op())
		}
	}
}

func (a *accounts) user(p string, u types.PasswdUser, r resolver, add func(*op) *op, errs *fielderr.List) {
	var uid, gid int
	home := homeOf(u)
	old := a.passwd.find(u.Name)
	if old != nil && len(old) >= 7 {
		uid, _ = strconv.Atoi(old[2])
		gid, _ = strconv.Atoi(old[3])
		for _, x := range []struct {
			field string
			want  *string
			have  string
		}{{"uid", intString(u.UID), old[2]}, {"homeDir", u.HomeDir, old[5]}, {"gecos", u.Gecos, old[4]}, {"shell", u.Shell, old[6]}, {"primaryGroup", u.PrimaryGroup, a.groupName(old[3])}} {
			if x.want != nil && *x.want != x.have {
				errs.Add(0, p+"."+x.field, "user %s exists with %s %q; nodecfg does not change existing accounts", u.Name, x.field, x.have)
			}
		}
		home = old[5]
		if u.PasswordHash != nil {
			a.setHash(u.Name, *u.PasswordHash)
		}
	} else {
		var ok bool
		if uid, gid, ok = a.newUser(p, u, errs); !ok {
			return
		}
	}
	for j, g := range u.Groups {
		grp := a.group.find(string(g))
		if grp == nil || len(grp) < 4 {
			errs.Add(0, fmt.Sprintf("%s.groups.%d", p, j), "group %s does not exist (add it under passwd.groups)", g)
			continue
		}
		if !slices.Contains(strings.Split(grp[3], ","), u.Name) {
			grp[3] = strings.Trim(grp[3]+","+u.Name, ",")
			a.group.dirty = true
		}
	}
	// A new account gets its home as with `useradd --create-home`; an
	// existing one keeps its own and gets it only to hold its keys.
	if util.IsTrue(u.NoCreateHome) || old != nil && len(u.SSHAuthorizedKeys) == 0 {
		return
	}
	where := p + ".homeDir"
	if u.HomeDir == nil {
		where = p + ".name"
	}
	real, err := r.follow(home)
	if err != nil {
		errs.Add(0, where, "%v", err)
		return
	}
	add(&op{kind: opEnsureDir, where: where, path: home, real: real, mode: 0o700, uid: uid, gid: gid, owner: &uid, relabel: true})
	if len(u.SSHAuthorizedKeys) == 0 {
		return
	}
	ssh := path.Join(real, ".ssh")
	if fi, err := r.lstat(ssh); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		errs.Add(0, p+".sshAuthorizedKeys", "%s/.ssh is a link in the root: nodecfg writes keys only in the home itself", home)
		return
	}
	add(&op{kind: opEnsureDir, where: p + ".sshAuthorizedKeys", path: path.Join(home, ".ssh"), real: ssh, mode: 0o700, uid: uid, gid: gid, owner: &uid, relabel: true})
	var keys []string
	for _, k := range u.SSHAuthorizedKeys {
		keys = append(keys, string(k))
	}
	add(&op{kind: opFile, where: p + ".sshAuthorizedKeys", path: path.Join(home, ".ssh/authorized_keys"), real: path.Join(ssh, "authorized_keys"),
		data: []byte(strings.Join(keys, "\n") + "\n"), mode: 0o600, uid: uid, gid: gid, relabel: true})
}

// newUser adds u to the account files as `useradd` would: a free or the
// given uid (never a taken one: a second uid 0 is a second root), its own
// group unless a primary group is given, no password unless a hash is.
func (a *accounts) newUser(p string, u types.PasswdUser, errs *fielderr.List) (int, int, bool) {
	uid := freeID(a.passwd.ids(2), a.group.ids(2))
	if u.UID != nil {
		if uid = *u.UID; a.passwd.ids(2)[uid] {
			errs.Add(0, p+".uid", "uid %d is taken", uid)
			return 0, 0, false
		}
	}
	var gid int
	if u.PrimaryGroup != nil {
		g := a.group.find(*u.PrimaryGroup)
		if g == nil {
			errs.Add(0, p+".primaryGroup", "group %s does not exist (add it under passwd.groups)", *u.PrimaryGroup)
			return 0, 0, false
		}
		gid, _ = strconv.Atoi(g[2])
	} else {
		if a.group.find(u.Name) != nil {
			errs.Add(0, p+".name", "a group %s exists; useradd would refuse to make the user's own group (give primaryGroup)", u.Name)
			return 0, 0, false
		}
		gid = uid
		if a.group.ids(2)[gid] {
			gid = freeID(a.group.ids(2))
		}
		a.group.add(u.Name, "x", strconv.Itoa(gid), "")
		a.gshadow.add(u.Name, "!", "", "")
	}
	gecos, shell := "", "/bin/bash"
	if u.Gecos != nil {
		gecos = *u.Gecos
	}
	if u.Shell != nil {
		shell = *u.Shell
	}
	a.passwd.add(u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), gecos, homeOf(u), shell)
	hash := "*" // no password: key-only, but not locked (sshd refuses locked accounts)
	if u.PasswordHash != nil && *u.PasswordHash != "" {
		hash = *u.PasswordHash
	}
	days := strconv.FormatInt(time.Now().Unix()/86400, 10)
	a.shadow.add(u.Name, hash, days, "0", "99999", "7", "", "", "")
	return uid, gid, true
}

// setHash sets an existing user's password hash, as Ignition does ("" is
// no password, "*").
func (a *accounts) setHash(name, hash string) {
	if hash == "" {
		hash = "*"
	}
	if s := a.shadow.find(name); s != nil && len(s) >= 2 {
		if s[1] != hash {
			s[1], a.shadow.dirty = hash, true
		}
		return
	}
	days := strconv.FormatInt(time.Now().Unix()/86400, 10)
	a.shadow.add(name, hash, days, "0", "99999", "7", "", "", "")
}

func (a *accounts) groupName(gid string) string {
	for _, l := range a.group.lines {
		if len(l) > 2 && l[2] == gid {
			return l[0]
		}
	}
	return gid
}

func intString(i *int) *string {
	if i == nil {
		return nil
	}
	s := strconv.Itoa(*i)
	return &s
}
