package apply

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApply applies whole Ignition configs into a temp root that holds
// links out of it (absolute and relative, at a directory and at a file)
// and asserts that nothing lands outside the root and that an apply that
// fails leaves the root as it was.
func FuzzApply(f *testing.F) {
	f.Add(renderConfig(f))
	for _, c := range []config{
		{files: map[string]string{"/var/run/x": "x", "/etc/escape/y": "y", "/etc/motd": "m", "/home/alice/.profile": "p"}},
		{storage: []string{`"links":[{"path":"/etc/l","target":"../../../outside"},{"path":"/etc/h","hard":true,"target":"/var/run/sentinel"}]`,
			`"directories":[{"path":"/var/run/d","mode":1023},{"path":"/etc/escape/e"}]`}},
		users(`{"name":"alice","homeDir":"/var/run/alice","sshAuthorizedKeys":["ssh-ed25519 AAAA a"]},{"name":"root","sshAuthorizedKeys":["k"]}`),
		{rest: []string{`"systemd":{"units":[{"name":"a.service","enabled":true,"contents":"[Install]\nWantedBy=multi-user.target\nAlias=b.service\n"},{"name":"c.service","mask":true},{"name":"apt-daily.timer","enabled":false}]}`}},
	} {
		f.Add(c.raw())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, _, err := Parse("fuzz.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
		if err != nil {
			return
		}
		s := newSandbox(t)
		os.MkdirAll(filepath.Join(s.root, "var"), 0o755)
		os.Symlink(s.outside, filepath.Join(s.root, "var/run"))
		os.Symlink("../../../../../../../../../outside", filepath.Join(s.root, "etc/escape"))
		os.Symlink(filepath.Join(s.outside, "sentinel"), filepath.Join(s.root, "etc/motd"))
		os.MkdirAll(filepath.Join(s.root, "etc/systemd/system/timers.target.wants"), 0o755)
		os.Symlink("/usr/lib/systemd/system/apt-daily.timer", filepath.Join(s.root, "etc/systemd/system/timers.target.wants/apt-daily.timer"))
		before := snapshot(t, s.root)
		_, err = Apply(context.Background(), c, Options{Root: s.root, Source: "fuzz"})
		s.checkOutside(t)
		if err != nil {
			if after := snapshot(t, s.root); after != before {
				t.Errorf("a failed apply (%v) changed the root:\n%s\nwas\n%s", err, after, before)
			}
		}
	})
}
