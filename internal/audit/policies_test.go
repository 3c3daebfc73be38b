package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/nodepaths"
)

const policyDir = "../../policies/audit"

// TestPolicies loads every file in policies/audit for both targets, checks
// syntax and system call names and Bulwark's own rules for the rule set,
// and keeps what auditctl -l will list on each target in a golden file.
func TestPolicies(t *testing.T) {
	for _, target := range []string{"x86_64", "aarch64"} {
		t.Run(target, func(t *testing.T) {
			files, err := FilesFor(policyDir, target)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := ParseFiles(files)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(rules, target); err != nil {
				t.Fatal(err)
			}
			// The node loads them merged by augenrules, which must not
			// change a thing for Bulwark's files.
			merged := Augenrules(rules)
			if fmt.Sprint(merged) != fmt.Sprint(rules) {
				t.Errorf("augenrules reorders the rules:\n%v", merged)
			}
			listing, err := List(rules, target)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "policies."+target+".golden", listing)
			if _, err := Render(files); err != nil {
				t.Fatal(err)
			}
			checkPolicy(t, rules)
		})
	}
}

// checkPolicy holds the rule set to what README.md promises.
func checkPolicy(t *testing.T, rules []Rule) {
	t.Helper()
	if len(rules) == 0 || rules[0].Option != "-D" || len(rules[0].Keys) != 0 {
		t.Errorf("the first rule must be -D, so that reloading starts from nothing")
	}
	last := rules[len(rules)-1]
	if last.Option != "-e" || last.Value != "1" {
		t.Errorf("the last rule is %s at %s:%d, want -e 1", last, last.File, last.Line)
	}
	controls := map[string]string{}
	for i, r := range rules {
		where := fmt.Sprintf("%s:%d", r.File, r.Line)
		switch r.Kind {
		case Control:
			if r.Option == "-e" && i != len(rules)-1 {
				t.Errorf("%s: -e before the end; auditing must be enabled after all rules are in", where)
			}
			if r.Option == "-i" || r.Option == "-c" {
				t.Errorf("%s: %s would hide a bad rule at boot", where, r.Option)
			}
			controls[r.Option] = r.Value
		default:
			if len(r.Keys) == 0 {
				t.Errorf("%s: %s has no key; every Bulwark rule must be findable with ausearch -k", where, r)
			}
			if r.Kind == Syscall && r.Syscalls != nil {
				if _, ok := archField(r); !ok {
					t.Errorf("%s: %s names system calls without -F arch, which leaves the other ABI unaudited", where, r)
				}
			}
		}
	}
	if controls["-f"] != "1" {
		t.Errorf("failure mode is %q, want 1 (printk)", controls["-f"])
	}
	for _, opt := range []string{"-b", "--backlog_wait_time"} {
		if _, ok := controls[opt]; !ok {
			t.Errorf("no %s", opt)
		}
	}
}

// TestPolicyReadme keeps policies/audit/README.md describing every file.
func TestPolicyReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(policyDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(policyDir, "*.rules"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), filepath.Base(n)) {
			t.Errorf("README.md does not describe %s", filepath.Base(n))
		}
	}
}

// TestPoliciesAgainstRootfs checks the watched paths against a Debian
// rootfs as the build assembles it, for example
// BULWARK_TEST_ROOTFS=.cache/rootfs/x86_64-<hash>. That cache holds the
// installed packages only; the build then copies the spec's overlays and
// its unit files from units/ (into /usr/lib/systemd/system) over it, so
// the test lays those over the rootfs the same way, reading them from this
// repository. Bulwark's docker.service thereby replaces Debian's at the
// same path, and files the overlays add (daemon.json) exist.
func TestPoliciesAgainstRootfs(t *testing.T) {
	root := os.Getenv("BULWARK_TEST_ROOTFS")
	if root == "" {
		t.Skip("BULWARK_TEST_ROOTFS is not set")
	}
	spec, err := imagespec.Load("../../images/container-host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := newImageTree(root, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range spec.Architectures {
		files, err := FilesFor(policyDir, target)
		if err != nil {
			t.Fatal(err)
		}
		rules, err := ParseFiles(files)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(rules, tree); err != nil {
			t.Errorf("%s:\n%v", target, err)
		}
	}
}

// imageTree is a rootfs with the repository's overlay and unit files laid
// over it, as customize.Apply does at build time.
type imageTree struct {
	root  fs.FS
	files map[string]string // image name -> repository file
	dirs  map[string]string // image directory the overlays add -> repository directory
}

func newImageTree(rootfs string, spec *imagespec.Spec) (*imageTree, error) {
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return nil, errors.New("BULWARK_TEST_ROOTFS is not a directory: " + rootfs)
	}
	t := &imageTree{root: os.DirFS(rootfs), files: map[string]string{}, dirs: map[string]string{}}
	for _, ov := range spec.Overlays {
		dir := spec.OverlayDir(ov)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil || rel == "." {
				return err
			}
			if d.IsDir() {
				t.dirs[filepath.ToSlash(rel)] = p
			} else {
				t.files[filepath.ToSlash(rel)] = p
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, u := range spec.Units.Files {
		t.files[filepath.ToSlash(filepath.Join("usr/lib/systemd/system", u))] = spec.UnitFile(u)
	}
	// The build moves these from Debian's /usr/sbin to /usr/bin.
	for _, p := range nodepaths.MovedToBin {
		t.files[strings.TrimPrefix(p, "/")] = filepath.Join(rootfs, "usr/sbin", filepath.Base(p))
	}
	return t, nil
}

func (t *imageTree) Open(name string) (fs.File, error) { return t.root.Open(name) }

func (t *imageTree) Lstat(name string) (fs.FileInfo, error) {
	if host, ok := t.files[name]; ok {
		return os.Lstat(host)
	}
	fi, err := fs.Lstat(t.root, name)
	if host, ok := t.dirs[name]; ok && errors.Is(err, fs.ErrNotExist) {
		return os.Lstat(host)
	}
	return fi, err
}

func (t *imageTree) ReadLink(name string) (string, error) {
	if _, ok := t.files[name]; ok {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return fs.ReadLink(t.root, name)
}

func TestImageTree(t *testing.T) {
	spec := &imagespec.Spec{Dir: t.TempDir(), Overlays: []string{"o"}, Units: imagespec.Units{Files: []string{"x.service"}}}
	for _, f := range []string{"overlays/o/etc/new/file", "units/x.service"} {
		p := filepath.Join(spec.Dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "usr/lib/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(rootfs, "lib")); err != nil {
		t.Fatal(err)
	}
	tree, err := newImageTree(rootfs, spec)
	if err != nil {
		t.Fatal(err)
	}
	rules := mustParse(t, "-w /etc/new/file\n-w /lib/systemd/system/x.service\n-w /etc/new\n")
	if err := Check(rules, tree); err != nil {
		t.Errorf("got %v, want the overlay and unit files found", err)
	}
	if err := Check(mustParse(t, "-w /etc/old"), tree); err == nil {
		t.Error("got no error for a path neither the rootfs nor the overlays have")
	}
}
