//go:build root

package labels

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/layout"
)

// skipOrFail skips, unless BULWARK_REQUIRE_HOST_TOOLS asks for every test
// to run (make test-root).
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func needHost(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to set security.* xattrs; run `make test-root`")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, tool+" not installed; `make deps` installs it")
		}
	}
}

// entry is one file of a test tree; label "" leaves it unlabelled.
type entry struct {
	path, label string
	dir         bool
	link        string
	data        string
}

func makeTree(t *testing.T, root string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.MkdirAll(p, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, p)
		default:
			err = os.WriteFile(p, []byte(e.data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.label != "" {
			// Stored as the kernel stores it, with a trailing NUL.
			if err := unix.Lsetxattr(p, xattrName, []byte("system_u:object_r:"+e.label+":s0\x00"), 0); err != nil {
				t.Fatalf("labelling %s: %v", p, err)
			}
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

const fileContexts = `/.*	system_u:object_r:default_t:s0
/	-d	system_u:object_r:root_t:s0
/bin	-l	system_u:object_r:bin_t:s0
/etc(/.*)?	system_u:object_r:etc_t:s0
/etc/docker(/.*)?	system_u:object_r:container_config_t:s0
/run(/.*)?	<<none>>
/usr(/.*)?	system_u:object_r:usr_t:s0
/usr/bin(/.*)?	system_u:object_r:bin_t:s0
/usr/bin/docker	--	system_u:object_r:dockerc_exec_t:s0
/usr/libexec/bulwark(/.*)?	system_u:object_r:bin_t:s0
`

// longTarget is a symlink target too long for the inode (60 bytes or
// more), which ext4 keeps in a data block.
var longTarget = "/usr/bin" + strings.Repeat("/../bin", 10)

// buildDisk makes a GPT disk with a compressed EROFS USR-A and an ext4 ROOT
// from labelled trees, as the build does, and returns its path.
func buildDisk(t *testing.T) string {
	needHost(t, "mkfs.erofs", "mkfs.ext4")
	dir := t.TempDir()
	usr, root := filepath.Join(dir, "usr"), filepath.Join(dir, "root")
	makeTree(t, usr, []entry{
		{path: ".", dir: true, label: "usr_t"},
		{path: "bin", dir: true, label: "bin_t"},
		{path: "bin/docker", label: "dockerc_exec_t", data: strings.Repeat("compress me ", 10000)},
		{path: "bin/nodecfg", label: "bin_t", data: "#!/bin/sh\n"},
		{path: "libexec/bulwark", dir: true, label: "bin_t"},
		{path: "libexec/bulwark/bulwark-runc", label: "bin_t", link: "../../bin/nodecfg"},
		{path: "lib/unlabelled", data: "x"},
	})
	makeTree(t, root, []entry{
		{path: ".", dir: true, label: "root_t"},
		{path: "bin", label: "bin_t", link: "usr/bin"},
		{path: "etc", dir: true, label: "etc_t"},
		{path: "etc/docker/daemon.json", label: "container_config_t", data: "{}\n"},
		{path: "etc/mislabelled", label: "bin_t", data: "x"},
		{path: "etc/long", label: "etc_t", link: longTarget},
		{path: "etc/selinux/config", label: "etc_t", data: "SELINUX=enforcing\nSELINUXTYPE=test\n"},
		{path: "etc/selinux/test/contexts/files/file_contexts", label: "etc_t", data: fileContexts},
		{path: "run", dir: true, label: "var_run_t"},
		{path: "usr", dir: true, label: "usr_t"},
	})
	os.Chmod(filepath.Join(root, "etc/docker"), 0o755)
	usrImg, rootImg := filepath.Join(dir, "usr.erofs"), filepath.Join(dir, "root.ext4")
	run(t, "mkfs.erofs", "-zlz4hc", usrImg, usr)
	run(t, "mkfs.ext4", "-q", "-F", "-d", root, rootImg, "16M")

	const mib = 1 << 20
	disk := filepath.Join(dir, "disk.raw")
	d, err := diskfs.Create(disk, 24*mib, diskfs.SectorSize512)
	if err != nil {
		t.Fatal(err)
	}
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, Partitions: []*gpt.Partition{
		{Index: 1, Start: 1 * mib / 512, End: 5*mib/512 - 1, Size: 4 * mib, Type: gpt.LinuxFilesystem, Name: layout.USRA},
		{Index: 2, Start: 5 * mib / 512, End: 21*mib/512 - 1, Size: 16 * mib, Type: gpt.LinuxFilesystem, Name: layout.Root},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	d.Close()
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for img, at := range map[string]int64{usrImg: 1 * mib, rootImg: 5 * mib} {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, at); err != nil {
			t.Fatal(err)
		}
	}
	return disk
}

// builtDiskWant is what the disk of buildDisk holds: label type, the type
// its file_contexts gives, and the error.
var builtDiskWant = []struct{ path, label, policy, err string }{
	{"/", "root_t", "root_t", ""},
	{"/usr", "usr_t", "usr_t", ""},
	{"/usr/bin/docker", "dockerc_exec_t", "dockerc_exec_t", ""},
	{"/bin/docker", "dockerc_exec_t", "dockerc_exec_t", ""},
	{"/bin", "bin_t", "bin_t", ""},
	{"/usr/libexec/bulwark/bulwark-runc", "bin_t", "bin_t", ""},
	{"/etc/docker/daemon.json", "container_config_t", "container_config_t", ""},
	{"/etc/mislabelled", "bin_t", "etc_t", "file_contexts gives system_u:object_r:etc_t:s0"},
	{"/etc/long", "etc_t", "etc_t", ""},
	{"/run", "var_run_t", NoContext, ""},
	{"/usr/lib/unlabelled", "", "usr_t", "no SELinux label"},
	{"/etc/missing", "", "", "no such file"},
}

func TestCheckBuiltDisk(t *testing.T) {
	for _, policy := range []bool{false, true} {
		name := "labels"
		if policy {
			name = "policy"
		}
		t.Run(name, func(t *testing.T) {
			disk := buildDisk(t)
			if _, err := exec.LookPath("matchpathcon"); policy && err != nil {
				// Not skipOrFail: scripts/deps.sh does not install selinux-utils.
				t.Skip("matchpathcon not installed (apt-get install selinux-utils)")
			}
			var paths []string
			for _, w := range builtDiskWant {
				paths = append(paths, w.path)
			}
			res, err := Check(context.Background(), disk, paths, Options{Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			ctx := func(typ string) string {
				if typ == "" || typ == NoContext {
					return typ
				}
				return "system_u:object_r:" + typ + ":s0"
			}
			for i, w := range builtDiskWant {
				r := res[i]
				if !policy {
					w.policy = ""
					if strings.Contains(w.err, "file_contexts") {
						w.err = ""
					}
				}
				if r.Label != ctx(w.label) || r.Policy != ctx(w.policy) {
					t.Errorf("%s: got label %q policy %q, want %q %q", w.path, r.Label, r.Policy, ctx(w.label), ctx(w.policy))
				}
				if w.err == "" && r.Err != nil || w.err != "" && (r.Err == nil || !strings.Contains(r.Error, w.err)) {
					t.Errorf("%s: got error %v, want %q", w.path, r.Err, w.err)
				}
			}
		})
	}
}

func TestOpenBuiltDisk(t *testing.T) {
	disk := buildDisk(t)
	img, err := Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	t.Run("long symlink target", func(t *testing.T) {
		if len(longTarget) < 60 {
			t.Fatalf("%s is short enough for the inode", longTarget)
		}
		f, err := img.Lookup("/etc/long/docker")
		if err != nil || f.Path != "/usr/bin/docker" {
			t.Errorf("got %+v, %v; want /usr/bin/docker through %s", f, err, longTarget)
		}
	})
	t.Run("compressed data is refused", func(t *testing.T) {
		if b, err := img.ReadFile("/usr/bin/docker"); err == nil || !strings.Contains(err.Error(), "compressed") {
			t.Errorf("got %d bytes, %v; want an error about compression", len(b), err)
		}
		b, err := img.ReadFile("/etc/selinux/config")
		if err != nil || !bytes.Contains(b, []byte("SELINUXTYPE=test")) {
			t.Errorf("reading from ROOT: got %q, %v", b, err)
		}
	})
	t.Run("expect type", func(t *testing.T) {
		res, err := Check(context.Background(), disk, []string{"/usr/bin/nodecfg", "/usr/bin/docker"}, Options{ExpectType: "bin_t"})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || !errors.Is(res[1].Err, ErrMismatch) {
			t.Errorf("got %v and %v; want nil and a mismatch", res[0].Err, res[1].Err)
		}
	})
}
