package seccomp

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// AdditionsFile is the file in policies/seccomp that holds Bulwark's
// changes to Docker's default profile; README.md next to it says why each
// one is there.
const AdditionsFile = "additions.json"

// Additions are Bulwark's changes to Docker's default profile. Docker's
// profile is an allow list, so hardening it means taking calls out of it.
type Additions struct {
	// Revoke takes system calls out of the rules that allow them to every
	// container. Rules that allow them only with a capability stay, so a
	// container granted that capability gets them back, as with the
	// calls Docker itself gates.
	Revoke []Revocation `json:"revoke"`

	file  string         // where they were read from, for messages
	lines map[string]int // JSON path -> line in file
}

// Revocation is one group of system calls taken out, and why.
type Revocation struct {
	Names []string `json:"names"`
	Why   string   `json:"why"`
}

// LoadAdditions strictly decodes dir/additions.json.
func LoadAdditions(dir string) (*Additions, error) {
	path := filepath.Join(dir, AdditionsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp additions: %w", err)
	}
	return ParseAdditions(path, data)
}

// ParseAdditions strictly decodes additions read from file.
func ParseAdditions(file string, data []byte) (*Additions, error) {
	a := Additions{file: file}
	lines, err := decodeStrict(file, data, &a)
	if err != nil {
		return nil, err
	}
	errs := fielderr.List{File: file}
	for i, r := range a.Revoke {
		path := fmt.Sprintf("$.revoke[%d]", i)
		if r.Why == "" {
			errs.Add(lines[path], path+".why", "say why: every change to Docker's profile needs a reason")
		}
		if len(r.Names) == 0 {
			errs.Add(lines[path], path+".names", "no system call named")
		}
		for j, n := range r.Names {
			np := fmt.Sprintf("%s.names[%d]", path, j)
			if !existsOn(n, scmpArches) {
				errs.Add(lines[np], np, "%q is not a system call on any architecture libseccomp %s knows", n, libseccompVersion())
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	a.lines = lines
	return &a, nil
}

// Default is Docker's default profile with Bulwark's additions applied.
// It fails when an addition has become pointless because Docker's own
// profile no longer allows what it revokes, so the additions never claim
// to do something that Docker already does.
func Default(a *Additions) (*Profile, error) {
	p := &Profile{File: "default.json", Seccomp: mobyseccomp.DefaultProfile()}
	errs := fielderr.List{File: a.file}
	for i, r := range a.Revoke {
		for j, n := range r.Names {
			if !revoke(p.Seccomp, n) {
				np := fmt.Sprintf("$.revoke[%d].names[%d]", i, j)
				errs.Add(a.lines[np], np, "Docker's default profile does not allow %s to every container; drop this revocation", n)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	sortNames(p.Seccomp)
	return p, nil
}

// revoke removes name from every rule that allows it without requiring a
// capability, dropping rules left empty. It reports whether it found any.
func revoke(s *mobyseccomp.Seccomp, name string) bool {
	found := false
	kept := s.Syscalls[:0]
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActAllow && (sc.Includes == nil || len(sc.Includes.Caps) == 0) && slices.Contains(sc.Names, name) {
			found = true
			sc.Names = slices.DeleteFunc(slices.Clone(sc.Names), func(n string) bool { return n == name })
			if len(sc.Names) == 0 {
				continue
			}
		}
		kept = append(kept, sc)
	}
	s.Syscalls = kept
	return found
}

// sortNames sorts the names within each rule, so that a reordering in
// Docker's source does not show as a change in the generated files. The
// rules themselves keep their order: with libseccomp the first of two
// unconditional rules for one call wins.
func sortNames(s *mobyseccomp.Seccomp) {
	for _, sc := range s.Syscalls {
		slices.Sort(sc.Names)
	}
}

// Generate builds the profiles the image ships from the policies in dir
// (policies/seccomp), checks them for every architecture, and returns
// them by file name as indented JSON: default.json and strict.json. The
// bytes depend only on the inputs and the pinned module versions.
func Generate(dir string) (map[string][]byte, error) {
	a, err := LoadAdditions(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, build := range []func(*Additions) (*Profile, error){Default, Strict} {
		p, err := build(a)
		if err != nil {
			return nil, err
		}
		if err := Validate(p, Arches()).Err(); err != nil {
			return nil, fmt.Errorf("generated seccomp profile is invalid: %w", err)
		}
		b, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		out[p.File] = b
	}
	return out, nil
}
