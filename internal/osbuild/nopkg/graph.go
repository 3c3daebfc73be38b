package nopkg

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/bulwark/bulwark/internal/dpkgstatus"
)

// graph is what decides which packages go: the installed packages, the
// files each owns (paths on the node, symlinked directories resolved) and
// the dynamic ELF objects of the tree.
type graph struct {
	pkgs  map[string]*dpkgstatus.Package
	files map[string][]string // package → its files
	elf   map[string]object   // path → object
	owner map[string][]string // path → packages listing it
	// wanted are the packages the image spec lists: they stay.
	wanted map[string]bool
}

// Kept is a dependency of a removed package that stays, and why.
type Kept struct {
	Name, Reason string
}

// plan returns the packages to remove: the managers, then, until nothing
// changes, every package one of the removed ones relates to that nothing
// left needs: not Essential, no remaining package's Pre-Depends, Depends or
// Recommends names it (or what it Provides), and no remaining ELF file
// loads a soname it ships. kept says why each other candidate stays.
func (g *graph) plan(managers []string) (remove []string, kept []Kept) {
	gone := map[string]bool{}
	for _, m := range managers {
		if g.pkgs[m] != nil {
			gone[m] = true
		}
	}
	why := map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, d := range g.candidates(gone) {
			if r := g.needed(d, gone); r != "" {
				why[d] = r
				continue
			}
			gone[d], changed = true, true
			delete(why, d)
		}
	}
	for n := range gone {
		remove = append(remove, n)
	}
	sort.Strings(remove)
	for n, r := range why {
		kept = append(kept, Kept{n, r})
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	return remove, kept
}

// providers maps a package or virtual name to the installed packages that
// are or provide it.
func (g *graph) providers(name string) []string {
	var out []string
	if g.pkgs[name] != nil {
		out = append(out, name)
	}
	for _, p := range g.pkgs {
		if slices.Contains(p.Provides, name) {
			out = append(out, p.Name)
		}
	}
	return out
}

// candidates are the installed packages the removed ones relate to.
func (g *graph) candidates(gone map[string]bool) []string {
	set := map[string]bool{}
	for n := range gone {
		for _, alt := range g.pkgs[n].Relations {
			for _, a := range alt {
				for _, p := range g.providers(a) {
					if !gone[p] {
						set[p] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// needed says why d must stay when the packages in gone leave, or "".
func (g *graph) needed(d string, gone map[string]bool) string {
	p := g.pkgs[d]
	if g.wanted[d] {
		return "listed in the image spec"
	}
	if p.Essential {
		return "Essential"
	}
	names := append([]string{d}, p.Provides...)
	for _, o := range sortedPkgs(g.pkgs) {
		if gone[o.Name] || o.Name == d {
			continue
		}
		for _, alt := range o.Relations {
			for _, a := range alt {
				if slices.Contains(names, a) {
					return fmt.Sprintf("%s relates to %s", o.Name, a)
				}
			}
		}
	}
	sonames := g.sonames(d)
	if len(sonames) == 0 {
		return ""
	}
	for _, path := range slices.Sorted(maps.Keys(g.elf)) {
		if g.ownedOnlyBy(path, gone, d) {
			continue
		}
		for _, n := range g.elf[path].needed {
			if sonames[n] {
				return fmt.Sprintf("%s loads %s", path, n)
			}
		}
	}
	return ""
}

// sonames are the sonames of the shared objects package d ships.
func (g *graph) sonames(d string) map[string]bool {
	out := map[string]bool{}
	for _, f := range g.files[d] {
		if o, ok := g.elf[f]; ok && o.soname != "" {
			out[o.soname] = true
		}
	}
	return out
}

// ownedOnlyBy reports whether path belongs to leaving packages only (gone
// or extra); a file no package lists belongs to the image and stays.
func (g *graph) ownedOnlyBy(path string, gone map[string]bool, extra string) bool {
	owners := g.owner[path]
	if len(owners) == 0 {
		return false
	}
	for _, o := range owners {
		if !gone[o] && o != extra {
			return false
		}
	}
	return true
}

func sortedPkgs(m map[string]*dpkgstatus.Package) []*dpkgstatus.Package {
	out := make([]*dpkgstatus.Package, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
