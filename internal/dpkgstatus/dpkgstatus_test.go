package dpkgstatus

import (
	"slices"
	"strings"
	"testing"
)

const status = `Package: dpkg
Status: install ok installed
Essential: yes
Version: 1.22.22
Pre-Depends: libc6 (>= 2.38), libzstd1 (>= 1.5.5)
Depends: tar (>= 1.28-1)

Package: apt
Status: install ok installed
Version: 3.0.4
Provides: apt-transport-https (= 3.0.4)
Depends: base-passwd (>= 3.6.1) | adduser, libapt-pkg7.0 (>= 3.0.4), keyring
Recommends: ca-certificates

Package: old-thing
Status: deinstall ok config-files
Version: 1.0
Depends: libapt-pkg7.0
`

func TestReadStatus(t *testing.T) {
	pkgs, err := Read(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pkgs["old-thing"]; ok || len(pkgs) != 2 {
		t.Errorf("got %d packages, want dpkg and apt (a config-files package is not installed)", len(pkgs))
	}
	apt := pkgs["apt"]
	want := [][]string{{"base-passwd", "adduser"}, {"libapt-pkg7.0"}, {"keyring"}, {"ca-certificates"}}
	if !slices.EqualFunc(apt.Relations, want, slices.Equal) {
		t.Errorf("apt relations %v, want %v", apt.Relations, want)
	}
	if !slices.Equal(apt.Provides, []string{"apt-transport-https"}) || apt.Version != "3.0.4" || apt.Essential {
		t.Errorf("apt = %+v", apt)
	}
	if d := pkgs["dpkg"]; !d.Essential || len(d.Relations) != 3 {
		t.Errorf("dpkg = %+v, want Essential with 3 relations", d)
	}
	if _, err := Read(strings.NewReader("Package: x\nStatus: install ok installed\nDepends: a (>>\n")); err == nil {
		t.Error("a broken Depends field was accepted")
	}
}

// FuzzRead: any input gives packages or an error, never a panic, and each
// package read has the name it is filed under.
func FuzzRead(f *testing.F) {
	f.Add(status)
	f.Add("Package: x\nStatus: install ok installed\nDepends: a | b (>= 1), c:any\nProvides: v\n")
	f.Add("Package: x\nStatus: install ok installed\nDepends: a (>>\n")
	f.Fuzz(func(t *testing.T, in string) {
		pkgs, err := Read(strings.NewReader(in))
		if err != nil {
			return
		}
		for n, p := range pkgs {
			if p.Name != n || n == "" {
				t.Errorf("package %q filed as %q", p.Name, n)
			}
		}
	})
}
