package sbom

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/package-url/packageurl-go"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"
)

var licenseRefRe = regexp.MustCompile(`LicenseRef-[A-Za-z0-9.-]+`)

// Validate checks doc with the SPDX library's own validation (every
// relationship names an element of the document; the document describes
// something) and what the library leaves out: the 2.3 header fields, unique
// element ids, license expressions that parse as SPDX, and a declaration
// for every LicenseRef used. All problems are reported together.
func Validate(doc *spdx.Document) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := spdxlib.ValidateDocument(doc); err != nil {
		bad("%w", err)
	}
	if _, err := spdxlib.GetDescribedPackageIDs(doc); err != nil {
		bad("described packages: %w", err)
	}
	if doc.SPDXVersion != spdx.Version {
		bad("spdxVersion %q, want %q", doc.SPDXVersion, spdx.Version)
	}
	if doc.DataLicense != spdx.DataLicense {
		bad("dataLicense %q, want %q", doc.DataLicense, spdx.DataLicense)
	}
	if doc.DocumentName == "" || doc.DocumentNamespace == "" {
		bad("name or documentNamespace missing")
	}
	if doc.CreationInfo == nil || doc.CreationInfo.Created == "" || len(doc.CreationInfo.Creators) == 0 {
		bad("creationInfo: created and creators are required")
	}
	declared := map[string]bool{}
	for _, o := range doc.OtherLicenses {
		if o.ExtractedText == "" {
			bad("hasExtractedLicensingInfos %s: no extractedText", o.LicenseIdentifier)
		}
		declared[o.LicenseIdentifier] = true
	}
	seen := map[string]bool{}
	for _, p := range doc.Packages {
		id := string(p.PackageSPDXIdentifier)
		if seen[id] {
			bad("SPDXRef-%s: used by more than one package", id)
		}
		seen[id] = true
		if p.PackageName == "" || p.PackageDownloadLocation == "" {
			bad("SPDXRef-%s: name and downloadLocation are required", id)
		}
		for field, e := range map[string]string{"licenseDeclared": p.PackageLicenseDeclared, "licenseConcluded": p.PackageLicenseConcluded} {
			if e == "" {
				continue
			}
			if !validExpression(e) {
				bad("SPDXRef-%s: %s %q is not a valid SPDX license expression", id, field, e)
			}
			for _, ref := range licenseRefRe.FindAllString(e, -1) {
				if !declared[ref] {
					bad("SPDXRef-%s: %s uses %s, which the document does not declare", id, field, ref)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// DebPackage is a Debian package as found in a document.
type DebPackage struct {
	Name, Version, Arch, SHA256, PURL string
}

// DebPackages returns the document's Debian packages (those with a
// pkg:deb purl) by name.
func DebPackages(doc *spdx.Document) (map[string]DebPackage, error) {
	out := map[string]DebPackage{}
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType != "purl" || !strings.HasPrefix(r.Locator, "pkg:deb/") {
				continue
			}
			u, err := packageurl.FromString(r.Locator)
			if err != nil {
				return nil, fmt.Errorf("SPDXRef-%s: purl %q: %w", p.PackageSPDXIdentifier, r.Locator, err)
			}
			d := DebPackage{Name: p.PackageName, Version: p.PackageVersion, Arch: u.Qualifiers.Map()["arch"], PURL: r.Locator}
			for _, c := range p.PackageChecksums {
				if c.Algorithm == "SHA256" {
					d.SHA256 = c.Value
				}
			}
			if u.Name != d.Name || u.Version != d.Version {
				return nil, fmt.Errorf("SPDXRef-%s: purl %q does not name %s %s", p.PackageSPDXIdentifier, r.Locator, d.Name, d.Version)
			}
			if _, dup := out[d.Name]; dup {
				return nil, fmt.Errorf("package %s listed twice", d.Name)
			}
			out[d.Name] = d
		}
	}
	return out, nil
}

// Check compares the document's Debian packages with want (what the lock
// or the manifest says was installed): every package there, at the same
// version and .deb SHA256, and none other. Every difference is reported.
func Check(doc *spdx.Document, want map[string]Locked) error {
	got, err := DebPackages(doc)
	if err != nil {
		return err
	}
	var errs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("%s %s: missing", name, w.Version))
		case g.Version != w.Version:
			errs = append(errs, fmt.Sprintf("%s: version %s, want %s", name, g.Version, w.Version))
		case g.SHA256 != w.SHA256:
			errs = append(errs, fmt.Sprintf("%s: .deb sha256 %s, want %s", name, g.SHA256, w.SHA256))
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			errs = append(errs, fmt.Sprintf("%s %s: listed but not installed", name, g.Version))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("SBOM and installed packages differ:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
