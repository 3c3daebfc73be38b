package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sampleIgnition = `{
  "ignition": {"version": "3.3.0"},
  "storage": {
    "files": [
      {"path": "/etc/hostname", "mode": 420, "contents": {"source": "data:,node1%0A"}},
      {"path": "/etc/docker/daemon.json", "mode": 420, "contents": {"source": "data:;base64,eyJhdXRob3JpemF0aW9uLXBsdWdpbnMiOlsiYnVsd2Fyay1hdXRoeiJdLCJkZWZhdWx0LXJ1bnRpbWUiOiJidWx3YXJrIiwiaG9zdHMiOlsidW5peDovLy9ydW4vZG9ja2VyLnNvY2siLCJ0Y3A6Ly8wLjAuMC4wOjIzNzYiXSwibG9nLWxldmVsIjoiaW5mbyIsInNlY2NvbXAtcHJvZmlsZSI6Ii91c3Ivc2hhcmUvYnVsd2Fyay9zZWNjb21wL2RlZmF1bHQuanNvbiIsInNlbGludXgtZW5hYmxlZCI6dHJ1ZSwidGxzY2FjZXJ0IjoiL2V0Yy9kb2NrZXIvdGxzL2NhLnBlbSIsInRsc3ZlcmlmeSI6dHJ1ZX0="}},
      {"path": "/etc/docker/tls/server-key.pem", "mode": 256, "contents": {"source": "data:,KEY"}},
      {"path": "/etc/bulwark/authz/policy.json", "mode": 420, "contents": {"source": "data:,%7B%7D"}}
    ],
    "directories": [{"path": "/var/lib/app/"}],
    "links": [{"path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC"}]
  },
  "systemd": {"units": [
    {"name": "foo.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"},
    {"name": "docker.service", "dropins": [{"name": "10-x.conf", "contents": "[Service]\n"}]},
    {"name": "bar.service", "enabled": true}
  ]}
}`

func TestIgnitionPaths(t *testing.T) {
	got, err := ignitionPaths([]byte(sampleIgnition))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/bulwark/authz/policy.json", "/etc/docker/daemon.json", "/etc/docker/tls/server-key.pem", "/etc/hostname", "/etc/localtime",
		"/etc/systemd/system/docker.service.d/10-x.conf", "/etc/systemd/system/foo.service", "/var/lib/app"}
	if !slices.Equal(got, want) {
		t.Errorf("ignitionPaths = %q; want %q", got, want)
	}
	if _, err := ignitionPaths([]byte("{")); err == nil {
		t.Error("ignitionPaths of broken JSON: no error")
	}
}

func TestWithParents(t *testing.T) {
	got := withParents([]string{"/etc/docker/tls/ca.pem", "/etc/hostname"})
	want := []string{"/etc", "/etc/docker", "/etc/docker/tls", "/etc/docker/tls/ca.pem", "/etc/hostname"}
	if !slices.Equal(got, want) {
		t.Errorf("withParents = %q; want %q", got, want)
	}
}

func TestJudgeTrees(t *testing.T) {
	config := []string{"/etc", "/etc/hostname"}
	diffs := []Difference{
		{Path: "/etc/.ignition-result.json", Kind: "only-b"},
		{Path: "/etc/hostname", Kind: "differs", Fields: []string{fieldMode}},
		{Path: "/var/lib/bulwark/nodecfg/applied.json", Kind: "only-a"},
		{Path: "/etc/motd", Kind: "differs", Fields: []string{fieldContent}},
	}
	mis, rec := judgeTrees(diffs, config)
	var got []string
	for _, d := range mis {
		got = append(got, d.Path)
	}
	if want := []string{"/etc/hostname", "/etc/motd"}; !slices.Equal(got, want) {
		t.Errorf("mismatches = %q; want %q (a config path, and a path both wrote differently)", got, want)
	}
	if !slices.Equal(rec["ignition"], []string{"/etc/.ignition-result.json"}) || !slices.Equal(rec["nodecfg"], []string{"/var/lib/bulwark/nodecfg/applied.json"}) {
		t.Errorf("records = %v; want each tool's own file", rec)
	}
}

func TestCompareFirstboot(t *testing.T) {
	files := map[string]string{"etc/hostname": "node1\n", "etc/docker/tls/server-key.pem": "KEY"}
	tests := []struct {
		name      string
		nodecfg   map[string]string
		modes     map[string]os.FileMode
		wantMatch bool
		wantMis   string
	}{
		{"same files, own records", map[string]string{"var/lib/bulwark/nodecfg/applied.json": "{}"}, nil, true, ""},
		{"key mode differs", map[string]string{"etc/docker/tls/server-key.pem": "KEY"}, map[string]os.FileMode{"etc/docker/tls/server-key.pem": 0o644}, false, "/etc/docker/tls/server-key.pem: mode differ (0644 vs 0400)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, i := t.TempDir(), t.TempDir()
			for _, root := range []string{n, i} {
				if err := seedRoot(root); err != nil {
					t.Fatal(err)
				}
			}
			writeTree(t, n, files, map[string]os.FileMode{"etc/docker/tls/server-key.pem": 0o400})
			writeTree(t, n, tc.nodecfg, tc.modes)
			writeTree(t, i, files, map[string]os.FileMode{"etc/docker/tls/server-key.pem": 0o400})
			writeTree(t, i, map[string]string{"etc/.ignition-result.json": "{}"}, nil)
			res, err := compareFirstboot(n, i, []string{"/etc/hostname", "/etc/docker/tls/server-key.pem"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Match != tc.wantMatch {
				t.Errorf("match = %v; want %v (%s)", res.Match, tc.wantMatch, res.verdict())
			}
			if tc.wantMis != "" && (len(res.Mismatches) != 1 || res.Mismatches[0].String() != tc.wantMis) {
				t.Errorf("mismatches = %v; want [%s]", res.Mismatches, tc.wantMis)
			}
			if !slices.Contains(res.Records["ignition"], "/etc/.ignition-result.json") {
				t.Errorf("records = %v; want Ignition's result file among them", res.Records)
			}
			if !strings.Contains(res.verdict(), "5 config paths") { // /etc, /etc/docker, /etc/docker/tls, the key, /etc/hostname
				t.Errorf("verdict %q does not count 5 config paths", res.verdict())
			}
		})
	}
}

func TestSeedRoot(t *testing.T) {
	root := t.TempDir()
	if err := seedRoot(root); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/selinux/config"))
	if err != nil || !strings.Contains(string(b), "SELINUXTYPE=") {
		t.Errorf("seeded /etc/selinux/config = %q, %v; want a SELINUXTYPE line (Ignition's files stage reads it)", b, err)
	}
}
