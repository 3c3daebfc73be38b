package sbom

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/deb822"
	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/github/go-spdx/v2/spdxexp/spdxlicenses"
)

// NoAssertion is SPDX's "this document says nothing about it".
const NoAssertion = "NOASSERTION"

// copyrightFormat is how a machine-readable (DEP-5) copyright file starts;
// only those are read for licenses, free-form ones give NOASSERTION.
const copyrightFormat = "copyright-format/1.0"

// Licenses turns the license names of Debian's machine-readable copyright
// files into SPDX license expressions. Names SPDX knows (directly or under
// Debian's spelling: GPL-2+, Expat, BSD-3-clause) become SPDX identifiers;
// the rest become LicenseRef-s, whose names and texts (from the copyright
// file's stand-alone License paragraphs) the document must carry, so one
// Licenses is shared by every package of a document.
type Licenses struct {
	refs map[string]*otherLicense // lower-case LicenseRef id → id, name and text
}

type otherLicense struct {
	ID, Name, Text string
}

// NewLicenses returns an empty set of LicenseRef-s.
func NewLicenses() *Licenses { return &Licenses{refs: map[string]*otherLicense{}} }

// gnuRe matches Debian's names for the GNU licenses: GPL-2, GPL-2+,
// LGPL-2.1+, GPL-3.0+, GFDL-1.3.
var gnuRe = regexp.MustCompile(`^(A?GPL|LGPL|GFDL)-([0-9](?:\.[0-9])?)(?:\.0)?(\+?)$`)

// debianNames are DEP-5 short names whose SPDX identifier is spelled
// differently (copyright-format 1.0, "License specification").
var debianNames = map[string]string{
	"expat":    "MIT",
	"zlib":     "Zlib",
	"apache-2": "Apache-2.0",
	"mpl-2":    "MPL-2.0",
}

// atom maps one Debian license name (possibly "X with Y exception") to an
// SPDX identifier or identifier WITH exception, or to a LicenseRef.
func (l *Licenses) atom(name, text string) string {
	name = strings.TrimSpace(name)
	if id, ok := spdxAtom(name); ok {
		return id
	}
	return l.ref(name, text)
}

// spdxAtom maps name to SPDX if it is an SPDX license (or one with an SPDX
// exception) under Debian's spelling or its own.
func spdxAtom(name string) (string, bool) {
	lic, exc := name, ""
	if m := withRe.FindStringSubmatch(name); m != nil {
		lic, exc = m[1], m[2]
	}
	id, ok := spdxLicense(lic)
	if !ok {
		return "", false
	}
	if exc == "" {
		return id, true
	}
	for _, e := range []string{exc, exc + "-exception"} {
		if ok, canon := spdxlicenses.IsException(e); ok {
			return id + " WITH " + canon, true
		}
	}
	return "", false
}

func spdxLicense(name string) (string, bool) {
	if m := gnuRe.FindStringSubmatch(name); m != nil {
		v := m[2]
		if !strings.Contains(v, ".") {
			v += ".0"
		}
		suffix := "-only"
		if m[3] == "+" {
			suffix = "-or-later"
		}
		id := m[1] + "-" + v + suffix
		if ok, canon := spdxlicenses.IsActiveLicense(id); ok {
			return canon, true
		}
		return "", false
	}
	if id, ok := debianNames[strings.ToLower(name)]; ok {
		return id, true
	}
	if ok, canon := spdxlicenses.IsActiveLicense(name); ok {
		return canon, true
	}
	return "", false
}

// withRe splits "GPL-2+ with OpenSSL exception" into license and exception.
var withRe = regexp.MustCompile(`(?i)^(\S.*?)\s+with\s+(.*?)(?:\s+exception)?$`)

var refUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// ref returns the LicenseRef for a license SPDX has no identifier for,
// recording its name and, the first time a text is known, its text.
func (l *Licenses) ref(name, text string) string {
	id := "LicenseRef-" + strings.Trim(refUnsafe.ReplaceAllString(strings.ReplaceAll(name, "+", "-plus"), "-"), "-")
	if id == "LicenseRef-" {
		id = "LicenseRef-unnamed"
	}
	// SPDX compares LicenseRef-s without regard to case: names that differ
	// only in case (BSD-3-clause-Generic, -GENERIC) share the first spelling.
	key := strings.ToLower(id)
	o := l.refs[key]
	if o == nil {
		o = &otherLicense{ID: id, Name: name}
		l.refs[key] = o
	}
	id = o.ID
	if o.Text == "" && strings.TrimSpace(text) != "" {
		o.Text = text
	}
	return id
}

// Expression turns a DEP-5 License synopsis ("GPL-2+ or Artistic",
// "BSD-3-clause and ISC", "GPL-2+ or AFL-2.1, and Expat") into an SPDX
// expression. texts holds the stand-alone License paragraphs of the same
// file, by name, for the LicenseRef-s it makes.
func (l *Licenses) Expression(synopsis string, texts map[string]string) string {
	var groups []string
	for _, g := range strings.Split(synopsis, ",") {
		g = strings.TrimSpace(g)
		if low := strings.ToLower(g); strings.HasPrefix(low, "and ") {
			g = strings.TrimSpace(g[4:])
		}
		if g == "" {
			continue
		}
		var out, name []string
		atoms := 0
		emit := func() {
			if len(name) > 0 {
				n := strings.Join(name, " ")
				out = append(out, l.atom(n, texts[strings.ToLower(n)]))
				atoms++
			}
			name = nil
		}
		for _, tok := range strings.Fields(g) {
			switch strings.ToLower(tok) {
			case "or", "and":
				if len(name) == 0 {
					continue // "or or", a leading operator: ignore
				}
				emit()
				out = append(out, strings.ToUpper(tok))
			default:
				name = append(name, tok)
			}
		}
		emit()
		if len(out) > 0 && (out[len(out)-1] == "OR" || out[len(out)-1] == "AND") {
			out = out[:len(out)-1]
		}
		if len(out) == 0 {
			continue
		}
		e := strings.Join(out, " ")
		if atoms > 1 {
			e = "(" + e + ")"
		}
		groups = append(groups, e)
	}
	if len(groups) == 0 {
		return NoAssertion
	}
	if len(groups) == 1 {
		return strings.TrimSuffix(strings.TrimPrefix(groups[0], "("), ")")
	}
	return strings.Join(groups, " AND ")
}

// Copyright reads a Debian copyright file and returns the SPDX expression
// of every license its Files paragraphs name, ANDed, or NOASSERTION when the
// file is not machine-readable or names none.
func (l *Licenses) Copyright(r io.Reader) (string, error) {
	paras, err := deb822.Parse(r)
	if err != nil {
		return NoAssertion, err
	}
	if len(paras) == 0 || !strings.Contains(paras[0].Value("Format"), copyrightFormat) {
		return NoAssertion, nil
	}
	texts := map[string]string{}
	for _, p := range paras[1:] {
		if _, isFiles := p.Get("Files"); isFiles {
			continue
		}
		if f, ok := p.Get("License"); ok && f.First != "" {
			texts[strings.ToLower(f.First)] = strings.TrimSpace(strings.Join(f.More, "\n"))
		}
	}
	// A Files paragraph may carry the text itself, under the synopsis.
	for _, p := range paras[1:] {
		if _, isFiles := p.Get("Files"); isFiles {
			if f, ok := p.Get("License"); ok && len(f.More) > 0 && texts[strings.ToLower(f.First)] == "" {
				texts[strings.ToLower(f.First)] = strings.TrimSpace(strings.Join(f.More, "\n"))
			}
		}
	}
	seen := map[string]bool{}
	var exprs []string
	add := func(synopsis string) {
		if synopsis == "" {
			return
		}
		e := l.Expression(synopsis, texts)
		parts := []string{e}
		if !strings.Contains(e, " OR ") {
			// Only ANDs: list each license once across the whole file.
			parts = strings.Split(strings.NewReplacer("(", "", ")", "").Replace(e), " AND ")
		}
		for _, e := range parts {
			if e != NoAssertion && !seen[e] {
				seen[e] = true
				exprs = append(exprs, e)
			}
		}
	}
	for _, p := range paras[1:] {
		if _, isFiles := p.Get("Files"); isFiles {
			add(p.Value("License"))
		}
	}
	if len(exprs) == 0 {
		add(paras[0].Value("License")) // the header's summary, if no Files paragraph names one
	}
	return joinAnd(exprs), nil
}

// joinAnd ANDs expressions in a stable order, bracketing compound ones.
func joinAnd(exprs []string) string {
	if len(exprs) == 0 {
		return NoAssertion
	}
	sort.Strings(exprs)
	if len(exprs) == 1 {
		return exprs[0]
	}
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		if strings.Contains(e, " OR ") || strings.Contains(e, " AND ") {
			e = "(" + e + ")"
		}
		parts[i] = e
	}
	return strings.Join(parts, " AND ")
}

// Refs returns the LicenseRef-s used so far, sorted by id, each with its
// name and text (a note pointing at the copyright file when the file gave
// none: SPDX requires a text).
func (l *Licenses) Refs() []Ref {
	out := make([]Ref, 0, len(l.refs))
	for _, o := range l.refs {
		text := o.Text
		if text == "" {
			text = fmt.Sprintf("The license Debian's machine-readable copyright files call %q; they give no text for it here (see the package's /usr/share/doc/<package>/copyright).", o.Name)
		}
		out = append(out, Ref{ID: o.ID, Name: o.Name, Text: text})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Ref is a license SPDX has no identifier for, as the document declares it.
type Ref struct {
	ID, Name, Text string
}

// validExpression reports whether e is a valid SPDX license expression
// (LicenseRef-s allowed, deprecated identifiers not).
func validExpression(e string) bool {
	if e == NoAssertion {
		return true
	}
	ok, _ := spdxexp.ValidateLicensesWithOptions([]string{e}, spdxexp.ValidateLicensesOptions{FailDeprecatedLicenses: true})
	return ok
}
