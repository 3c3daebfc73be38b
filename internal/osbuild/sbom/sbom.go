// Package sbom writes an image's software bill of materials: an SPDX 2.3
// JSON document, made with the SPDX project's Go library, that lists every
// installed Debian package (version, arch, source package, the .deb's
// SHA256 from the lock, the license its machine-readable copyright file
// states, a purl) and every Go program Bulwark builds into /usr with the
// modules linked into it, all contained in the image file the document
// describes. The document is reproducible: its only time is the build's
// SOURCE_DATE_EPOCH, everything is sorted, and its namespace is derived
// from its content.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// Tool is the creator the document names.
const Tool = "bulwark-osbuild"

// NamespacePrefix starts every document namespace; the rest is the image's
// name and a digest of the document's content.
const NamespacePrefix = "https://bulwark.dev/spdx/"

// Image is the image file the document describes.
type Image struct {
	Name, Arch string // container-host, x86_64
	Version    string // the image's IMAGE_VERSION
	File       string // container-host-x86_64.raw
	SHA256     string
	// Distro is the Debian release the packages come from (purl "distro").
	Distro string
	// VerityRootHash is the dm-verity root hash of /usr (usrhash= on the
	// node's kernel command line), recorded so a node can be matched to
	// its SBOM from /proc/cmdline.
	VerityRootHash string
	Created        time.Time
}

// File is the SBOM's file name for an image name and arch.
func File(name, arch string) string { return name + "-" + arch + ".spdx.json" }

// Document builds the SPDX document of img holding debs and bins; lic is
// the Licenses the debs' expressions were made with (its LicenseRef-s go
// into the document).
func Document(img Image, debs []Deb, bins []GoBinary, lic *Licenses) (*spdx.Document, error) {
	ids := idSet{}
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   img.Name + "-" + img.Arch,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: Tool}},
			Created:  img.Created.UTC().Format("2006-01-02T15:04:05Z"),
		},
	}
	imgID := ids.make("Image-" + img.Name + "-" + img.Arch)
	imgPkg := &spdx.Package{
		PackageName:             img.File,
		PackageSPDXIdentifier:   imgID,
		PackageVersion:          img.Version,
		PackageFileName:         img.File,
		PackageDownloadLocation: NoAssertion,
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: img.SHA256}},
		PackageLicenseConcluded: NoAssertion,
		PackageLicenseDeclared:  NoAssertion,
		PackageCopyrightText:    NoAssertion,
		PrimaryPackagePurpose:   "OPERATING-SYSTEM",
		PackageSupplier:         &common.Supplier{Supplier: NoAssertion},
		PackageComment:          fmt.Sprintf("Bulwark %s image for %s; dm-verity root hash of /usr (usrhash=): %s", img.Name, img.Arch, img.VerityRootHash),
	}
	doc.Packages = append(doc.Packages, imgPkg)
	rel := func(a common.ElementID, kind string, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, imgID)
	for _, d := range debs {
		id := ids.make("deb-" + d.Name + "-" + d.Arch)
		p := &spdx.Package{
			PackageName:             d.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          d.Version,
			PackageDownloadLocation: orNoAssertion(d.URL),
			PackageSourceInfo:       fmt.Sprintf("built from the Debian source package %s %s", d.Source, d.SourceVersion),
			PackageLicenseConcluded: NoAssertion,
			PackageLicenseDeclared:  orNoAssertion(d.License),
			PackageCopyrightText:    NoAssertion,
			PackageSupplier:         &common.Supplier{SupplierType: "Organization", Supplier: "Debian"},
			PackageComment:          debComment(d),
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: DebPURL(d, img.Distro),
			}},
		}
		if d.URL != "" {
			p.PackageFileName = d.URL[strings.LastIndex(d.URL, "/")+1:]
		}
		if d.SHA256 != "" {
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d.SHA256}}
		}
		doc.Packages = append(doc.Packages, p)
		if d.Removed {
			rel(id, common.TypeRelationshipBuildToolOf, imgID)
		} else {
			rel(imgID, common.TypeRelationshipContains, id)
		}
	}
	modIDs := map[Module]common.ElementID{}
	for _, b := range bins {
		id := ids.make("go-" + strings.TrimPrefix(b.Path, "/"))
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             b.Path[strings.LastIndex(b.Path, "/")+1:],
			PackageSPDXIdentifier:   id,
			PackageVersion:          b.Version,
			PackageFileName:         b.Path,
			PackageDownloadLocation: NoAssertion,
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: b.SHA256}},
			PackageSourceInfo:       fmt.Sprintf("built by Bulwark's osbuild from Go module %s with %s", b.Module, b.GoVersion),
			PackageLicenseConcluded: NoAssertion,
			PackageLicenseDeclared:  NoAssertion,
			PackageCopyrightText:    NoAssertion,
			PrimaryPackagePurpose:   "APPLICATION",
			PackageSupplier:         &common.Supplier{Supplier: NoAssertion},
		})
		rel(imgID, common.TypeRelationshipContains, id)
		mods := append([]Module{{Path: "stdlib", Version: b.GoVersion}}, b.Deps...)
		for _, m := range mods {
			mid, ok := modIDs[m]
			if !ok {
				mid = ids.make("go-module-" + m.Path + "-" + m.Version)
				modIDs[m] = mid
				doc.Packages = append(doc.Packages, &spdx.Package{
					PackageName:             m.Path,
					PackageSPDXIdentifier:   mid,
					PackageVersion:          m.Version,
					PackageDownloadLocation: NoAssertion,
					PackageLicenseConcluded: NoAssertion,
					PackageLicenseDeclared:  NoAssertion,
					PackageCopyrightText:    NoAssertion,
					PrimaryPackagePurpose:   "LIBRARY",
					PackageSupplier:         &common.Supplier{Supplier: NoAssertion},
					PackageExternalReferences: []*spdx.PackageExternalReference{{
						Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL,
						Locator: packageurl.NewPackageURL(packageurl.TypeGolang, "", m.Path, m.Version, nil, "").ToString(),
					}},
				})
			}
			rel(id, common.TypeRelationshipContains, mid)
		}
	}
	for _, r := range lic.Refs() {
		doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{LicenseIdentifier: r.ID, LicenseName: r.Name, ExtractedText: r.Text})
	}
	// The namespace must be unique per document: derive it from everything
	// else in it, so the same image gives the same document.
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf); err != nil {
		return nil, fmt.Errorf("writing SPDX document: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	doc.DocumentNamespace = NamespacePrefix + doc.DocumentName + "-" + hex.EncodeToString(sum[:16])
	return doc, nil
}

// DebPURL is the package URL of a Debian package:
// pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO.
func DebPURL(d Deb, distro string) string {
	q := map[string]string{"arch": d.Arch}
	if distro != "" {
		q["distro"] = distro
	}
	return packageurl.NewPackageURL(packageurl.TypeDebian, "debian", d.Name, d.Version, packageurl.QualifiersFromMap(q), "").ToString()
}

// debComment says where a package came from and, for one the build
// removed, that the image does not hold it.
func debComment(d Deb) string {
	c := "Debian suite: " + d.Suite
	if d.Removed {
		c += "; installed to build the image, then removed from it (the node carries no package manager)"
	}
	return c
}

func orNoAssertion(s string) string {
	if s == "" {
		return NoAssertion
	}
	return s
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// idSet hands out SPDX element ids (letters, digits, "." and "-" only),
// unique within a document: a name that sanitizes to one already given
// gets a numbered suffix, in the (sorted) order names are asked for.
type idSet map[common.ElementID]bool

func (s idSet) make(name string) common.ElementID {
	base := idUnsafe.ReplaceAllString(strings.ReplaceAll(name, "+", "plus"), "-")
	id := common.ElementID(base)
	for n := 2; s[id]; n++ {
		id = common.ElementID(fmt.Sprintf("%s-%d", base, n))
	}
	s[id] = true
	return id
}

// Write writes doc as indented JSON.
func Write(w io.Writer, doc *spdx.Document) error {
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

// Read parses an SPDX JSON document with the SPDX library.
func Read(r io.Reader) (*spdx.Document, error) {
	doc, err := spdxjson.Read(r)
	if err != nil {
		return nil, fmt.Errorf("parsing SPDX JSON: %w", err)
	}
	return doc, nil
}

// ErrInvalid marks a document that does not validate.
var ErrInvalid = errors.New("SPDX document does not validate")
