package customize

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/testtree"
)

// TestSetUnitsVendorsWhatTheSpecSets runs the real systemctl --root on a
// small tree: what the spec enables (with the Also= and Alias= links
// enabling makes) and masks ends in /usr/lib/systemd/system, what a
// package enabled and the spec does not name stays in /etc.
func TestSetUnitsVendorsWhatTheSpecSets(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Fatalf("systemctl is needed (the build runs it): %v", err)
	}
	root := t.TempDir()
	install := "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	testtree.Write(t, root, map[string]string{
		"usr/lib/systemd/system/a.service":         "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlso=b.socket\nAlias=alias-a.service\n",
		"usr/lib/systemd/system/b.socket":          "[Socket]\nListenStream=/run/b\n[Install]\nWantedBy=sockets.target\n",
		"usr/lib/systemd/system/c.service":         install,
		"usr/lib/systemd/system/d.service":         install,
		"usr/lib/systemd/system/keygen@.service":   "[Service]\nExecStart=/bin/true %i\n[Install]\nRequiredBy=multi-user.target\n",
		"usr/lib/systemd/system/m.timer":           "[Timer]\nOnBootSec=1\n[Install]\nWantedBy=timers.target\n",
		"usr/lib/systemd/system/multi-user.target": "[Unit]\nDescription=m\n",
	})
	// A package's postinst enabled c and d; the spec names c only.
	for _, u := range []string{"c.service", "d.service"} {
		link(t, root, "etc/systemd/system/multi-user.target.wants/"+u, "/usr/lib/systemd/system/"+u)
	}
	enable := []string{"a.service", "c.service", "keygen@ed25519.service"}
	if err := setUnits(context.Background(), root, enable, nil, []string{"m.timer"}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{
		"usr/lib/systemd/system/multi-user.target.wants/a.service":                 "/usr/lib/systemd/system/a.service",
		"usr/lib/systemd/system/sockets.target.wants/b.socket":                     "/usr/lib/systemd/system/b.socket",
		"usr/lib/systemd/system/alias-a.service":                                   "/usr/lib/systemd/system/a.service",
		"usr/lib/systemd/system/multi-user.target.wants/c.service":                 "/usr/lib/systemd/system/c.service",
		"usr/lib/systemd/system/multi-user.target.requires/keygen@ed25519.service": "/usr/lib/systemd/system/keygen@.service",
		"usr/lib/systemd/system/m.timer":                                           "/dev/null",
		"etc/systemd/system/multi-user.target.wants/d.service":                     "/usr/lib/systemd/system/d.service",
	} {
		if got, err := os.Readlink(filepath.Join(root, rel)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want -> %s", rel, got, err, want)
		}
	}
	links, err := unitLinks(root)
	if err != nil {
		t.Fatal(err)
	}
	for rel, target := range links {
		if rel != "multi-user.target.wants/d.service" {
			t.Errorf("/etc/systemd/system/%s -> %s left in /etc", rel, target)
		}
	}
	for _, gone := range []string{"etc/systemd/system/m.timer", "etc/systemd/system/sockets.target.wants"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s still there", gone)
		}
	}
	// systemd's own reading of the result: enabled from /usr, masked.
	out, err := exec.Command("systemctl", "--root="+root, "is-enabled", "a.service", "m.timer").CombinedOutput()
	t.Logf("systemctl is-enabled a.service m.timer: %s (%v)", out, err)
	if got := string(out); !containsLine(got, "masked") {
		t.Errorf("systemctl is-enabled m.timer: %q; want masked", got)
	}
}

// moveMasks refuses a mask that is not systemctl's link to /dev/null.
func TestMoveMasksRefusesOtherLinks(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{"usr/lib/systemd/system/m.timer": "[Timer]\n"})
	link(t, root, "etc/systemd/system/m.timer", "/usr/lib/systemd/system/other.timer")
	if err := moveMasks(root, []string{"m.timer"}); err == nil {
		t.Error("no error for a mask link that is not to /dev/null")
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/m.timer")); err != nil || string(b) != "[Timer]\n" {
		t.Errorf("the unit file changed: %q, %v", b, err)
	}
}

func link(t *testing.T, root, rel, target string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func containsLine(s, line string) bool {
	return slices.Contains(strings.Split(strings.TrimSpace(s), "\n"), line)
}
