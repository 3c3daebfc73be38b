package sbom

import (
	"strings"
	"testing"
)

func TestExpression(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"GPL-2+", "GPL-2.0-or-later"},
		{"GPL-2", "GPL-2.0-only"},
		{"LGPL-2.1+", "LGPL-2.1-or-later"},
		{"GPL-2.0+", "GPL-2.0-or-later"},
		{"GFDL-1.3", "GFDL-1.3-only"},
		{"Expat", "MIT"},
		{"BSD-3-clause", "BSD-3-Clause"},
		{"zlib", "Zlib"},
		{"GPL-2+ or Artistic", "GPL-2.0-or-later OR LicenseRef-Artistic"},
		{"BSD-3-clause and ISC", "BSD-3-Clause AND ISC"},
		{"GPL-2+ or AFL-2.1, and Expat and Tcl-BSDish", "(GPL-2.0-or-later OR AFL-2.1) AND (MIT AND LicenseRef-Tcl-BSDish)"},
		{"GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"},
		{"GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-plus-with-OpenSSL-exception"},
		{"MIT/X11", "LicenseRef-MIT-X11"},
		{"public-domain", "LicenseRef-public-domain"},
		{"", NoAssertion},
		{"or", NoAssertion},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := NewLicenses().Expression(tc.in, nil)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !validExpression(got) {
				t.Errorf("%q is not a valid SPDX expression", got)
			}
		})
	}
}

func TestCopyright(t *testing.T) {
	tests := []struct {
		name, file, want string
		refs             []string
	}{
		{"not machine-readable", "This package is GPL.\n", NoAssertion, nil},
		{"files paragraphs ANDed", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n\nFiles: a/*\nLicense: Expat or Apache-2.0\n\nFiles: b/*\nLicense: GPL-2+\n", "GPL-2.0-or-later AND (MIT OR Apache-2.0)", nil},
		{"stand-alone text kept", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: custom\n\nLicense: custom\n Do what you like.\n .\n Really.\n", "LicenseRef-custom", []string{"LicenseRef-custom=Do what you like.\n\nReally."}},
		{"names differing in case share one ref", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: BSD-generic\n\nFiles: a\nLicense: BSD-GENERIC\n", "LicenseRef-BSD-generic", []string{"LicenseRef-BSD-generic=The license Debian's machine-readable copyright files call \"BSD-generic\"; they give no text for it here (see the package's /usr/share/doc/<package>/copyright)."}},
		{"header only", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: ISC\n", "ISC", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lic := NewLicenses()
			got, err := lic.Copyright(strings.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			var refs []string
			for _, r := range lic.Refs() {
				refs = append(refs, r.ID+"="+r.Text)
			}
			if strings.Join(refs, "|") != strings.Join(tc.refs, "|") {
				t.Errorf("refs %q, want %q", refs, tc.refs)
			}
		})
	}
}

// FuzzCopyright: any copyright file gives a valid SPDX expression whose
// LicenseRef-s are all declared, and never panics.
func FuzzCopyright(f *testing.F) {
	f.Add("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+ or Artistic, and Expat\n")
	f.Add("Format: copyright-format/1.0\n\nFiles: *\nLicense: (((\n\nLicense: (((\n text\n")
	f.Add("Format: copyright-format/1.0\nLicense: with with exception\n")
	f.Fuzz(func(t *testing.T, s string) {
		lic := NewLicenses()
		e, err := lic.Copyright(strings.NewReader(s))
		if err != nil {
			return
		}
		if !validExpression(e) {
			t.Fatalf("%q gave %q, not a valid SPDX expression", s, e)
		}
		declared := map[string]bool{}
		for _, r := range lic.Refs() {
			declared[r.ID] = true
		}
		for _, ref := range licenseRefRe.FindAllString(e, -1) {
			if !declared[ref] {
				t.Fatalf("%q gave %q, which uses undeclared %s", s, e, ref)
			}
		}
	})
}
