package deb822

import (
	"strings"
	"testing"
)

// FuzzDeb822 checks the paragraph reader never panics and keeps fields.
func FuzzDeb822(f *testing.F) {
	f.Add("Package: a\nStatus: install ok installed\nDescription: x\n y\n .\n\nPackage: b\n")
	f.Add("# comment\n continuation without field\n:\nName:\n")
	f.Fuzz(func(t *testing.T, s string) {
		paras, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, p := range paras {
			if len(p) == 0 {
				t.Fatal("empty paragraph returned")
			}
			for _, fl := range p {
				if fl.Name == "" || strings.ContainsAny(fl.Name, " \t") {
					t.Fatalf("field name %q", fl.Name)
				}
			}
		}
	})
}
