package sbom

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/dpkgstatus"
)

// Deb is one installed Debian package as the SBOM lists it.
type Deb struct {
	Name, Version, Arch string
	// Source and SourceVersion name the source package it was built from
	// (the binary's own name and version when dpkg records none).
	Source, SourceVersion string
	// License is an SPDX expression from the package's copyright file, or
	// NOASSERTION.
	License string
	// SHA256, Suite and URL describe the .deb the build installed, from the
	// lock; URL is where its suite's archive serves it.
	SHA256, Suite, URL string
	// Removed says the build installed the package and then took it out
	// of the image (Bulwark's nodes carry no package manager): the SBOM
	// lists it as a build tool of the image, not as contained in it.
	Removed bool
}

// Locked is what the lock says of one package.
type Locked struct {
	Version, Suite, SHA256 string
	// URL is where the .deb is downloaded from (mirror + pool path); may be "".
	URL string
}

// Debs reads the dpkg status database at status (internal/dpkgstatus) and
// the copyright files under docDirs (the image's /usr/share/doc, and where
// the build saved those of the packages it removed; the first that has a
// package's file wins) and returns every installed package, sorted by
// name, with the lock's facts about its .deb. A package installed but not
// locked, or installed at another version than locked, is an error: the
// SBOM must describe exactly what the lock pinned.
func Debs(status string, docDirs []string, locked map[string]Locked, lic *Licenses) ([]Deb, error) {
	pkgs, err := dpkgstatus.ReadFile(status)
	if err != nil {
		return nil, err
	}
	var out []Deb
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(pkgs)) {
		p := pkgs[name]
		d := Deb{Name: p.Name, Version: p.Version, Arch: p.Architecture}
		d.Source, d.SourceVersion = d.Name, d.Version
		if src := p.Source; src != "" {
			name, ver, hasVer := strings.Cut(src, " ")
			d.Source = name
			if hasVer {
				d.SourceVersion = strings.Trim(strings.TrimSpace(ver), "()")
			}
		}
		l, ok := locked[d.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s=%s is installed but not locked", d.Name, d.Version))
			continue
		case l.Version != d.Version:
			errs = append(errs, fmt.Errorf("%s: installed %s, locked %s", d.Name, d.Version, l.Version))
			continue
		}
		d.SHA256, d.Suite, d.URL = l.SHA256, l.Suite, l.URL
		if d.License, err = copyrightLicense(docDirs, d.Name, lic); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// copyrightLicense reads one package's copyright file from the first of
// dirs that has it; a package without one (or with a link that leads
// nowhere) has NOASSERTION.
func copyrightLicense(dirs []string, name string, lic *Licenses) (string, error) {
	var f *os.File
	var err error
	var path string
	for _, d := range dirs {
		path = filepath.Join(d, name, "copyright")
		if f, err = os.Open(path); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if f == nil && (err == nil || errors.Is(err, fs.ErrNotExist)) {
		return NoAssertion, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	e, err := lic.Copyright(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return e, nil
}

// GoBinary is a Go program Bulwark puts in the image.
type GoBinary struct {
	Path      string // in the image, e.g. /usr/bin/nodecfg
	SHA256    string
	Module    string // main module path
	Version   string // main module version ("(devel)" for a local build)
	GoVersion string // the toolchain, e.g. go1.26.8
	Deps      []Module
}

// Module is one Go module linked into a binary.
type Module struct {
	Path, Version string
}

// ReadGoBinary reads the build information Go embeds in the binary at file,
// which is installed at path in the image.
func ReadGoBinary(file, path, sha256 string) (GoBinary, error) {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return GoBinary{}, fmt.Errorf("reading Go build info of %s: %w", path, err)
	}
	g := GoBinary{Path: path, SHA256: sha256, Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		g.Deps = append(g.Deps, Module{Path: d.Path, Version: d.Version})
	}
	sort.Slice(g.Deps, func(i, j int) bool { return g.Deps[i].Path < g.Deps[j].Path })
	return g, nil
}
