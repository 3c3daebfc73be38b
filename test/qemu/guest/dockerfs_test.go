//go:build guest

package guest

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDockerOwnFilesystem: /var/lib/docker is a filesystem of its own (CIS
// Docker Benchmark 1.1.1), the DOCKER partition's, on another device than
// /, labelled container_var_lib_t from the build, and dockerd's data root
// (with the remap, a directory of it) lives there.
func TestDockerOwnFilesystem(t *testing.T) {
	const dir = "/var/lib/docker"
	m, ok := mounts(t)[dir]
	if !ok {
		t.Fatalf("%s is not a mount point", dir)
	}
	if m.fstype != "ext4" || !strings.HasPrefix(m.opts, "rw") {
		t.Errorf("%s is %s %s, want writable ext4", dir, m.fstype, m.opts)
	}
	if link, err := os.Readlink("/dev/disk/by-partlabel/DOCKER"); err != nil {
		t.Errorf("no DOCKER partition: %v", err)
	} else {
		t.Logf("%s on %s (DOCKER -> %s)", dir, m.source, link)
	}
	var a, b syscall.Stat_t
	if err := syscall.Stat("/", &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &b); err != nil {
		t.Fatal(err)
	}
	if a.Dev == b.Dev {
		t.Errorf("%s is on the same device as / (%d)", dir, a.Dev)
	}
	buf := make([]byte, 256)
	n, err := unix.Getxattr(dir, "security.selinux", buf)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if l := strings.TrimRight(string(buf[:n]), "\x00"); !strings.Contains(l, ":container_var_lib_t:") {
		t.Errorf("%s is labelled %q, want container_var_lib_t", dir, l)
	}
	out, err := docker(t, "info", "--format", "{{.DockerRootDir}}")
	if err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	if root := strings.TrimSpace(out); root != dir && !strings.HasPrefix(root, dir+"/") {
		t.Errorf("docker root dir %s is not on %s", root, dir)
	}
}
