package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// atomicConfig touches every kind of write: files replacing files and a
// link, a new and an existing directory, links, a hard link, accounts
// with a home and keys, a unit enabled, one disabled, one masked.
func atomicConfig(t *testing.T, s *sandbox) []byte {
	os.WriteFile(filepath.Join(s.root, "etc/hostname"), []byte("image\n"), 0o644)
	os.MkdirAll(filepath.Join(s.root, "etc/app"), 0o755)
	os.Symlink("/usr/share/motd", filepath.Join(s.root, "etc/motd"))
	wants := filepath.Join(s.root, "etc/systemd/system/timers.target.wants")
	os.MkdirAll(wants, 0o755)
	os.Symlink("/usr/lib/systemd/system/apt-daily.timer", filepath.Join(wants, "apt-daily.timer"))
	return config{
		files: map[string]string{"/etc/hostname": "node7\n", "/etc/motd": "hi\n", "/etc/app/conf": "x=1\n", "/var/lib/app/data": "d"},
		storage: []string{`"directories":[{"path":"/etc/app","mode":488},{"path":"/srv/new/deep","mode":` + fmt.Sprint(0o2750) + `}]`,
			`"links":[{"path":"/etc/localtime","target":"/usr/share/zoneinfo/UTC"},{"path":"/etc/app/hard","hard":true,"target":"/etc/app/conf"}]`},
		rest: []string{`"passwd":{"users":[{"name":"alice","groups":["adm"],"sshAuthorizedKeys":["ssh-ed25519 AAAA alice"]}]}`,
			`"systemd":{"units":[{"name":"hello.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=hi.service\n"},
				{"name":"apt-daily.timer","enabled":false},{"name":"motd.service","mask":true}]}`},
	}.raw()
}

// TestApplyIsAllOrNothing fails each step of an apply in turn, as a full
// disk or a failing device would (staging each write, committing each,
// labelling, setting the hostname, writing the record), and checks the
// root is left exactly as it was: no file, mode, owner or link changed,
// no staged or kept file left, no record. Then the apply runs whole.
func TestApplyIsAllOrNothing(t *testing.T) {
	s := newSandbox(t)
	raw := atomicConfig(t, s)
	c, _, err := Parse("atomic.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.root)
	var steps []string
	fault = func(phase, real string) error { steps = append(steps, phase+" "+real); return nil }
	defer func() { fault = nil }()
	dry := newSandbox(t)
	atomicConfig(t, dry)
	if _, err := Apply(context.Background(), c, Options{Root: dry.root}); err != nil {
		t.Fatal(err)
	}
	if len(steps) < 20 {
		t.Fatalf("only %d steps: %q", len(steps), steps)
	}
	fail := func(i int) func(string, string) error {
		n := 0
		return func(phase, real string) error {
			if n++; n == i+1 {
				return &os.PathError{Op: "write", Path: real, Err: syscall.ENOSPC}
			}
			return nil
		}
	}
	var hostname string
	for i, step := range steps {
		t.Run(step, func(t *testing.T) {
			fault = fail(i)
			_, err := Apply(context.Background(), c, Options{Root: s.root, SetHostname: func(h string) error { hostname = h; return nil }})
			fault = nil
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Apply failing at step %d: %v", i, err)
			}
			if after := snapshot(t, s.root); after != before {
				t.Errorf("the root changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"labelling", Options{Relabel: func(context.Context, []string) error { return syscall.EIO }}},
		{"hostname", Options{SetHostname: func(string) error { return syscall.EPERM }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Root = s.root
			if _, err := Apply(context.Background(), c, tc.o); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Apply = %v", err)
			}
			if after := snapshot(t, s.root); after != before {
				t.Errorf("the root changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
	t.Run("record, after the hostname", func(t *testing.T) {
		fault = func(phase, real string) error {
			if phase == "commit" && real == RecordPath {
				return syscall.EIO
			}
			return nil
		}
		defer func() { fault = nil }()
		var set []string
		o := Options{Root: s.root, SetHostname: func(h string) error { set = append(set, h); return nil }}
		if _, err := Apply(context.Background(), c, o); err == nil {
			t.Fatal("Apply succeeded")
		}
		if len(set) != 2 || set[0] != "node7" {
			t.Errorf("hostnames set: %q; want node7 and then the previous one back", set)
		}
		if after := snapshot(t, s.root); after != before {
			t.Errorf("the root changed:\n%s\nwas\n%s", after, before)
		}
	})
	var relabelled []string
	o := Options{Root: s.root, Relabel: func(_ context.Context, p []string) error { relabelled = p; return nil },
		SetHostname: func(h string) error { hostname = h; return nil }}
	if did, err := Apply(context.Background(), c, o); err != nil || !did {
		t.Fatalf("Apply after the failures: %v, %v", did, err)
	}
	if got := snapshot(t, s.root); got != snapshot(t, dry.root) && !sameButRecord(got, snapshot(t, dry.root)) {
		t.Errorf("the root after failures and a rerun differs from a clean apply:\n%s\nclean:\n%s", got, snapshot(t, dry.root))
	}
	if hostname != "node7" || len(relabelled) < 10 {
		t.Errorf("hostname %q, %d paths labelled", hostname, len(relabelled))
	}
	if strings.Contains(snapshot(t, s.root), ".nodecfg-") {
		t.Error("staged or kept files left behind")
	}
	s.checkOutside(t)
}

// sameButRecord compares two snapshots but for the record's contents
// (its time) and shadow's day of the last password change.
func sameButRecord(a, b string) bool {
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "var/lib/bulwark/nodecfg/applied.json ") || strings.HasPrefix(l, "etc/shadow ") {
				l = l[:strings.Index(l, `"`)]
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	return strip(a) == strip(b)
}

// TestDirectoryModesKept: a directory the config asks for keeps its mode
// when nodecfg needs it too (enable links in a .wants directory).
func TestDirectoryModesKept(t *testing.T) {
	s := newSandbox(t)
	raw := config{storage: []string{`"directories":[{"path":"/etc/systemd/system/multi-user.target.wants","mode":448}]`},
		rest: []string{`"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}]}`}}.raw()
	if err := s.apply(t, raw); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(s.root, "etc/systemd/system/multi-user.target.wants"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the .wants directory: %v, %v; want mode 0700 as the config asks", fi.Mode(), err)
	}
}
