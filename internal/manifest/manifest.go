// Package manifest records what went into each built image: packages and
// versions, the verity root hash, the partition table and the digests of
// the inputs and outputs. One manifest.json per output directory holds an
// entry per image, so building both arches into one directory keeps both.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/sparse"
)

// File is manifest.json.
type File struct {
	Images map[string]*Image `json:"images"` // key: <name>-<arch>
}

// Image describes one built image.
type Image struct {
	Name           string             `json:"name"`
	Arch           string             `json:"arch"`
	Version        string             `json:"version,omitempty"` // os-release IMAGE_VERSION
	Kernel         string             `json:"kernel"`
	Cmdline        string             `json:"cmdline"`
	VerityRootHash string             `json:"verityRootHash"`
	USRBytes       int64              `json:"usrBytes"`
	Layout         *layout.Layout     `json:"layout"`
	Packages       map[string]Package `json:"packages"`
	Inputs         map[string]string  `json:"inputs"`  // input file → sha256
	Outputs        map[string]string  `json:"outputs"` // output file → sha256
	Steps          []progress.Timing  `json:"steps"`
}

// Package is one installed Debian package: its version, the suite of the
// release it came from (trixie, trixie-updates, trixie-security) and the
// SHA256 of the .deb it was installed from. Removed marks a package the
// build installed and then took out of the image (the package manager and
// what only it needed: the node carries no apt or dpkg).
type Package struct {
	Version string `json:"version"`
	Suite   string `json:"suite"`
	SHA256  string `json:"sha256"`
	Removed bool   `json:"removed,omitempty"`
}

// Update merges img into dir/manifest.json and rewrites dir/SHA256SUMS
// for every output the manifest lists, both atomically.
func Update(dir string, img *Image) error {
	path := filepath.Join(dir, "manifest.json")
	m := &File{Images: map[string]*Image{}}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, m); err != nil || m.Images == nil {
			m = &File{Images: map[string]*Image{}}
		}
	}
	m.Images[img.Name+"-"+img.Arch] = img
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	sums := map[string]string{}
	for _, im := range m.Images {
		for f, s := range im.Outputs {
			sums[f] = s
		}
	}
	var names []string
	for f := range sums {
		names = append(names, f)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, f := range names {
		fmt.Fprintf(&sb, "%s  %s\n", sums[f], f)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sb.String()), 0o644)
}

// FileDigest returns the hex sha256 of the file at path.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	// A raw disk image is mostly holes: read only its data (package sparse).
	if err := sparse.Hash(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ForImage reads the manifest.json beside the raw image at path and returns
// that image's entry.
func ForImage(path string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var m File
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".raw"), ".qcow2")
	img := m.Images[name]
	if img == nil {
		return nil, fmt.Errorf("manifest.json has no entry %q", name)
	}
	return img, nil
}
