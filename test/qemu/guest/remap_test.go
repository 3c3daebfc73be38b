//go:build guest

package guest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// hostUIDMap is the uid_map of the initial user namespace: every id, itself.
const hostUIDMap = "0 0 4294967295"

// remapRange reads dockremap's first range from an /etc/subuid-style file.
func remapRange(t *testing.T, file string) (start, n int64) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) == 3 && f[0] == "dockremap" {
			start, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 == nil && err2 == nil {
				return start, n
			}
		}
	}
	t.Fatalf("%s has no dockremap range:\n%s", file, b)
	return 0, 0
}

// TestUsernsRemap: the floor's user-namespace remap is in effect. A plain
// `docker run` maps container root to dockremap's subordinate range (its
// uid_map is not the host's identity map), docker info says so, and root
// on the local socket can still leave the remap with --userns=host.
func TestUsernsRemap(t *testing.T) {
	importBusybox(t)
	start, n := remapRange(t, "/etc/subuid")
	gstart, _ := remapRange(t, "/etc/subgid")
	info, err := docker(t, "info", "--format", "{{json .SecurityOptions}} {{.DockerRootDir}}")
	t.Logf("docker info: %s", info)
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	if !strings.Contains(info, "name=userns") {
		t.Errorf("docker info security options %s lack name=userns", info)
	}
	if root := "/var/lib/docker/" + strconv.FormatInt(start, 10) + "." + strconv.FormatInt(gstart, 10); !strings.HasSuffix(strings.TrimSpace(info), " "+root) {
		t.Errorf("docker root dir: %s; want %s (the remapped root's own tree)", info, root)
	}
	plain := runIn(t, nil, `echo "uid_map=$(cat /proc/self/uid_map)"; echo "id=$(id -u)"`)
	got := strings.Join(strings.Fields(plain["uid_map"]), " ")
	want := "0 " + strconv.FormatInt(start, 10) + " " + strconv.FormatInt(n, 10)
	switch {
	case got == hostUIDMap:
		t.Errorf("plain docker run: uid_map %q is the host's: container root is host root", got)
	case got != want:
		t.Errorf("plain docker run: uid_map %q; want %q (dockremap's range in /etc/subuid)", got, want)
	}
	if plain["id"] != "0" {
		t.Errorf("plain docker run: id -u %q inside; want 0 (root of its own namespace)", plain["id"])
	}
	host := runIn(t, []string{"--userns=host"}, `echo "uid_map=$(cat /proc/self/uid_map)"`)
	if got := strings.Join(strings.Fields(host["uid_map"]), " "); got != hostUIDMap {
		t.Errorf("docker run --userns=host: uid_map %q; want %q", got, hostUIDMap)
	}
}

// TestContentTrustInLoginShells: a login shell on the node has Docker
// Content Trust on (the image's /etc/profile.d file; the node spec of the
// test keeps the default).
func TestContentTrustInLoginShells(t *testing.T) {
	out, err := exec.Command("bash", "-lc", `printf '%s' "${DOCKER_CONTENT_TRUST-unset}"`).CombinedOutput()
	if err != nil {
		t.Fatalf("bash -l: %v\n%s", err, out)
	}
	if string(out) != "1" {
		t.Errorf("DOCKER_CONTENT_TRUST in a login shell = %q; want \"1\"", out)
	}
}
