package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWritesStayInRoot reproduces each way a write escaped --root (a
// config link, a link already in the root, a relative home, a name with a
// path in it) and checks it is refused by path, or lands inside the root
// where the node itself would see it, with nothing written outside.
func TestWritesStayInRoot(t *testing.T) {
	keys := `"sshAuthorizedKeys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0ZkSH2bDbjnP3o5U5g0GVqfGsGdW4Dk8ljQ5V6jbqO alice"]`
	for _, tc := range []struct {
		name string
		// setup prepares the root; it gets the sandbox for the outside's path.
		setup  func(s *sandbox)
		config func(s *sandbox) config
		want   string // error substring; "" when the apply must succeed
		// inRoot is a path under the root that must exist after success.
		inRoot string
	}{
		{name: "config link at a home", config: func(s *sandbox) config {
			return config{storage: []string{`"links":[{"path":"/home/alice","target":` + jsonString(s.outside) + `}]`},
				rest: []string{`"passwd":{"users":[{"name":"alice",` + keys + `}]}`}}
		}, want: "$.storage.links.0.path: a link at /home/alice would redirect /home/alice/.ssh/authorized_keys"},
		{name: "config link at the unit directory", config: func(s *sandbox) config {
			return config{storage: []string{`"links":[{"path":"/etc/systemd/system","target":` + jsonString(s.outside) + `}]`},
				rest: []string{`"systemd":{"units":[{"name":"x.service","contents":"[Service]\nExecStart=/bin/true\n"}]}`}}
		}, want: "$.storage.links.0.path: a link at /etc/systemd/system would redirect /etc/systemd/system/x.service"},
		{name: "file inside a config link", config: func(s *sandbox) config {
			return config{files: map[string]string{"/etc/app/conf": "x"}, storage: []string{`"links":[{"path":"/etc/app","target":` + jsonString(s.outside) + `}]`}}
		}, want: "error at $.storage.files.0, line 1 col 54: file path includes link in config"}, // Ignition's own check
		{name: "absolute link in the root", setup: func(s *sandbox) {
			os.MkdirAll(filepath.Join(s.root, "var"), 0o755)
			os.Symlink(s.outside, filepath.Join(s.root, "var/run"))
		}, config: func(s *sandbox) config {
			return config{files: map[string]string{"/var/run/app.conf": "x"}}
		}, inRoot: "{outside}/app.conf"},
		{name: "relative link in the root climbing out", setup: func(s *sandbox) {
			os.Symlink("../../../../../../../../outside", filepath.Join(s.root, "etc/app"))
		}, config: func(s *sandbox) config {
			return config{files: map[string]string{"/etc/app/conf": "x"}}
		}, inRoot: "outside/conf"},
		{name: "root link above a home", setup: func(s *sandbox) {
			os.Symlink(s.outside, filepath.Join(s.root, "home"))
		}, config: func(s *sandbox) config {
			return config{rest: []string{`"passwd":{"users":[{"name":"alice",` + keys + `}]}`}}
		}, inRoot: "{outside}/alice/.ssh/authorized_keys"},
		{name: "root link at a file the config writes", setup: func(s *sandbox) {
			os.Symlink(filepath.Join(s.outside, "sentinel"), filepath.Join(s.root, "etc/motd"))
		}, config: func(s *sandbox) config {
			return config{files: map[string]string{"/etc/motd": "hello\n"}}
		}, inRoot: "etc/motd"},
		{name: "root link as the unit directory", setup: func(s *sandbox) {
			os.MkdirAll(filepath.Join(s.root, "etc/systemd"), 0o755)
			os.Symlink(s.outside, filepath.Join(s.root, "etc/systemd/system"))
		}, config: func(s *sandbox) config {
			return config{rest: []string{`"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}]}`}}
		}, inRoot: "{outside}/multi-user.target.wants/x.service"},
		{name: "relative homeDir", config: func(s *sandbox) config {
			return config{rest: []string{`"passwd":{"users":[{"name":"alice","homeDir":"../../outside/alice",` + keys + `}]}`}}
		}, want: `$.passwd.users.0.homeDir: "../../outside/alice" must be an absolute, clean path`},
		{name: "unit name with a path", config: func(s *sandbox) config {
			return config{rest: []string{`"systemd":{"units":[{"name":"../../../../outside/x.service","contents":"[Service]\n"}]}`}}
		}, want: "$.systemd.units.0.name"},
		{name: "drop-in name with a path", config: func(s *sandbox) config {
			return config{rest: []string{`"systemd":{"units":[{"name":"x.service","dropins":[{"name":"../../../../../outside/x.conf","contents":"[Service]\n"}]}]}`}}
		}, want: "$.systemd.units.0.dropins.0.name"},
		{name: "WantedBy with a path", config: func(s *sandbox) config {
			return config{rest: []string{`"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Install]\nWantedBy=../../../../outside/y.target\n"}]}`}}
		}, want: "$.systemd.units.0.contents: x.service: [Install] WantedBy=:"},
		{name: "hard link to a file outside through a root link", setup: func(s *sandbox) {
			os.Symlink(s.outside, filepath.Join(s.root, "escape"))
		}, config: func(s *sandbox) config {
			return config{storage: []string{`"links":[{"path":"/etc/h","hard":true,"target":"/escape/sentinel"}]`}}
		}, want: "is not a file in the root, nor one this config writes"},
		{name: "a file where a root link sends docker's unit", setup: func(s *sandbox) {
			os.MkdirAll(filepath.Join(s.root, "etc/systemd/system"), 0o755)
			os.Symlink("/etc/systemd/system", filepath.Join(s.root, "etc/units"))
		}, config: func(s *sandbox) config {
			return config{files: map[string]string{"/etc/units/docker.service.d/x.conf": "[Service]\n"}}
		}, want: "resolves to /etc/systemd/system/docker.service.d/x.conf in the root, which the docker guard refuses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			before := snapshot(t, s.root)
			err := s.apply(t, tc.config(s).raw())
			s.checkOutside(t)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v\nwant one containing %q", err, tc.want)
				}
				if after := snapshot(t, s.root); after != before {
					t.Errorf("a refused config changed the root:\n%s\nwas\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(s.root, strings.ReplaceAll(tc.inRoot, "{outside}", s.outside))
			if _, err := os.Lstat(p); err != nil {
				t.Errorf("want %s inside the root: %v", tc.inRoot, err)
			}
		})
	}
}
