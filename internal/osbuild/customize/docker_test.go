package customize

import (
	"os"
	"strings"
	"testing"
)

// TestRepoDockremap: the docker overlay declares, in a sysusers.d file that
// the build's systemd-sysusers reads, the account userns-remap "default"
// uses, so the image ships it and dockerd never adds it at run time.
func TestRepoDockremap(t *testing.T) {
	p := "../../../overlays/docker/usr/lib/sysusers.d/bulwark-docker.conf"
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "u" && f[1] == "dockremap" {
			return
		}
	}
	t.Errorf("%s has no u line for dockremap:\n%s", p, b)
}

// TestDockerFstab: the DOCKER line mounts the partition on dockerd's root,
// grows it and waits for systemd-repart.
func TestDockerFstab(t *testing.T) {
	got := dockerFstab("ABCD-1")
	for _, want := range []string{"PARTUUID=abcd-1 /var/lib/docker ext4 ", "x-systemd.growfs", "x-systemd.after=systemd-repart.service", " 0 2\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("dockerFstab = %q, want it to contain %q", got, want)
		}
	}
}
