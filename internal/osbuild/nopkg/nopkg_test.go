package nopkg

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/dpkgstatus"
)

// status is the fixture tree's dpkg database (with the packages TestRemove
// adds): apt needs libapt-pkg7.0 and the keyring, nothing else does.
const status = `Package: dpkg
Status: install ok installed
Essential: yes
Version: 1.22.22
Depends: tar

Package: apt
Status: install ok installed
Version: 3.0.4
Depends: libapt-pkg7.0 (>= 3.0.4), keyring
`

// g builds a graph: rel maps package → relations (alternatives joined by
// "|"), files maps package → its files, elf maps path → soname and needed.
func g(rel map[string][]string, provides map[string][]string, files map[string][]string, elf map[string]object, wanted ...string) *graph {
	gr := &graph{pkgs: map[string]*dpkgstatus.Package{}, files: files, elf: elf, owner: map[string][]string{}, wanted: map[string]bool{}}
	for n, rs := range rel {
		p := &dpkgstatus.Package{Name: n, Provides: provides[n]}
		for _, r := range rs {
			p.Relations = append(p.Relations, strings.Split(r, "|"))
		}
		gr.pkgs[n] = p
	}
	for n, fs := range files {
		for _, f := range fs {
			gr.owner[f] = append(gr.owner[f], n)
		}
	}
	for _, w := range wanted {
		gr.wanted[w] = true
	}
	return gr
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gr     *graph
		remove []string
		kept   map[string]string // name → part of the reason
	}{
		{
			name:   "only the managers",
			gr:     g(map[string][]string{"apt": nil, "dpkg": nil, "bash": nil}, nil, nil, nil),
			remove: []string{"apt", "dpkg"},
		},
		{
			name: "a library only apt needs goes, and its own library with it",
			gr: g(map[string][]string{"apt": {"libapt"}, "dpkg": nil, "libapt": {"libxx"}, "libxx": nil},
				nil, nil, nil),
			remove: []string{"apt", "dpkg", "libapt", "libxx"},
		},
		{
			name: "a dependency another package names stays",
			gr: g(map[string][]string{"apt": {"libssl", "base-passwd|adduser"}, "dpkg": nil, "libssl": nil, "adduser": nil, "curl": {"libssl"}, "dbus": {"adduser"}},
				nil, nil, nil),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"libssl": "curl relates to libssl", "adduser": "dbus relates to adduser"},
		},
		{
			name: "a Recommends keeps it too",
			gr: g(map[string][]string{"apt": {"liblz4"}, "dpkg": nil, "liblz4": nil, "systemd": {"liblz4"}},
				nil, nil, nil),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"liblz4": "systemd relates to liblz4"},
		},
		{
			name: "a relation to what it provides keeps it",
			gr: g(map[string][]string{"apt": {"gpgv"}, "dpkg": nil, "gpgv": nil, "tool": {"gpg-verifier"}},
				map[string][]string{"gpgv": {"gpg-verifier"}}, nil, nil),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"gpgv": "tool relates to gpg-verifier"},
		},
		{
			name: "a virtual relation of apt reaches its provider",
			gr: g(map[string][]string{"apt": {"gpg-verifier"}, "dpkg": nil, "sqv": nil},
				map[string][]string{"sqv": {"gpg-verifier"}}, nil, nil),
			remove: []string{"apt", "dpkg", "sqv"},
		},
		{
			name: "Essential and wanted stay",
			gr: func() *graph {
				x := g(map[string][]string{"apt": {"ca-certificates"}, "dpkg": {"tar"}, "tar": nil, "ca-certificates": nil}, nil, nil, nil, "ca-certificates")
				x.pkgs["tar"].Essential = true
				return x
			}(),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"tar": "Essential", "ca-certificates": "listed in the image spec"},
		},
		{
			name: "an ELF file that stays and loads its soname keeps a library",
			gr: g(map[string][]string{"apt": {"libstdc++6"}, "dpkg": nil, "libstdc++6": nil, "lxcfs": nil},
				nil,
				map[string][]string{"libstdc++6": {"/usr/lib/libstdc++.so.6.0.33"}, "lxcfs": {"/usr/bin/lxcfs"}, "apt": {"/usr/bin/apt"}},
				map[string]object{
					"/usr/lib/libstdc++.so.6.0.33": {soname: "libstdc++.so.6"},
					"/usr/bin/lxcfs":               {needed: []string{"libstdc++.so.6"}},
					"/usr/bin/apt":                 {needed: []string{"libstdc++.so.6"}},
				}),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"libstdc++6": "/usr/bin/lxcfs loads libstdc++.so.6"},
		},
		{
			name: "an ELF file no package owns counts as staying",
			gr: g(map[string][]string{"apt": {"libstdc++6"}, "dpkg": nil, "libstdc++6": nil},
				nil,
				map[string][]string{"libstdc++6": {"/usr/lib/libstdc++.so.6.0.33"}},
				map[string]object{
					"/usr/lib/libstdc++.so.6.0.33": {soname: "libstdc++.so.6"},
					"/usr/local/bin/tool":          {needed: []string{"libstdc++.so.6"}},
				}),
			remove: []string{"apt", "dpkg"},
			kept:   map[string]string{"libstdc++6": "/usr/local/bin/tool loads"},
		},
		{
			name: "only apt's own binaries load it: it goes",
			gr: g(map[string][]string{"apt": {"libstdc++6"}, "dpkg": nil, "libstdc++6": nil},
				nil,
				map[string][]string{"libstdc++6": {"/usr/lib/libstdc++.so.6.0.33"}, "apt": {"/usr/bin/apt"}},
				map[string]object{
					"/usr/lib/libstdc++.so.6.0.33": {soname: "libstdc++.so.6"},
					"/usr/bin/apt":                 {needed: []string{"libstdc++.so.6"}},
				}),
			remove: []string{"apt", "dpkg", "libstdc++6"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remove, kept := tc.gr.plan(Managers)
			if !slices.Equal(remove, tc.remove) {
				t.Errorf("remove %v, want %v", remove, tc.remove)
			}
			if len(kept) != len(tc.kept) {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
			for _, k := range kept {
				if want, ok := tc.kept[k.Name]; !ok || !strings.Contains(k.Reason, want) {
					t.Errorf("kept %s because %q, want %q", k.Name, k.Reason, want)
				}
			}
		})
	}
}

// write creates files (path → content) under root; content "->x" makes a
// symlink to x, a path ending in / a directory.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRemove(t *testing.T) {
	root, save := t.TempDir(), t.TempDir()
	write(t, root, map[string]string{
		"var/lib/dpkg/status": status + `
Package: keyring
Status: install ok installed
Version: 2025.1

Package: debconf
Status: install ok installed
Version: 1.5.91

Package: libapt-pkg7.0
Status: install ok installed
Version: 3.0.4

Package: tar
Status: install ok installed
Essential: yes
Version: 1.35
`,
		"var/lib/dpkg/info/dpkg.list":                                 "/.\n/usr\n/usr/bin\n/usr/bin/dpkg\n/usr/share/doc/dpkg\n/usr/share/doc/dpkg/copyright\n/lib/systemd/system/dpkg-db-backup.timer\n",
		"var/lib/dpkg/info/apt.list":                                  "/.\n/usr\n/usr/bin\n/usr/bin/apt-get\n/usr/lib/apt\n/usr/lib/apt/methods\n/usr/lib/apt/methods/http\n/usr/share/doc/apt\n/usr/share/doc/apt/copyright\n/usr/lib/systemd/system/apt-daily.timer\n",
		"var/lib/dpkg/info/keyring.list":                              "/.\n/usr/share/keyrings\n/usr/share/keyrings/debian.pgp\n",
		"var/lib/dpkg/info/libapt-pkg7.0:amd64.list":                  "/.\n/usr/lib/x86_64-linux-gnu/libapt-pkg.so.7.0\n/usr/share/doc/libapt-pkg7.0\n",
		"var/lib/dpkg/info/debconf.list":                              "/.\n/usr/bin\n/usr/bin/debconf\n/etc/apt/apt.conf.d/70debconf\n/usr/sbin/dpkg-reconfigure\n",
		"var/lib/dpkg/info/tar.list":                                  "/.\n/usr/bin\n/usr/bin/tar\n",
		"lib":                                                         "->usr/lib",
		"usr/bin/dpkg":                                                "elf",
		"usr/bin/apt-get":                                             "elf",
		"usr/bin/debconf":                                             "perl",
		"usr/bin/tar":                                                 "elf",
		"usr/sbin/dpkg-reconfigure":                                   "perl",
		"usr/lib/apt/methods/http":                                    "elf",
		"usr/lib/x86_64-linux-gnu/libapt-pkg.so.7.0":                  "elf",
		"usr/lib/systemd/system/dpkg-db-backup.timer":                 "[Timer]",
		"usr/lib/systemd/system/apt-daily.timer":                      "[Timer]",
		"usr/lib/systemd/system/ssh.service":                          "[Service]",
		"usr/share/keyrings/debian.pgp":                               "key",
		"usr/share/doc/dpkg/copyright":                                "dpkg's copyright",
		"usr/share/doc/apt/copyright":                                 "apt's copyright",
		"usr/share/doc/libapt-pkg7.0":                                 "->apt",
		"etc/apt/apt.conf.d/70debconf":                                "hook",
		"etc/apt/sources.list.d/debian.sources":                       "Types: deb",
		"etc/dpkg/dpkg.cfg.d/":                                        "",
		"var/cache/apt/archives/partial/":                             "",
		"var/log/apt/history.log":                                     "log",
		"etc/systemd/system/timers.target.wants/apt-daily.timer":      "->/usr/lib/systemd/system/apt-daily.timer",
		"etc/systemd/system/timers.target.wants/dpkg-db-backup.timer": "->/lib/systemd/system/dpkg-db-backup.timer",
		"etc/systemd/system/multi-user.target.wants/ssh.service":      "->/usr/lib/systemd/system/ssh.service",
	})
	res, err := Remove(Options{Root: root, Save: save})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"apt": "3.0.4", "dpkg": "1.22.22", "keyring": "2025.1", "libapt-pkg7.0": "3.0.4"}
	if len(res.Removed) != len(want) {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	for n, v := range want {
		if res.Removed[n] != v {
			t.Errorf("removed %s %q, want %q", n, res.Removed[n], v)
		}
	}
	for _, p := range []string{"usr/bin/dpkg", "usr/bin/apt-get", "usr/lib/apt", "usr/lib/x86_64-linux-gnu/libapt-pkg.so.7.0",
		"usr/share/keyrings", "usr/share/doc/apt", "usr/lib/systemd/system/dpkg-db-backup.timer", "var/lib/dpkg", "etc/apt", "etc/dpkg",
		"var/cache/apt", "var/log/apt", "usr/sbin/dpkg-reconfigure",
		"etc/systemd/system/timers.target.wants/apt-daily.timer", "etc/systemd/system/timers.target.wants/dpkg-db-backup.timer"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("/%s is still there", p)
		}
	}
	for _, p := range []string{"usr/bin/tar", "usr/bin/debconf", "usr/bin", "usr/lib/systemd/system/ssh.service", "etc/systemd/system/multi-user.target.wants/ssh.service"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("/%s: %v, want it kept", p, err)
		}
	}
	for p, c := range map[string]string{"doc/apt/copyright": "apt's copyright", "doc/libapt-pkg7.0/copyright": "apt's copyright", "doc/dpkg/copyright": "dpkg's copyright"} {
		if b, err := os.ReadFile(filepath.Join(save, p)); err != nil || string(b) != c {
			t.Errorf("saved %s = %q, %v; want %q", p, b, err, c)
		}
	}
	if b, err := os.ReadFile(filepath.Join(save, StatusFile)); err != nil || !strings.Contains(string(b), "Package: apt\n") {
		t.Errorf("saved status: %v", err)
	}
	if !slices.Contains(res.Others, "/etc/apt/apt.conf.d/70debconf (debconf)") || !slices.Contains(res.Others, "/usr/sbin/dpkg-reconfigure (debconf)") {
		t.Errorf("others %v, want debconf's apt hook and dpkg-reconfigure", res.Others)
	}
	if len(res.Units) != 2 {
		t.Errorf("unit links %v, want apt-daily.timer's and dpkg-db-backup.timer's", res.Units)
	}
	if left := Left(root); len(left) != 0 {
		t.Errorf("Left = %v", left)
	}
}

func TestRemoveRefusesANonDebianTree(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"var/lib/dpkg/status": "Package: apt\nStatus: install ok installed\nVersion: 1\n"})
	if _, err := Remove(Options{Root: root, Save: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "dpkg is not installed") {
		t.Errorf("got %v, want dpkg is not installed", err)
	}
	if _, err := Remove(Options{Root: t.TempDir(), Save: t.TempDir()}); err == nil {
		t.Error("a tree without dpkg's status was accepted")
	}
}
