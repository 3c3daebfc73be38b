package policy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/testtree"
)

func image(t *testing.T, store string) string {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{
		"var/lib/selinux/default/active/policy.kern": store,
		"etc/selinux/default/policy/policy.33":       "compiled",
		"usr/share/selinux/default/base.pp":          "base",
		SemanageConf:                                 "module-store = direct\n",
	})
	return root
}

func TestKeyNamesEveryInput(t *testing.T) {
	mods := t.TempDir()
	mod := filepath.Join(mods, "bulwark.cil")
	testtree.Write(t, mods, map[string]string{"bulwark.cil": "(type a)"})
	base, err := key("/c/tools/amd64-1", image(t, "store"), "default", []string{mod})
	if err != nil {
		t.Fatal(err)
	}
	same, _ := key("/c/tools/amd64-1", image(t, "store"), "default", []string{mod})
	if same != base {
		t.Errorf("equal inputs give keys %s and %s", base, same)
	}
	changed := map[string]func() (string, error){
		"another store":     func() (string, error) { return key("/c/tools/amd64-1", image(t, "store2"), "default", []string{mod}) },
		"another tool root": func() (string, error) { return key("/c/tools/amd64-2", image(t, "store"), "default", []string{mod}) },
		"another semanage.conf": func() (string, error) {
			root := image(t, "store")
			if err := setVersion(root, 34); err != nil {
				return "", err
			}
			return key("/c/tools/amd64-1", root, "default", []string{mod})
		},
		"another module": func() (string, error) {
			other := filepath.Join(t.TempDir(), "bulwark.cil")
			os.WriteFile(other, []byte("(type b)"), 0o644)
			return key("/c/tools/amd64-1", image(t, "store"), "default", []string{other})
		},
	}
	for name, f := range changed {
		k, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if k == base {
			t.Errorf("%s: same key %s", name, k)
		}
	}
}

// A cached policy for the same inputs is restored in place of the image's
// trees, without running semodule (no tool root here: a miss would fail).
func TestInstallRestoresCachedPolicy(t *testing.T) {
	root := image(t, "store")
	// Install writes the version into semanage.conf before it computes
	// the key; the entry is stored under the key of that file.
	if err := setVersion(root, 33); err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "bulwark.cil")
	os.WriteFile(mod, []byte("(type a)"), 0o644)
	cache := t.TempDir()
	k, err := key("/nonexistent/tools", root, "default", []string{mod})
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(cache, "default-"+k)
	tmp, _ := cachedir.Begin(entry)
	testtree.Write(t, tmp, map[string]string{
		"var/lib/selinux/default/active/policy.kern":             "store with bulwark",
		"var/lib/selinux/default/active/modules/400/bulwark/cil": "(type a)",
		"etc/selinux/default/policy/policy.33":                   "compiled with bulwark",
	})
	if err := cachedir.Finish(tmp, entry); err != nil {
		t.Fatal(err)
	}
	reused, err := Install(context.Background(), "/nonexistent/tools", root, "default", 33, []string{mod}, cache)
	if err != nil || !reused {
		t.Fatalf("Install = %v, %v; want a reuse", reused, err)
	}
	for p, want := range map[string]string{
		"var/lib/selinux/default/active/policy.kern":             "store with bulwark",
		"var/lib/selinux/default/active/modules/400/bulwark/cil": "(type a)",
		"etc/selinux/default/policy/policy.33":                   "compiled with bulwark",
		"usr/share/selinux/default/base.pp":                      "base",
	} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/selinux/default", cachedir.CompleteMarker)); err == nil {
		t.Error("the cache's completion marker was copied into the image")
	}
}

func TestPruneKeepsTheNewest(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	for i := range keep + 2 {
		e := filepath.Join(cache, "default-"+string(rune('a'+i)))
		os.Mkdir(e, 0o755)
		at := now.Add(time.Duration(i) * time.Minute)
		os.Chtimes(e, at, at)
	}
	os.Mkdir(filepath.Join(cache, "mls-z"), 0o755)
	prune(cache, "default")
	left, _ := filepath.Glob(filepath.Join(cache, "default-*"))
	if len(left) != keep {
		t.Fatalf("left %v; want the %d newest", left, keep)
	}
	for _, gone := range []string{"default-a", "default-b"} {
		if _, err := os.Stat(filepath.Join(cache, gone)); err == nil {
			t.Errorf("%s (oldest) kept", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "mls-z")); err != nil {
		t.Error("another policy's entry was pruned")
	}
}

func TestKernelVersion(t *testing.T) {
	for _, c := range []struct {
		release string
		want    int
		err     bool
	}{
		{"6.12.118+deb13-amd64", 33, false},
		{"6.12.118+deb13-arm64", 33, false},
		{"6.13.0", 34, false},
		{"6.17.7+deb14-amd64", 34, false},
		{"7.0.1", 34, false},
		{"5.10.0-30-amd64", 33, false},
		{"4.19.0-27-amd64", 0, true},
		{"amd64", 0, true},
		{"", 0, true},
	} {
		got, err := KernelVersion(c.release)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("KernelVersion(%q) = %d, %v; want %d (error %v)", c.release, got, err, c.want, c.err)
		}
	}
}

// setVersion replaces a shipped policy-version line and keeps the rest.
func TestSetVersion(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{SemanageConf: "module-store = direct\nexpand-check=0\npolicy-version=31\n"})
	if err := setVersion(root, 33); err != nil {
		t.Fatal(err)
	}
	once, _ := os.ReadFile(filepath.Join(root, SemanageConf))
	if err := setVersion(root, 33); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, SemanageConf))
	if string(b) != string(once) {
		t.Errorf("a second setVersion changed the file:\n%s\nthen\n%s", once, b)
	}
	var versions []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "policy-version") {
			versions = append(versions, l)
		}
	}
	if !slices.Equal(versions, []string{"policy-version = 33"}) || !strings.Contains(string(b), "module-store = direct\nexpand-check=0\n") {
		t.Errorf("semanage.conf =\n%s\nwant the other lines kept and one policy-version = 33", b)
	}
	if err := setVersion(t.TempDir(), 33); err == nil {
		t.Error("no semanage.conf: no error")
	}
}

// keepVersion leaves only the kernel's version, which libselinux then
// loads as it is, and fails when semodule did not write it.
func TestKeepVersion(t *testing.T) {
	root := t.TempDir()
	testtree.Write(t, root, map[string]string{
		"etc/selinux/default/policy/policy.33": "v33",
		"etc/selinux/default/policy/policy.34": "v34 from the package's postinst",
	})
	if err := keepVersion(root, "default", 33); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(root, "etc/selinux/default/policy/*"))
	if len(left) != 1 || filepath.Base(left[0]) != "policy.33" {
		t.Errorf("left %v; want policy.33 alone", left)
	}
	err := keepVersion(root, "default", 34)
	if err == nil || !strings.Contains(err.Error(), "/etc/selinux/default/policy/policy.34") || !strings.Contains(err.Error(), "/etc/selinux/semanage.conf") {
		t.Errorf("keepVersion(34) with policy.33 only = %v; want an error naming policy.34 and semanage.conf", err)
	}
}
