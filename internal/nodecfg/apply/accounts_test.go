package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func users(list string) config {
	return config{rest: []string{`"passwd":{"users":[` + list + `]}`}}
}

// TestAccountsRefused reproduces the account findings (a second root by a
// newline or ':' in a field, /etc taken over as a home, shouldExist false
// creating the user) and others useradd refuses; each is refused with the
// field's JSON path, and the root is left as it was.
func TestAccountsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(root string)
		config config
		want   string
		asRoot bool // the finding needs ownership only root can give
	}{
		{name: "newline in gecos", config: users(`{"name":"alice","gecos":"x\nroot2::0:0::/root:/bin/bash"}`), want: "$.passwd.users.0.gecos: "},
		{name: "colon in the name", config: users(`{"name":"alice::0:0::/root:/bin/bash\nx"}`), want: "$.passwd.users.0.name: "},
		{name: "colon in the password hash", config: users(`{"name":"alice","passwordHash":"x:0:0"}`), want: "$.passwd.users.0.passwordHash: "},
		{name: "newline in the shell", config: users(`{"name":"alice","shell":"/bin/sh\nroot2::0:0::/:/bin/sh"}`), want: "$.passwd.users.0.shell: "},
		{name: "relative shell", config: users(`{"name":"alice","shell":"sh"}`), want: "$.passwd.users.0.shell: \"sh\" must be an absolute"},
		{name: "newline in a key", config: users(`{"name":"alice","sshAuthorizedKeys":["ssh-ed25519 AAAA a\ncommand=\"x\" ssh-ed25519 BBBB b"]}`), want: "$.passwd.users.0.sshAuthorizedKeys.0: "},
		{name: "home is /etc", config: users(`{"name":"alice","homeDir":"/etc"}`), want: "$.passwd.users.0.homeDir: /etc is a system directory"},
		{name: "home inside /usr", config: users(`{"name":"alice","homeDir":"/usr/local/alice"}`), want: "$.passwd.users.0.homeDir: /usr/local/alice is inside /usr"},
		{name: "home belongs to root", setup: func(root string) {
			os.MkdirAll(filepath.Join(root, "srv/data"), 0o755)
		}, config: users(`{"name":"alice","homeDir":"/srv/data"}`), want: "$.passwd.users.0.homeDir: /srv/data exists and belongs to uid 0, not 1000", asRoot: true},
		{name: "shouldExist false", config: users(`{"name":"alice","shouldExist":false}`), want: "$.passwd.users.0.shouldExist: false (delete the account) is not supported"},
		{name: "system user", config: users(`{"name":"alice","system":true}`), want: "$.passwd.users.0.system"},
		{name: "a second uid 0", config: users(`{"name":"toor","uid":0}`), want: "$.passwd.users.0.uid: uid 0 is taken"},
		{name: "existing user, other uid", config: users(`{"name":"root","uid":1000}`), want: `$.passwd.users.0.uid: user root exists with uid "0"`},
		{name: "unknown group", config: users(`{"name":"alice","groups":["wheel"]}`), want: "$.passwd.users.0.groups.0: group wheel does not exist"},
		{name: "group name with a newline", config: users(`{"name":"alice","groups":["adm\nroot"]}`), want: "$.passwd.users.0.groups.0: "},
		{name: "group shouldExist false", config: config{rest: []string{`"passwd":{"groups":[{"name":"adm","shouldExist":false}]}`}}, want: "$.passwd.groups.0.shouldExist"},
		{name: "group gid taken", config: config{rest: []string{`"passwd":{"groups":[{"name":"ops","gid":4}]}`}}, want: "$.passwd.groups.0.gid: gid 4 is taken"},
		{name: "own group exists", config: users(`{"name":"adm"}`), want: "$.passwd.users.0.name: a group adm exists"},
		{name: "keys without a home", config: users(`{"name":"alice","noCreateHome":true,"sshAuthorizedKeys":["ssh-ed25519 AAAA a"]}`), want: "$.passwd.users.0.noCreateHome"},
		{name: ".ssh is a link", setup: func(root string) {
			os.MkdirAll(filepath.Join(root, "root"), 0o700)
			os.Symlink("/etc", filepath.Join(root, "root/.ssh"))
		}, config: users(`{"name":"root","sshAuthorizedKeys":["ssh-ed25519 AAAA a"]}`), want: "$.passwd.users.0.sshAuthorizedKeys: /root/.ssh is a link in the root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && os.Geteuid() != 0 {
				t.Skip("needs root: without it every directory is the caller's")
			}
			s := newSandbox(t)
			if tc.setup != nil {
				tc.setup(s.root)
			}
			before := snapshot(t, s.root)
			err := s.apply(t, tc.config.raw())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
			if after := snapshot(t, s.root); after != before {
				t.Errorf("a refused config changed the root:\n%s\nwas\n%s", after, before)
			}
			s.checkOutside(t)
		})
	}
}

// TestAccountsApplied: what is accepted lands as useradd would write it.
func TestAccountsApplied(t *testing.T) {
	s := newSandbox(t)
	raw := config{rest: []string{`"passwd":{"groups":[{"name":"ops","gid":2000}],"users":[
		{"name":"alice","gecos":"Alice A","shell":"/bin/sh","groups":["adm","ops"],"sshAuthorizedKeys":["ssh-ed25519 AAAA alice"]},
		{"name":"bob","uid":1500,"primaryGroup":"ops","noCreateHome":true},
		{"name":"root","passwordHash":"$6$salt$hash","sshAuthorizedKeys":["ssh-ed25519 BBBB root"]}]}`}}.raw()
	if err := s.apply(t, raw); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(s.root, p)); return string(b) }
	for _, want := range []string{"alice:x:1000:1000:Alice A:/home/alice:/bin/sh\n", "bob:x:1500:2000::/home/bob:/bin/bash\n"} {
		if !strings.Contains(read("etc/passwd"), want) {
			t.Errorf("/etc/passwd has no %q:\n%s", want, read("etc/passwd"))
		}
	}
	for _, want := range []string{"adm:x:4:alice\n", "ops:x:2000:alice\n", "alice:x:1000:\n"} {
		if !strings.Contains(read("etc/group"), want) {
			t.Errorf("/etc/group has no %q:\n%s", want, read("etc/group"))
		}
	}
	if !strings.HasPrefix(read("etc/shadow"), "root:$6$salt$hash:") {
		t.Errorf("root's password hash not set:\n%s", read("etc/shadow"))
	}
	if fi, err := os.Stat(filepath.Join(s.root, "etc/shadow")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("/etc/shadow lost its mode: %v", fi)
	}
	if read("home/alice/.ssh/authorized_keys") != "ssh-ed25519 AAAA alice\n" || read("root/.ssh/authorized_keys") != "ssh-ed25519 BBBB root\n" {
		t.Error("keys not written")
	}
	if _, err := os.Stat(filepath.Join(s.root, "home/bob")); err == nil {
		t.Error("noCreateHome made a home")
	}
	if fi, _ := os.Stat(filepath.Join(s.root, "etc")); fi.Mode().Perm() != 0o755 {
		t.Errorf("/etc is %v now", fi.Mode())
	}
	s.checkOutside(t)
}
