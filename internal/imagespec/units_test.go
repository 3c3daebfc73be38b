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
