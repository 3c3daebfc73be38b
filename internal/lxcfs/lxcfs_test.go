package lxcfs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		cmd, bundle string
	}{
		{"shim create", []string{"--root", "/run/containerd/runc/moby", "--log", "/x/log.json", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid", "abc"}, "create", "/run/b"},
		{"equals form", []string{"--root=/r", "create", "--bundle=/b", "id"}, "create", "/b"},
		{"short flag", []string{"run", "-b", "/b", "id"}, "run", "/b"},
		{"default bundle", []string{"create", "id"}, "create", "."},
		{"start has no bundle", []string{"--root", "/r", "start", "id"}, "start", ""},
		{"version", []string{"--version"}, "", ""},
		{"features", []string{"features"}, "features", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, bundle := Parse(tc.args)
			if cmd != tc.cmd || bundle != tc.bundle {
				t.Errorf("Parse(%q) = %q, %q; want %q, %q", tc.args, cmd, bundle, tc.cmd, tc.bundle)
			}
		})
	}
}

func fakeLxcfs(t *testing.T, views ...string) string {
	dir := t.TempDir()
	for _, v := range views {
		p := filepath.Join(dir, v)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func destinations(t *testing.T, spec []byte) []string {
	var s struct{ Mounts []Mount }
	if err := json.Unmarshal(spec, &s); err != nil {
		t.Fatal(err)
	}
	var d []string
	for _, m := range s.Mounts {
		d = append(d, m.Destination)
	}
	return d
}

func TestPatch(t *testing.T) {
	dir := fakeLxcfs(t, "/proc/meminfo", "/proc/cpuinfo", "/sys/devices/system/cpu/online")
	ms := Mounts(dir)
	if len(ms) != 3 {
		t.Fatalf("Mounts found %d views, want the 3 present", len(ms))
	}
	tests := []struct {
		name    string
		spec    string
		want    []string
		changed bool
	}{
		{"adds views", `{"ociVersion":"1.1.0","mounts":[{"destination":"/proc","type":"proc","source":"proc"}],"x-unknown":{"kept":true}}`,
			[]string{"/proc", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu/online"}, true},
		{"user mount wins", `{"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/proc/meminfo","type":"bind","source":"/mine"}]}`,
			[]string{"/proc", "/proc/meminfo", "/proc/cpuinfo", "/sys/devices/system/cpu/online"}, true},
		{"no procfs, only sys view", `{"mounts":[]}`, []string{"/sys/devices/system/cpu/online"}, true},
		{"all taken", `{"mounts":[{"destination":"/proc","type":"proc"},{"destination":"/proc/meminfo"},{"destination":"/proc/cpuinfo"},{"destination":"/sys/devices/system/cpu/online"}]}`,
			[]string{"/proc", "/proc/meminfo", "/proc/cpuinfo", "/sys/devices/system/cpu/online"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Patch([]byte(tc.spec), ms)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if got := destinations(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("destinations %q, want %q", got, tc.want)
			}
			var top map[string]any
			json.Unmarshal(out, &top)
			if tc.name == "adds views" && top["x-unknown"] == nil {
				t.Errorf("unknown field dropped: %s", out)
			}
		})
	}
	if _, _, err := Patch([]byte(`{"mounts":{}}`), ms); err == nil {
		t.Error("Patch accepted mounts that are not a list")
	}
}

func TestPrepare(t *testing.T) {
	dir := fakeLxcfs(t, "/proc/meminfo")
	bundle := t.TempDir()
	cfg := filepath.Join(bundle, "config.json")
	os.WriteFile(cfg, []byte(`{"mounts":[{"destination":"/proc","type":"proc"}]}`), 0o600)
	if err := Prepare([]string{"--root", "/r", "create", "--bundle", bundle, "id"}, dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	if got := destinations(t, b); !slices.Equal(got, []string{"/proc", "/proc/meminfo"}) {
		t.Errorf("after Prepare: %q", got)
	}
	if fi, _ := os.Stat(cfg); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600 kept", fi.Mode().Perm())
	}
	if err := Prepare([]string{"create", "--bundle", t.TempDir(), "id"}, dir); err == nil {
		t.Error("Prepare without config.json: no error")
	}
	if err := Prepare([]string{"start", "id"}, dir); err != nil {
		t.Errorf("Prepare(start): %v", err)
	}
}
