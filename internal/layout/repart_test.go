package layout

import (
	"os"
	"strings"
	"testing"
)

// TestRepartDockerType: the repart.d definition that grows DOCKER names
// DOCKER's type, so it matches that partition and no other.
func TestRepartDockerType(t *testing.T) {
	p := "../../overlays/docker/usr/lib/repart.d/60-docker.conf"
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nType="+strings.ToLower(DockerType)+"\n") {
		t.Errorf("%s does not say Type=%s:\n%s", p, strings.ToLower(DockerType), b)
	}
}
