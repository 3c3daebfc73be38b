// Package dpkgstatus reads dpkg's database of installed packages
// (/var/lib/dpkg/status) from an image tree, without running dpkg: the
// rootfs step checks the tree against the lock with it, the trim step
// decides on its relations which packages leave with the package manager,
// and the SBOM lists its packages.
package dpkgstatus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"pault.ag/go/debian/dependency"
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
	out := map[string]*Package{}
	var cur *Package
	var status string
	var errs []error
	flush := func() {
		if cur != nil && cur.Name != "" && strings.HasSuffix(status, " installed") {
			out[cur.Name] = cur
		}
		cur, status = &Package{}, ""
	}
	flush()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Architecture = v
		case "Source":
			cur.Source = v
		case "Status":
			status = v
		case "Essential":
			cur.Essential = v == "yes"
		case "Pre-Depends", "Depends", "Recommends", "Provides":
			d, err := dependency.Parse(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("package %s: %s: %w", cur.Name, k, err))
				continue
			}
			for _, rel := range d.Relations {
				var alt []string
				for _, p := range rel.Possibilities {
					alt = append(alt, p.Name)
				}
				if k == "Provides" {
					cur.Provides = append(cur.Provides, alt...)
				} else {
					cur.Relations = append(cur.Relations, alt)
				}
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
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
