// Package dpkgstatus reads dpkg's database of installed packages
// (/var/lib/dpkg/status) from an image tree, without running dpkg: the
// rootfs step checks the tree against the lock with it, the trim step
// decides on its relations which packages leave with the package manager,
// and the SBOM lists its packages.
package dpkgstatus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"pault.ag/go/debian/dependency"

	"github.com/bulwark/bulwark/internal/deb822"
)

// Path is the status file's path in a tree.
const Path = "var/lib/dpkg/status"

// Package is one installed package.
type Package struct {
	Name, Version, Architecture string
	// Source is the Source field as written ("name" or "name (version)"),
	// "" when the package is built from a source of its own name.
	Source    string
	Essential bool
	// Relations are the package's Pre-Depends, Depends and Recommends, each
	// a list of alternatives (package or virtual names, versions and
	// architecture qualifiers dropped). Recommends count: Debian lists
	// dlopen()ed libraries there.
	Relations [][]string
	Provides  []string
}

// Read parses a status file and returns the installed packages by name
// (not those removed with their configuration left, or half-installed).
// dpkg writes every field this reads on one line.
func Read(r io.Reader) (map[string]*Package, error) {
	paras, err := deb822.Parse(r)
	if err != nil {
		return nil, err
	}
	out := map[string]*Package{}
	var errs []error
	for _, para := range paras {
		p := &Package{
			Name: para.Value("Package"), Version: para.Value("Version"), Architecture: para.Value("Architecture"),
			Source: para.Value("Source"), Essential: para.Value("Essential") == "yes",
		}
		if p.Name == "" || !strings.HasSuffix(para.Value("Status"), " installed") {
			continue
		}
		for _, f := range para { // in the file's order, as dpkg wrote them
			k := f.Name
			if k != "Pre-Depends" && k != "Depends" && k != "Recommends" && k != "Provides" {
				continue
			}
			d, err := dependency.Parse(f.First)
			if err != nil {
				errs = append(errs, fmt.Errorf("package %s: %s: %w", p.Name, k, err))
				continue
			}
			for _, rel := range d.Relations {
				var alt []string
				for _, poss := range rel.Possibilities {
					alt = append(alt, poss.Name)
				}
				if k == "Provides" {
					p.Provides = append(p.Provides, alt...)
				} else {
					p.Relations = append(p.Relations, alt)
				}
			}
		}
		out[p.Name] = p
	}
	return out, errors.Join(errs...)
}

// ReadFile reads the status file at path.
func ReadFile(path string) (map[string]*Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading dpkg status: %w", err)
	}
	defer f.Close()
	pkgs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("reading dpkg status %s: %w", path, err)
	}
	return pkgs, nil
}
