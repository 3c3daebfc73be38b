//go:build image

package image_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/sbom"
	"github.com/bulwark/bulwark/internal/signedsums"
)

// TestSBOM reads the image's SPDX document with the SPDX library, validates
// it, and checks it against the lock (every locked package of the arch, at
// its version and .deb SHA256, and nothing else), the manifest and
// SHA256SUMS, and that it describes this very image file.
func TestSBOM(t *testing.T) {
	img, a := load(t)
	if *specPath == "" {
		t.Fatal("-spec is required")
	}
	dir := filepath.Dir(*imagePath)
	name := sbom.File(img.Name, a.Name)
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := sbom.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sbom.Validate(doc); err != nil {
		t.Fatal(err)
	}
	spec, err := imagespec.Load(*specPath)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := imagespec.LoadLock(imagespec.LockPath(*specPath), spec, []string{a.Name})
	if err != nil {
		t.Fatal(err)
	}
	locked := map[string]sbom.Locked{}
	for n, p := range lock.Architectures[a.Name].Packages {
		locked[n] = sbom.Locked{Version: p.Version, SHA256: p.SHA256}
	}
	if err := sbom.Check(doc, locked); err != nil {
		t.Errorf("against the lock: %v", err)
	}
	installed := map[string]sbom.Locked{}
	for n, p := range img.Packages {
		installed[n] = sbom.Locked{Version: p.Version, SHA256: p.SHA256}
	}
	if err := sbom.Check(doc, installed); err != nil {
		t.Errorf("against manifest.json: %v", err)
	}
	raw := img.Name + "-" + a.Name + ".raw"
	var described, nodecfg bool
	for _, p := range doc.Packages {
		if p.PackageFileName == raw && len(p.PackageChecksums) == 1 && p.PackageChecksums[0].Value == img.Outputs[raw] {
			described = true
		}
		for _, gb := range spec.GoBinaries {
			nodecfg = nodecfg || p.PackageFileName == gb.Path
		}
	}
	if !described {
		t.Errorf("%s has no package for %s with sha256 %s", name, raw, img.Outputs[raw])
	}
	if !nodecfg {
		t.Errorf("%s lists none of the spec's Go programs", name)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := manifest.FileDigest(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sums), d+"  "+name+"\n") {
		t.Errorf("SHA256SUMS does not list %s with sha256 %s:\n%s", name, d, sums)
	}
	t.Logf("%s: %d packages, %d relationships, %d extracted licenses; namespace %s", name, len(doc.Packages), len(doc.Relationships), len(doc.OtherLicenses), doc.DocumentNamespace)
}

var keyring = flag.String("keyring", "", "public keys SHA256SUMS.gpg must be signed by (default: the caller's gpg keyring)")

// TestOutputsVerify runs osbuild verify's check on the output directory:
// the signature when the build signed (against -keyring, else the caller's
// gpg keyring, where the builder's key is), and every sum.
func TestOutputsVerify(t *testing.T) {
	dir := filepath.Dir(*imagePath)
	_, err := os.Stat(filepath.Join(dir, signedsums.SignatureFile))
	res, err := signedsums.Verify(context.Background(), dir, signedsums.VerifyOptions{Keyring: *keyring, Unsigned: os.IsNotExist(err)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("signer %q, %d files", res.Signer, len(res.Files))
}
