package apply

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/dockerfloor"
)

// ign is a hand-written Ignition config: the files given (path → contents),
// as Butane or a person would write them, with no floor in them.
func ign(files map[string]string, extra string) []byte {
	var fs []string
	for p, c := range files {
		fs = append(fs, `{"path":"`+p+`","overwrite":true,"contents":{"source":"data:,`+url.PathEscape(c)+`"}}`)
	}
	return []byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[` + strings.Join(fs, ",") + `]` + extra + `}}`)
}

// TestHandWrittenConfigGetsTheFloor: a config that overwrites daemon.json
// whole with its own settings still gives dockerd the floor plus them.
func TestHandWrittenConfigGetsTheFloor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"overwrites daemon.json", map[string]string{"/etc/docker/daemon.json": `{"log-level": "debug"}`}},
		{"no daemon.json at all", map[string]string{"/etc/motd": "hi\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse("hand.ign", ign(tc.files, ""), CheckOptions{Now: now, Floor: testFloor(t)})
			if err != nil {
				t.Fatal(err)
			}
			root := newRoot(t)
			if _, err := Apply(context.Background(), c, Options{Root: root, Source: "test"}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(root, "etc/docker/daemon.json"))
			if err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			for k, v := range testFloor(t) {
				if got, _ := json.Marshal(d[k]); string(got) != mustJSON(v) {
					t.Errorf("daemon.json %s = %s; the floor's is %s", k, got, mustJSON(v))
				}
			}
			if strings.Contains(tc.name, "overwrites") && d["log-level"] != "debug" {
				t.Errorf("the node's own setting is lost: %s", b)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestApplyRefusesWeakening(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		extra string
		want  string
	}{
		{"selinux off", map[string]string{"/etc/docker/daemon.json": `{"selinux-enabled": false}`}, "", "(/etc/docker/daemon.json): $.selinux-enabled: weakens the node's floor"},
		{"seccomp unconfined", map[string]string{"/etc/docker/daemon.json": `{"seccomp-profile": "unconfined"}`}, "", "$.seccomp-profile: weakens"},
		{"plain runc", map[string]string{"/etc/docker/daemon.json": `{"default-runtime": "runc"}`}, "", "$.default-runtime: weakens"},
		{"leave for another key", map[string]string{"/etc/docker/daemon.json": `{"icc": true}`, dockerfloor.WeakenPath: `["userland-proxy"]`}, "", "$.icc: weakens"},
		{"bad leave file", map[string]string{dockerfloor.WeakenPath: `icc`}, "", "must be a JSON list of floor keys"},
		{"bare tcp listener", map[string]string{"/etc/docker/daemon.json": `{"hosts": ["0.0.0.0:2375"]}`}, "", "TCP listener tcp://0.0.0.0:2375 without"},
		{"link at daemon.json", nil, `,"links":[{"path":"/etc/docker/daemon.json","target":"/tmp/mine.json"}]`, "$.storage.links.0.path: a link at /etc/docker/daemon.json"},
		{"link at /etc/docker", nil, `,"links":[{"path":"/etc/docker","target":"/tmp/docker"}]`, "would redirect the daemon.json"},
		{"docker drop-in file", map[string]string{"/etc/systemd/system/docker.service.d/10-x.conf": "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --config-file=/tmp/d.json\n"}, "", "would change how docker is started"},
		{"docker unit file", map[string]string{"/etc/systemd/system/docker.service": "[Service]\n"}, "", "would change how docker is started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("hand.ign", ign(tc.files, tc.extra), CheckOptions{Now: now, Floor: testFloor(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hand.ign") {
				t.Errorf("Parse error %v\nwant one naming hand.ign and saying %q", err, tc.want)
			}
		})
	}
	t.Run("docker unit drop-in", func(t *testing.T) {
		raw := []byte(`{"ignition":{"version":"3.3.0"},"systemd":{"units":[{"name":"docker.service","dropins":[{"name":"x.conf","contents":"[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2375\n"}]}]}}`)
		_, _, err := Parse("hand.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
		if err == nil || !strings.Contains(err.Error(), "$.systemd.units.0: docker.service: contents and drop-ins are refused") {
			t.Errorf("Parse error %v", err)
		}
	})
	t.Run("no floor on the node", func(t *testing.T) {
		_, _, err := Parse("hand.ign", ign(map[string]string{"/etc/motd": "x"}, ""), CheckOptions{Now: now})
		if err == nil || !strings.Contains(err.Error(), "floor daemon.json ("+dockerfloor.NodePath+") is missing") {
			t.Errorf("Parse without a floor = %v; want a refusal", err)
		}
	})
}

// TestApplyLeaveIsRecorded: a weakening the node spec names applies, and
// the record says so.
func TestApplyLeaveIsRecorded(t *testing.T) {
	raw := ign(map[string]string{"/etc/docker/daemon.json": `{"icc": true}`, dockerfloor.WeakenPath: `["icc"]`, "/etc/hostname": "node7\n"}, "")
	c, warn, err := Parse("hand.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "icc") {
		t.Errorf("warnings = %q; want the weakening named", warn)
	}
	root := newRoot(t)
	var hostname string
	if _, err := Apply(context.Background(), c, Options{Root: root, SetHostname: func(h string) error { hostname = h; return nil }}); err != nil {
		t.Fatal(err)
	}
	rec, _ := os.ReadFile(filepath.Join(root, RecordPath))
	if !strings.Contains(string(rec), `"weakened"`) || !strings.Contains(string(rec), "icc") {
		t.Errorf("record = %s; want the weakening recorded", rec)
	}
	if hostname != "node7" {
		t.Errorf("running hostname set to %q; want node7 (the config's)", hostname)
	}
}
