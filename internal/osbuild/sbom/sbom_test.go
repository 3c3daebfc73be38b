package sbom

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureLock is what the fixture's lock says of its packages.
func fixtureLock() map[string]Locked {
	return map[string]Locked{
		"bsdutils":        {Version: "1:2.41.5-0+deb13u1", Suite: "trixie", SHA256: strings.Repeat("b", 64), URL: "http://deb.debian.org/debian/pool/main/u/util-linux/bsdutils_2.41.5-0+deb13u1_amd64.deb"},
		"ca-certificates": {Version: "20250419", Suite: "trixie", SHA256: strings.Repeat("c", 64), URL: "http://deb.debian.org/debian/pool/main/c/ca-certificates/ca-certificates_20250419_all.deb"},
		"libstdc++6":      {Version: "14.2.0-19", Suite: "trixie", SHA256: strings.Repeat("1", 64), URL: "http://deb.debian.org/debian/pool/main/g/gcc-14/libstdc++6_14.2.0-19_amd64.deb"},
		"systemd":         {Version: "257.13-1~deb13u1", Suite: "trixie-security", SHA256: strings.Repeat("5", 64)},
	}
}

func fixtureDoc(t *testing.T, lock map[string]Locked) *spdx.Document {
	t.Helper()
	lic := NewLicenses()
	debs, err := Debs("testdata/root/var/lib/dpkg/status", []string{"testdata/root/usr/share/doc"}, lock, lic)
	if err != nil {
		t.Fatal(err)
	}
	bins := []GoBinary{{
		Path: "/usr/bin/nodecfg", SHA256: strings.Repeat("9", 64), Module: "github.com/bulwark/bulwark", Version: "(devel)", GoVersion: "go1.26.8",
		Deps: []Module{{Path: "github.com/coreos/ignition/v2", Version: "v2.24.0"}, {Path: "gopkg.in/yaml.v3", Version: "v3.0.1"}},
	}}
	img := Image{Name: "container-host", Arch: "x86_64", Version: "2026.11.28", File: "container-host-x86_64.raw",
		SHA256: strings.Repeat("a", 64), Distro: "trixie", VerityRootHash: strings.Repeat("f", 64), Created: time.Unix(1795858690, 0)}
	doc, err := Document(img, debs, bins, lic)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func render(t *testing.T, doc *spdx.Document) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, doc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	got := render(t, fixtureDoc(t, fixtureLock()))
	golden := "testdata/fixture.spdx.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("SBOM differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func TestReproducible(t *testing.T) {
	a, b := render(t, fixtureDoc(t, fixtureLock())), render(t, fixtureDoc(t, fixtureLock()))
	if !bytes.Equal(a, b) {
		t.Fatal("two documents from the same inputs differ")
	}
	lock := fixtureLock()
	l := lock["systemd"]
	l.SHA256 = strings.Repeat("6", 64)
	lock["systemd"] = l
	d1, d2 := fixtureDoc(t, fixtureLock()), fixtureDoc(t, lock)
	if d1.DocumentNamespace == d2.DocumentNamespace {
		t.Errorf("namespace %s did not change with the content", d1.DocumentNamespace)
	}
	if !strings.HasPrefix(d1.DocumentNamespace, NamespacePrefix+"container-host-x86_64-") {
		t.Errorf("namespace %s, want it under %s", d1.DocumentNamespace, NamespacePrefix)
	}
}

func TestRoundTripValidates(t *testing.T) {
	doc, err := Read(bytes.NewReader(render(t, fixtureDoc(t, fixtureLock()))))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(doc); err != nil {
		t.Fatal(err)
	}
	if err := Check(doc, fixtureLock()); err != nil {
		t.Fatal(err)
	}
}

// TestEveryLockedPackageListed: the document holds every installed
// package with the lock's version and .deb hash, and Check notices any
// difference.
func TestEveryLockedPackageListed(t *testing.T) {
	doc := fixtureDoc(t, fixtureLock())
	got, err := DebPackages(doc)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range fixtureLock() {
		g := got[name]
		if g.Version != l.Version || g.SHA256 != l.SHA256 {
			t.Errorf("%s: got %s %s, want %s %s", name, g.Version, g.SHA256, l.Version, l.SHA256)
		}
	}
	if g := got["bsdutils"].PURL; g != "pkg:deb/debian/bsdutils@1:2.41.5-0%2Bdeb13u1?arch=amd64&distro=trixie" {
		t.Errorf("bsdutils purl %s", g)
	}
	if _, ok := got["removed-thing"]; ok {
		t.Error("a package dpkg lists as config-files only is in the SBOM")
	}
	tests := []struct {
		name string
		edit func(map[string]Locked)
		want string
	}{
		{"other version", func(m map[string]Locked) { l := m["systemd"]; l.Version = "257.9-1"; m["systemd"] = l }, "systemd: version 257.13-1~deb13u1, want 257.9-1"},
		{"other hash", func(m map[string]Locked) { l := m["bsdutils"]; l.SHA256 = strings.Repeat("0", 64); m["bsdutils"] = l }, "bsdutils: .deb sha256"},
		{"missing", func(m map[string]Locked) { m["runc"] = Locked{Version: "1.1.15"} }, "runc 1.1.15: missing"},
		{"extra", func(m map[string]Locked) { delete(m, "ca-certificates") }, "ca-certificates 20250419: listed but not installed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := fixtureLock()
			tc.edit(want)
			err := Check(doc, want)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDebsRefusesWhatTheLockDoesNotSay(t *testing.T) {
	tests := []struct {
		name string
		edit func(map[string]Locked)
		want string
	}{
		{"not locked", func(m map[string]Locked) { delete(m, "systemd") }, "systemd=257.13-1~deb13u1 is installed but not locked"},
		{"other version", func(m map[string]Locked) { l := m["bsdutils"]; l.Version = "1:2.41-5"; m["bsdutils"] = l }, "bsdutils: installed 1:2.41.5-0+deb13u1, locked 1:2.41-5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lock := fixtureLock()
			tc.edit(lock)
			_, err := Debs("testdata/root/var/lib/dpkg/status", []string{"testdata/root/usr/share/doc"}, lock, NewLicenses())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*spdx.Document)
		want string
	}{
		{"relationship to nothing", func(d *spdx.Document) {
			d.Relationships = append(d.Relationships, &spdx.Relationship{RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "nowhere"), Relationship: "DESCRIBES"})
		}, "nowhere used in relationship"},
		{"bad license", func(d *spdx.Document) { d.Packages[1].PackageLicenseDeclared = "GPL-2+ or whatever" }, "not a valid SPDX license expression"},
		{"undeclared ref", func(d *spdx.Document) { d.Packages[1].PackageLicenseDeclared = "LicenseRef-nowhere" }, "does not declare"},
		{"duplicate id", func(d *spdx.Document) { d.Packages[2].PackageSPDXIdentifier = d.Packages[1].PackageSPDXIdentifier }, "used by more than one package"},
		{"no namespace", func(d *spdx.Document) { d.DocumentNamespace = "" }, "documentNamespace missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := fixtureDoc(t, fixtureLock())
			tc.edit(doc)
			err := Validate(doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReadGoBinary(t *testing.T) {
	// A test binary carries no module list; build a small program that does.
	exe := filepath.Join(t.TempDir(), "gobin")
	out, err := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", exe, "./testdata/gobin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	g, err := ReadGoBinary(exe, "/usr/bin/gobin", "digest")
	if err != nil {
		t.Fatal(err)
	}
	if g.GoVersion != runtime.Version() || g.Module != "github.com/bulwark/bulwark" || g.Path != "/usr/bin/gobin" {
		t.Errorf("got module %q built with %q at %s, want github.com/bulwark/bulwark built with %s", g.Module, g.GoVersion, g.Path, runtime.Version())
	}
	if len(g.Deps) != 1 || g.Deps[0].Path != "github.com/package-url/packageurl-go" || g.Deps[0].Version == "" {
		t.Errorf("deps %v, want github.com/package-url/packageurl-go at a version", g.Deps)
	}
	if _, err := ReadGoBinary(filepath.Join("testdata", "root", "var", "lib", "dpkg", "status"), "/x", ""); err == nil {
		t.Error("a text file read as a Go binary")
	}
}

// TestRemovedPackage: a package the build removed again (the package
// manager) stays listed, with its license from the copyright file the build
// saved, as a build tool of the image rather than contained in it.
func TestRemovedPackage(t *testing.T) {
	saved := t.TempDir()
	if err := os.MkdirAll(filepath.Join(saved, "libstdc++6"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyright := "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: FSF\nLicense: GPL-3+\n"
	if err := os.WriteFile(filepath.Join(saved, "libstdc++6", "copyright"), []byte(copyright), 0o644); err != nil {
		t.Fatal(err)
	}
	lic := NewLicenses()
	debs, err := Debs("testdata/root/var/lib/dpkg/status", []string{"testdata/root/usr/share/doc", saved}, fixtureLock(), lic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range debs {
		if debs[i].Name == "libstdc++6" {
			debs[i].Removed = true
			if debs[i].License != "GPL-3.0-or-later" {
				t.Errorf("libstdc++6 license %q from the saved copyright file, want GPL-3.0-or-later", debs[i].License)
			}
		}
	}
	img := Image{Name: "container-host", Arch: "x86_64", Version: "2026.11.28", File: "container-host-x86_64.raw",
		SHA256: strings.Repeat("a", 64), Distro: "trixie", Created: time.Unix(1795858690, 0)}
	doc, err := Document(img, debs, nil, lic)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(doc); err != nil {
		t.Fatal(err)
	}
	rels := map[string]string{}
	for _, r := range doc.Relationships {
		rels[string(r.RefA.ElementRefID)+" "+string(r.RefB.ElementRefID)] = r.Relationship
	}
	imgID, libID := "Image-container-host-x86-64", "deb-libstdcplusplus6-amd64"
	if got := rels[libID+" "+imgID]; got != "BUILD_TOOL_OF" {
		t.Errorf("libstdc++6 → image: %q, want BUILD_TOOL_OF", got)
	}
	if got, ok := rels[imgID+" "+libID]; ok {
		t.Errorf("image → libstdc++6: %q, want no CONTAINS for a removed package", got)
	}
	if got := rels[imgID+" deb-systemd-amd64"]; got != "CONTAINS" {
		t.Errorf("image → systemd: %q, want CONTAINS", got)
	}
	for _, p := range doc.Packages {
		if p.PackageName == "libstdc++6" && !strings.Contains(p.PackageComment, "removed from it") {
			t.Errorf("libstdc++6 comment %q does not say it was removed", p.PackageComment)
		}
	}
	if err := Check(doc, fixtureLock()); err != nil {
		t.Errorf("a removed package must still count as listed: %v", err)
	}
}
