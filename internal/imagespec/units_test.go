package imagespec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

// TestRepoUnitsParse checks every file in units/: it parses as a systemd
// unit, has the sections its kind needs, and runs programs by absolute path.
func TestRepoUnitsParse(t *testing.T) {
	var files []string
	filepath.Walk("../../units", func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if len(files) == 0 {
		t.Fatal("no unit files in units/")
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			opts, err := unit.DeserializeOptions(f)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			sections := map[string]bool{}
			for _, o := range opts {
				sections[o.Section] = true
				if strings.HasPrefix(o.Name, "Exec") && o.Value != "" && !strings.HasPrefix(strings.TrimLeft(o.Value, "-@:+!"), "/") {
					t.Errorf("%s: %s=%s: use an absolute path", p, o.Name, o.Value)
				}
			}
			if strings.HasSuffix(p, ".service") && (!sections["Unit"] || !sections["Service"]) {
				t.Errorf("%s: a service needs [Unit] and [Service], has %v", p, sections)
			}
		})
	}
}

// TestAuthzPluginRestarts: dockerd refuses every API request while the
// authz plugin is away, retrying its socket for about 15 s (pkg/plugins:
// backoff 1+2+4+8 s within a 30 s budget) before it answers with an error.
// The unit must bring the plugin back on any exit it did not order, and
// within that window, so that a crash delays requests instead of failing
// them. The QEMU check TestAuthzPluginKilled kills it to prove both sides.
func TestAuthzPluginRestarts(t *testing.T) {
	f, err := os.Open("../../units/bulwark-authz.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range opts {
		if o.Section == "Service" {
			got[o.Name] = o.Value
		}
	}
	for _, tc := range []struct{ key, want string }{
		{"Restart", "always"},
		{"RestartSec", "1"},
		{"Type", "notify"},
	} {
		if got[tc.key] != tc.want {
			t.Errorf("units/bulwark-authz.service: [Service] %s=%q, want %q", tc.key, got[tc.key], tc.want)
		}
	}
}
