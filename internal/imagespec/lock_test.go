package imagespec

import (
	"os"
	"strings"
	"testing"
)

// writeSpecAndLock writes base as images/test.yaml (with the overlay it
// names) and lock as its lock file, and returns the loaded spec.
func writeSpecAndLock(t *testing.T, lock string) (*Spec, string) {
	t.Helper()
	p := writeSpec(t, base)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	lock = strings.ReplaceAll(lock, "DIGEST", s.PackageInputsDigest())
	if err := os.WriteFile(LockPath(p), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, LockPath(p)
}

const sum = "011a9400344c6412f8fbb9184c03fd7051faa45612de0d9cfc907ec8a1a20005"

func TestLoadLock(t *testing.T) {
	good := `apiVersion: bulwark.dev/v1alpha1
kind: ImageLock
spec: test
inputsDigest: DIGEST
sourceDateEpoch: 1795858690
tools:
    amd64:
        packages:
TOOLS
architectures:
    x86_64:
        packages:
            systemd: {version: 257.13-1, suite: trixie, size: 10, sha256: ` + sum + `, path: pool/main/s/systemd/systemd_257.13-1_amd64.deb}
            docker.io: {version: 26.1.5, suite: trixie, size: 10, sha256: ` + sum + `, path: pool/main/d/docker.io/docker.io_26.1.5_amd64.deb}
            linux-image-amd64: {version: 6.12.118-1, suite: trixie-security, size: 10, sha256: ` + sum + `, path: pool/updates/main/l/linux/linux-image-amd64_6.12.118-1_amd64.deb}
`
	var tools strings.Builder
	for _, p := range ToolPackages {
		tools.WriteString("            " + p + ": {version: '1', suite: trixie, size: 1, sha256: " + sum + ", path: pool/main/x/" + p + "_1_amd64.deb}\n")
	}
	good = strings.Replace(good, "TOOLS\n", tools.String(), 1)
	tests := []struct {
		name     string
		old, new string
		want     string // substring of the error; "" = loads
	}{
		{"valid", "", "", ""},
		{"suite not in the spec", "suite: trixie-security", "suite: bookworm-security", `$.architectures.x86_64.packages.linux-image-amd64.suite: suite "bookworm-security" is not one of the spec's $.debian.suites`},
		{"short hash", "sha256: " + sum + ", path: pool/main/s/", "sha256: abc, path: pool/main/s/", `$.architectures.x86_64.packages.systemd.sha256: must be 64 lower-case hex digits`},
		{"path escapes the pool", "path: pool/main/d/docker.io/docker.io_26.1.5_amd64.deb", "path: pool/../../etc/passwd.deb", `$.architectures.x86_64.packages.docker.io.path: must be the .deb's path`},
		{"no size", "docker.io: {version: 26.1.5, suite: trixie, size: 10", "docker.io: {version: 26.1.5, suite: trixie, size: 0", `$.architectures.x86_64.packages.docker.io.size`},
		{"version pin syntax", "{version: 26.1.5,", "{version: \"26.1.5=1\",", `$.architectures.x86_64.packages.docker.io.version: bad version`},
		{"old name: version form", "            systemd: {version: 257.13-1, suite: trixie, size: 10, sha256: " + sum + ", path: pool/main/s/systemd/systemd_257.13-1_amd64.deb}", "            systemd: 257.13-1", `$.architectures.x86_64.packages.systemd: expected a mapping`},
		{"spec package missing", "            docker.io:", "            docker-io:", `spec package "docker.io" is not in the lock`},
		{"stale inputs", "inputsDigest: DIGEST", "inputsDigest: sha256:00", "$.inputsDigest: stale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := good
			if tc.old != "" {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("test lock lacks %q", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			s, path := writeSpecAndLock(t, text)
			l, err := LoadLock(path, s, []string{"x86_64"})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadLock: %v", err)
				}
				if got := l.Architectures["x86_64"].Packages["linux-image-amd64"]; got.Suite != "trixie-security" || got.SHA256 != sum {
					t.Errorf("linux-image-amd64 = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadLock error = %v\nwant one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

// TestLockRoundTrip: what Marshal writes, LoadLock reads back, one line per
// package.
func TestLockRoundTrip(t *testing.T) {
	l := &Lock{APIVersion: APIVersion, Kind: "ImageLock", Spec: "test", SourceDateEpoch: 1,
		Tools:         map[string]ArchPackages{"amd64": {Packages: map[string]Package{}}},
		Architectures: map[string]ArchPackages{"x86_64": {Packages: map[string]Package{}}}}
	for _, p := range ToolPackages {
		l.Tools["amd64"].Packages[p] = Package{Version: "1:2.0-1", Suite: "trixie", Size: 3, SHA256: sum, Path: "pool/main/x/" + p + ".deb"}
	}
	for _, p := range []string{"systemd", "docker.io", "linux-image-amd64"} {
		l.Architectures["x86_64"].Packages[p] = Package{Version: "1.0", Suite: "trixie-security", Size: 3, SHA256: sum, Path: "pool/updates/main/x/" + p + ".deb"}
	}
	s, path := writeSpecAndLock(t, "x")
	l.InputsDigest = s.PackageInputsDigest()
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "            systemd: {version: \"1.0\", suite: trixie-security, size: 3, sha256: "+sum+", path: pool/updates/main/x/systemd.deb}\n") {
		t.Errorf("a package is not one flow-style line:\n%s", b)
	}
	os.WriteFile(path, b, 0o644)
	got, err := LoadLock(path, s, []string{"x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.SamePackages(l) {
		t.Error("the lock read back differs from the one written")
	}
}
