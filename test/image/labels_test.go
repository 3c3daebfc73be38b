//go:build image

package image_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/osbuild/labels"
)

// TestLabels reads labels from the built image offline and checks the ones
// the Docker policy depends on, and that each is what the image's own
// file_contexts gives (so setfiles saw the tree the image ships).
func TestLabels(t *testing.T) {
	load(t)
	for _, tc := range []struct {
		path, resolved, class, typ string // typ "" accepts any label
	}{
		{"/usr/bin/dockerd", "", "file", "dockerd_exec_t"},
		{"/usr/bin/runc", "", "file", "container_engine_exec_t"},
		// Debian's path, a link to the file the build moved to /usr/bin:
		// Lookup follows the links of directories, not of the last element,
		// so this is the link itself (its target is checked above).
		{"/usr/sbin/dockerd", "", "lnk_file", ""},
		{"/usr/bin/docker", "", "file", "dockerc_exec_t"},
		{"/etc/docker/daemon.json", "", "file", "container_config_t"},
		{"/usr/bin/nodecfg", "", "file", "bulwark_nodecfg_exec_t"},
		{"/usr/bin/lxcfs", "", "file", "lxcfs_exec_t"},
		{"/usr/lib/systemd/system/docker.service", "", "file", "container_engine_unit_t"},
		{"/usr/libexec/bulwark/bulwark-runc", "", "lnk_file", ""},
		{"/usr", "", "dir", "usr_t"},
		{"/etc", "", "dir", "etc_t"},
		// /sbin is ROOT's link into USR-A: the lookup crosses the mount to
		// /usr/sbin/runc, Debian's path, now a link to /usr/bin/runc.
		{"/sbin/runc", "/usr/sbin/runc", "lnk_file", ""},
		{"/sbin/auditd", "/usr/sbin/auditd", "file", "auditd_exec_t"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, err := labels.Check(context.Background(), *imagePath, []string{tc.path}, labels.Options{ExpectType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Class != tc.class || r.Resolved != tc.resolved {
				t.Errorf("got %s %q, want %s %q", r.Class, r.Resolved, tc.class, tc.resolved)
			}
			t.Logf("%s\t%s", r.Path, r.Label)
		})
	}
	t.Run("missing", func(t *testing.T) {
		res, err := labels.Check(context.Background(), *imagePath, []string{"/usr/bin/no-such-tool"}, labels.Options{})
		if err != nil || res[0].Err == nil || !strings.Contains(res[0].Error, "no such file") {
			t.Errorf("got %+v, %v; want no such file", res, err)
		}
	})
	t.Run("policy", func(t *testing.T) {
		if _, err := exec.LookPath("matchpathcon"); err != nil {
			t.Skip("matchpathcon not installed (apt-get install selinux-utils)")
		}
		paths := []string{"/usr/bin/dockerd", "/usr/sbin/runc", "/usr/bin/docker", "/usr/bin/containerd", "/usr/bin/runc", "/usr/bin/nodecfg",
			"/usr/libexec/bulwark/bulwark-runc", "/usr/lib/systemd/system/docker.service", "/usr/lib/systemd/system/docker.socket",
			"/etc/docker", "/etc/docker/daemon.json", "/etc/selinux/config", "/var/lib", "/usr", "/etc", "/"}
		res, err := labels.Check(context.Background(), *imagePath, paths, labels.Options{Policy: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Errorf("%v (policy %s)", r.Err, r.Policy)
			}
		}
	})
}
