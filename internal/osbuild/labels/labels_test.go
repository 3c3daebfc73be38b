package labels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// fakeTree is a filesystem in a map: path relative to its root → node.
type fakeTree map[string]*node

func (t fakeTree) lstat(rel string) (*node, error) {
	if n, ok := t[rel]; ok {
		return n, nil
	}
	return nil, fs.ErrNotExist
}

func (t fakeTree) readFile(rel string) ([]byte, error) {
	if _, ok := t[rel]; !ok {
		return nil, fs.ErrNotExist
	}
	return []byte("contents of " + rel), nil
}

func dir(l string) *node { return &node{mode: fs.ModeDir | 0o755, label: []byte(l + "\x00")} }
func reg(l string) *node { return &node{mode: 0o644, label: []byte(l + "\x00")} }
func link(t, l string) *node {
	return &node{mode: fs.ModeSymlink | 0o777, target: t, label: []byte(l + "\x00")}
}

// fakeImage is a merged-/usr layout: ROOT with /bin -> usr/bin and
// /var/run -> /run, USR-A with a relative link across its own root.
func fakeImage() *View {
	root := fakeTree{
		"":                dir("root_t"),
		"bin":             link("usr/bin", "bin_t"),
		"etc":             dir("etc_t"),
		"etc/passwd":      reg("passwd_file_t"),
		"etc/unlabelled":  {mode: 0o644},
		"etc/empty-label": {mode: 0o644, label: []byte("\x00")},
		"etc/loop":        link("/etc/loop", "etc_t"),
		"etc/up":          link("../usr/bin", "etc_t"),
		"run":             dir("var_run_t"),
		"run/docker.sock": {mode: fs.ModeSocket | 0o660, label: []byte("container_runtime_t\x00")},
		"usr":             dir("hidden_by_the_mount_t"),
		"var":             dir("var_t"),
		"var/run":         link("/run", "var_run_t"),
	}
	usr := fakeTree{
		"":                             dir("usr_t"),
		"bin":                          dir("bin_t"),
		"bin/docker":                   reg("dockerc_exec_t"),
		"bin/nodecfg":                  reg("bin_t"),
		"libexec":                      dir("bin_t"),
		"libexec/bulwark":              dir("bin_t"),
		"libexec/bulwark/bulwark-runc": link("../../bin/nodecfg", "bin_t"),
		"lib":                          dir("lib_t"),
		"lib/os-release":               reg("etc_t"),
		"lib/escape":                   link("../../../../etc", "lib_t"),
	}
	return &View{root: root, usr: usr}
}

func TestLookup(t *testing.T) {
	img := fakeImage()
	for _, tc := range []struct {
		path, resolved, label, class string
		err                          error
	}{
		{path: "/", resolved: "/", label: "root_t", class: "dir"},
		{path: "/usr", resolved: "/usr", label: "usr_t", class: "dir"},
		{path: "/usr/", resolved: "/usr", label: "usr_t", class: "dir"},
		{path: "/usr/bin/docker", resolved: "/usr/bin/docker", label: "dockerc_exec_t", class: "file"},
		{path: "/bin", resolved: "/bin", label: "bin_t", class: "lnk_file"},
		{path: "/bin/", resolved: "/usr/bin", label: "bin_t", class: "dir"},
		{path: "/bin/docker", resolved: "/usr/bin/docker", label: "dockerc_exec_t", class: "file"},
		{path: "//bin/./docker", resolved: "/usr/bin/docker", label: "dockerc_exec_t", class: "file"},
		{path: "/usr/libexec/bulwark/bulwark-runc", resolved: "/usr/libexec/bulwark/bulwark-runc", label: "bin_t", class: "lnk_file"},
		{path: "/var/run/docker.sock", resolved: "/run/docker.sock", label: "container_runtime_t", class: "sock_file"},
		// ".." applies to the resolved path: /bin/.. is /usr, not /.
		{path: "/bin/../lib/os-release", resolved: "/usr/lib/os-release", label: "etc_t", class: "file"},
		{path: "/usr/..", resolved: "/", label: "root_t", class: "dir"},
		{path: "/..", resolved: "/", label: "root_t", class: "dir"},
		{path: "/etc/up/nodecfg", resolved: "/usr/bin/nodecfg", label: "bin_t", class: "file"},
		// A relative link out of USR-A climbs into ROOT, and stops at /.
		{path: "/usr/lib/escape/passwd", resolved: "/etc/passwd", label: "passwd_file_t", class: "file"},
		{path: "/etc/unlabelled", resolved: "/etc/unlabelled", class: "file", err: ErrNoLabel},
		{path: "/etc/empty-label", resolved: "/etc/empty-label", class: "file", err: ErrNoLabel},
		{path: "/etc/missing", err: syscall.ENOENT},
		{path: "/bin/missing", err: syscall.ENOENT},
		{path: "/etc/passwd/x", err: syscall.ENOTDIR},
		{path: "/etc/passwd/", err: syscall.ENOTDIR},
		{path: "/etc/loop", resolved: "/etc/loop", label: "etc_t", class: "lnk_file"},
		{path: "/etc/loop/", err: syscall.ELOOP},
		{path: "etc/passwd", err: fs.ErrInvalid},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f, err := img.Lookup(tc.path)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
			if tc.resolved == "" {
				if f != nil {
					t.Errorf("got %+v for a failed lookup", f)
				}
				return
			}
			if f.Path != tc.resolved || f.Label != tc.label || f.Class() != tc.class {
				t.Errorf("got %s %q %s, want %s %q %s", f.Path, f.Label, f.Class(), tc.resolved, tc.label, tc.class)
			}
		})
	}
}

func TestReadFileFollowsLinks(t *testing.T) {
	img := fakeImage()
	b, err := img.ReadFile("/etc/up/nodecfg")
	if err != nil || string(b) != "contents of bin/nodecfg" {
		t.Errorf("got %q, %v; want USR-A's bin/nodecfg", b, err)
	}
	if _, err := img.ReadFile("/usr/bin"); err == nil {
		t.Error("reading a directory succeeded")
	}
}

func TestClass(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "file"}, {fs.ModeDir, "dir"}, {fs.ModeSymlink, "lnk_file"}, {fs.ModeNamedPipe, "fifo_file"},
		{fs.ModeSocket, "sock_file"}, {fs.ModeDevice | fs.ModeCharDevice, "chr_file"}, {fs.ModeDevice, "blk_file"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			f := &File{Mode: tc.mode}
			if got := f.Class(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := matchpathconType("fifo_file"); got != "pipe" {
		t.Errorf("matchpathcon type for fifo_file: got %s, want pipe", got)
	}
}

func TestLabelType(t *testing.T) {
	for in, want := range map[string]string{
		"system_u:object_r:bin_t:s0":             "bin_t",
		"system_u:object_r:bin_t:s0-s0:c0.c1023": "bin_t",
		"system_u:object_r:bin_t":                "bin_t",
		"bin_t":                                  "",
		"":                                       "",
	} {
		if got := labelType(in); got != want {
			t.Errorf("labelType(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "debian", in: "# comment\nSELINUX=enforcing\nSELINUXTYPE=default\n", want: "default"},
		{name: "blanks", in: "  SELINUXTYPE=mls  \n", want: "mls"},
		{name: "last wins", in: "SELINUXTYPE=a\nSELINUXTYPE=b\n", want: "b"},
		{name: "commented", in: "#SELINUXTYPE=a\n", err: "no SELINUXTYPE"},
		{name: "missing", in: "SELINUX=permissive\n", err: "no SELINUXTYPE"},
		{name: "traversal", in: "SELINUXTYPE=../../tmp\n", err: "not a policy name"},
		{name: "dotdot", in: "SELINUXTYPE=..\n", err: "not a policy name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("SELINUX=enforcing\nSELINUXTYPE=default\n"))
	f.Add([]byte("SELINUXTYPE=../x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseConfig(b)
		if err != nil {
			return
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00 \t\n") {
			t.Errorf("accepted policy name %q", name)
		}
	})
}

// TestMetadataOnly checks that the compression fields are cleared however
// a read cuts through the superblock, and nothing else changes.
func TestMetadataOnly(t *testing.T) {
	img := make([]byte, 4096)
	for i := range img {
		img[i] = byte(i)
	}
	binary.LittleEndian.PutUint32(img[erofsFeatureIncompat:], erofsZeroPadding|0x40)
	binary.LittleEndian.PutUint16(img[erofsComprAlgs:], 0xffff)
	want := bytes.Clone(img)
	binary.LittleEndian.PutUint32(want[erofsFeatureIncompat:], 0x40)
	binary.LittleEndian.PutUint16(want[erofsComprAlgs:], 0)
	r := metadataOnly{bytes.NewReader(img)}
	for _, span := range [][2]int{{0, 4096}, {1024, 128}, {erofsFeatureIncompat, 6}, {1100, 20}, {erofsComprAlgs + 1, 3}, {1000, erofsFeatureIncompat - 1000 + 1}} {
		got := make([]byte, span[1])
		if _, err := r.ReadAt(got, int64(span[0])); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[span[0]:span[0]+span[1]]) {
			t.Errorf("ReadAt(%d, %d): got %x, want %x", span[0], span[1], got, want[span[0]:span[0]+span[1]])
		}
	}
}
