package apply

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// edit changes a rendered config: change gets storage.files by path and
// the whole config as generic JSON.
func edit(t *testing.T, raw []byte, change func(files map[string]map[string]any, cfg map[string]any)) []byte {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	storage := cfg["storage"].(map[string]any)
	files := map[string]map[string]any{}
	for _, f := range storage["files"].([]any) {
		m := f.(map[string]any)
		files[m["path"].(string)] = m
	}
	change(files, cfg)
	var list []any
	for _, f := range storage["files"].([]any) {
		if _, kept := files[f.(map[string]any)["path"].(string)]; kept {
			list = append(list, f)
		}
	}
	storage["files"] = list
	out, _ := json.Marshal(cfg)
	return out
}

func gz(t testing.TB, b []byte) string {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return "data:;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

func fileEntry(path, source, extra string) string {
	return fmt.Sprintf(`{"path":%q,"overwrite":true,"contents":{"source":%q%s}}`, path, source, extra)
}

// TestIgnitionSemanticsRefused: everything checkable is checked before the
// first write, each refusal naming its JSON path.
func TestIgnitionSemanticsRefused(t *testing.T) {
	sum256 := sha256.Sum256([]byte("hello\n"))
	big := gz(t, make([]byte, MaxFileSize+1))
	third := gz(t, make([]byte, MaxTotalSize/3+1))
	rendered := renderConfig(t)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"wrong sha512", config{storage: []string{`"files":[` + fileEntry("/etc/motd", "data:,hello%0A", `,"verification":{"hash":"sha512-`+strings.Repeat("ab", 64)+`"}`) + `]`}}.raw(),
			"$.storage.files.0.contents.verification.hash: the contents' sha512 is"},
		{"wrong sha256", config{storage: []string{`"files":[` + fileEntry("/etc/motd", "data:,hello", `,"verification":{"hash":"sha256-`+hex.EncodeToString(sum256[:])+`"}`) + `]`}}.raw(),
			"$.storage.files.0.contents.verification.hash: the contents' sha256 is"},
		{"gzip bomb", config{storage: []string{`"files":[` + fileEntry("/var/bomb", big, `,"compression":"gzip"`) + `]`}}.raw(),
			"$.storage.files.0.contents: more than 64 MiB (decompressed)"},
		{"too much together", config{storage: []string{`"files":[` + fileEntry("/var/a", third, `,"compression":"gzip"`) + "," + fileEntry("/var/b", third, `,"compression":"gzip"`) + "," + fileEntry("/var/c", third, `,"compression":"gzip"`) + `]`}}.raw(),
			"$.storage.files.2.contents: the config's files exceed 128 MiB together"},
		{"sticky file", []byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/x","mode":` + fmt.Sprint(0o1644) + `}]}}`),
			"$.storage.files.0.mode: 1644 has the sticky bit, which Linux ignores on files"},
		{"setuid directory", []byte(`{"ignition":{"version":"3.3.0"},"storage":{"directories":[{"path":"/srv/x","mode":` + fmt.Sprint(0o4755) + `}]}}`),
			"$.storage.directories.0.mode: 4755 has the setuid bit"},
		{"enabled unit without [Install]", config{files: map[string]string{"/etc/motd": "x"}, rest: []string{`"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n"}]}`}}.raw(),
			"$.systemd.units.0.contents: x.service is to be enabled but has no [Install] section"},
		{"unparsable unit", config{rest: []string{`"systemd":{"units":[{"name":"x.service","contents":"[Service\nExecStart=/bin/true\n"}]}`}}.raw(),
			"$.systemd.units.0.contents, line 1 col 107: invalid unit content: unable to find end of section"}, // Ignition's own check
		{"enabled template", config{rest: []string{`"systemd":{"units":[{"name":"x@.service","enabled":true,"contents":"[Install]\nWantedBy=multi-user.target\n"}]}`}}.raw(),
			"$.systemd.units.0.enabled: x@.service is a template"},
		{"masked and enabled", config{rest: []string{`"systemd":{"units":[{"name":"x.service","enabled":true,"mask":true}]}`}}.raw(),
			"$.systemd.units.0.mask"},
		{"TLS without a policy", edit(t, rendered, func(f map[string]map[string]any, _ map[string]any) { delete(f, "/etc/bulwark/authz/policy.json") }),
			"authorization-plugins names bulwark-authz but the config has no /etc/bulwark/authz/policy.json"},
		{"server key owned by a user", edit(t, rendered, func(f map[string]map[string]any, _ map[string]any) {
			f["/etc/docker/tls/server-key.pem"]["user"] = map[string]any{"id": 1000}
		}), ".user: /etc/docker/tls/server-key.pem must belong to root (uid 0, gid 0), not 1000:0"},
		{"policy writable by all", edit(t, rendered, func(f map[string]map[string]any, _ map[string]any) {
			f["/etc/bulwark/authz/policy.json"]["mode"] = 0o666
		}), ".mode: /etc/bulwark/authz/policy.json must not be writable by group or others (mode 0666)"},
		{"world-writable TLS directory", edit(t, rendered, func(_ map[string]map[string]any, c map[string]any) {
			c["storage"].(map[string]any)["directories"] = []any{map[string]any{"path": "/etc/docker/tls", "mode": 0o777}}
		}), "$.storage.directories.0.mode: /etc/docker/tls holds /etc/docker/tls/"},
		{"TLS directory owned by a user", edit(t, rendered, func(_ map[string]map[string]any, c map[string]any) {
			c["storage"].(map[string]any)["directories"] = []any{map[string]any{"path": "/etc/docker/tls", "mode": 0o700, "user": map[string]any{"id": 1000}}}
		}), "$.storage.directories.0.user: /etc/docker/tls holds"},
		{"sticky /etc/systemd/system", config{storage: []string{`"directories":[{"path":"/etc/systemd/system","mode":` + fmt.Sprint(0o1777) + `}]`},
			rest: []string{`"systemd":{"units":[{"name":"x.service","contents":"[Service]\n"}]}`}}.raw(),
			"$.storage.directories.0.mode: /etc/systemd/system holds /etc/systemd/system/x.service"},
		{"negative owner", []byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/x","user":{"id":-1}}]}}`),
			"$.storage.files.0.user.id: -1 is not a uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			before := snapshot(t, s.root)
			err := s.apply(t, tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.2000v\nwant one containing %q", err, tc.want)
			}
			if after := snapshot(t, s.root); after != before {
				t.Errorf("a refused config changed the root:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestIgnitionSemanticsApplied: hashes that match pass, and special mode
// bits land exactly as asked.
func TestIgnitionSemanticsApplied(t *testing.T) {
	sum := sha512.Sum512([]byte("hello\n"))
	sum256 := sha256.Sum256([]byte("hello\n"))
	raw := []byte(`{"ignition":{"version":"3.3.0"},"storage":{
		"files":[` + fileEntry("/etc/motd", gz(t, []byte("hello\n")), `,"compression":"gzip","verification":{"hash":"sha512-`+hex.EncodeToString(sum[:])+`"}`) + `,
			` + fileEntry("/etc/issue", "data:,hello%0A", `,"verification":{"hash":"sha256-`+strings.ToUpper(hex.EncodeToString(sum256[:]))+`"}`) + `,
			{"path":"/usr/local/bin/tool","mode":` + fmt.Sprint(0o4755) + `,"contents":{"source":"data:,x"}}],
		"directories":[{"path":"/srv/drop","mode":` + fmt.Sprint(0o1777) + `},{"path":"/srv/team","mode":` + fmt.Sprint(0o2775) + `}]}}`)
	raw = bytes.Replace(raw, []byte("/usr/local/bin/tool"), []byte("/opt/bin/tool"), 1)
	s := newSandbox(t)
	if err := s.apply(t, raw); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint32{"opt/bin/tool": 0o4755, "srv/drop": 0o1777, "srv/team": 0o2775, "etc/motd": 0o644} {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(s.root, p), &st); err != nil {
			t.Fatal(err)
		}
		if got := st.Mode & 0o7777; got != want {
			t.Errorf("%s: mode %04o; want %04o", p, got, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(s.root, "etc/motd")); string(b) != "hello\n" {
		t.Errorf("motd = %q", b)
	}
}

// TestGzipBombBounded: the finding's bomb (680 KB of gzip expanding to
// 512 MiB, 1.27 GB of memory) is refused after reading one file's cap.
func TestGzipBombBounded(t *testing.T) {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 512 {
		w.Write(zeros)
	}
	w.Close()
	raw := config{storage: []string{`"files":[` + fileEntry("/var/bomb", "data:;base64,"+base64.StdEncoding.EncodeToString(buf.Bytes()), `,"compression":"gzip"`) + `]`}}.raw()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := Parse("bomb.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "more than 64 MiB") {
		t.Fatalf("Parse of a %d-byte bomb: %v", len(raw), err)
	}
	t.Logf("allocated %d MiB, raw %d KiB", (after.TotalAlloc-before.TotalAlloc)>>20, len(raw)>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*MaxFileSize {
		t.Errorf("Parse allocated %d MiB for a refused bomb; want at most %d", alloc>>20, 3*MaxFileSize>>20)
	}
}

// TestFindRefusesHugeConfig: a config beyond MaxConfigSize is an error,
// read no further than the cap, never a reason to boot without one.
func TestFindRefusesHugeConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.ign")
	f, _ := os.Create(p)
	f.Truncate(MaxConfigSize + 1) // sparse
	f.Close()
	if _, _, err := Find(t.Context(), p); !errors.Is(err, errTooBig) {
		t.Errorf("Find of a %d-byte config: %v; want errTooBig", MaxConfigSize+1, err)
	}
}

// TestTrustedParentsInRoot: a directory already in the root that others
// may write is no place for the server key, whatever the config says.
func TestTrustedParentsInRoot(t *testing.T) {
	s := newSandbox(t)
	tls := filepath.Join(s.root, "etc/docker/tls")
	os.MkdirAll(tls, 0o755)
	os.Chmod(tls, 0o777)
	before := snapshot(t, s.root)
	err := s.apply(t, renderConfig(t))
	if err == nil || !strings.Contains(err.Error(), "/etc/docker/tls/server-key.pem would go in /etc/docker/tls, which another user may write (mode 0777") {
		t.Fatalf("error %v", err)
	}
	if after := snapshot(t, s.root); after != before {
		t.Errorf("a refused config changed the root:\n%s\nwas\n%s", after, before)
	}
}
