package imagespec

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/strictyaml"
)

// Lock pins every package a build installs, per architecture. It is written
// by `osbuild lock` and reviewed like code: a package change is a diff.
type Lock struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       string `yaml:"spec"`
	// InputsDigest is Spec.PackageInputsDigest when the lock was made; a
	// mismatch means the spec's package list changed and the lock is stale.
	InputsDigest string `yaml:"inputsDigest"`
	// SourceDateEpoch is the time the lock was made; builds use it as
	// SOURCE_DATE_EPOCH so timestamps are reproducible yet meaningful.
	SourceDateEpoch int64 `yaml:"sourceDateEpoch"`
	// Tools pins the native tool root, keyed by the build host's Debian
	// arch: programs from the image's own suite (semodule, setfiles, ukify,
	// systemd-dissect) that the build runs on the host, natively.
	Tools         map[string]ArchPackages `yaml:"tools"`
	Architectures map[string]ArchPackages `yaml:"architectures"`

	File string `yaml:"-"`
}

// ArchPackages maps package name to exact version.
type ArchPackages struct {
	Packages map[string]string `yaml:"packages"`
}

// ToolPackages make up the native tool root: a small chroot of the image's
// own suite for the build host's arch. Running these natively matters for
// foreign-arch images (compiling the SELinux policy under qemu-user took
// over five minutes), and using the suite's own versions means the tools
// read the image's files in the format they were written (file_contexts.bin).
// ignition brings ignition-validate, which checks what nodecfg renders.
var ToolPackages = []string{"policycoreutils", "semodule-utils", "systemd-ukify", "python3-pefile", "systemd-container", "erofs-utils", "e2fsprogs", "ignition"}

// HostToolsArch is the Debian arch of the build hosts the lock covers.
const HostToolsArch = "amd64"

// LockPath returns the lock file that belongs to the spec at specPath.
func LockPath(specPath string) string {
	return strings.TrimSuffix(specPath, ".yaml") + ".lock"
}

// LoadLock reads and checks the lock for spec s: it must be for this spec,
// current with its package inputs and cover every architecture asked for.
func LoadLock(path string, s *Spec, arches []string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no lock file; run `osbuild lock %s` first", path, s.File)
		}
		return nil, fmt.Errorf("reading lock: %w", err)
	}
	var l Lock
	pos, err := strictyaml.Decode(path, data, &l)
	if err != nil {
		return nil, err
	}
	l.File = path
	errs := &fielderr.List{File: path}
	if l.APIVersion != APIVersion || l.Kind != "ImageLock" {
		errs.Add(pos.Line("$.kind"), "$.kind", "not an ImageLock of %s", APIVersion)
	}
	if l.Spec != s.Name {
		errs.Add(pos.Line("$.spec"), "$.spec", "lock is for spec %q, not %q", l.Spec, s.Name)
	}
	if l.InputsDigest != s.PackageInputsDigest() {
		errs.Add(pos.Line("$.inputsDigest"), "$.inputsDigest", "stale: the spec's packages or sources changed since the lock was written; run `osbuild lock %s`", s.File)
	}
	if l.SourceDateEpoch <= 0 {
		errs.Add(pos.Line("$.sourceDateEpoch"), "$.sourceDateEpoch", "must be a positive UNIX time")
	}
	for _, t := range ToolPackages {
		if _, ok := l.Tools[HostToolsArch].Packages[t]; !ok {
			errs.Add(pos.Line("$.tools"), "$.tools."+HostToolsArch+".packages."+t, "tool package %q is not locked; run `osbuild lock %s`", t, s.File)
		}
	}
	for _, a := range arches {
		ap, ok := l.Architectures[a]
		if !ok || len(ap.Packages) == 0 {
			errs.Add(pos.Line("$.architectures"), "$.architectures."+a, "no packages locked for %s; run `osbuild lock %s`", a, s.File)
			continue
		}
		for _, p := range s.Packages.For(a) {
			if _, ok := ap.Packages[p]; !ok {
				errs.Add(pos.Line("$.architectures."+a), "$.architectures."+a+".packages", "spec package %q is not in the lock", p)
			}
		}
		for name, v := range ap.Packages {
			if !pkgRe.MatchString(name) || v == "" || strings.ContainsAny(v, " \t") {
				p := "$.architectures." + a + ".packages." + name
				errs.Add(pos.Line(p), p, "bad package entry %q: %q", name, v)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &l, nil
}

// ReadLockFile decodes a lock without checking it against a spec.
func ReadLockFile(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var l Lock
	if _, err := strictyaml.Decode(path, data, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// SamePackages reports whether l and o pin the same packages and tools.
func (l *Lock) SamePackages(o *Lock) bool {
	return l.InputsDigest == o.InputsDigest && samePins(l.Architectures, o.Architectures) && samePins(l.Tools, o.Tools)
}

func samePins(a, b map[string]ArchPackages) bool {
	if len(a) != len(b) {
		return false
	}
	for k, ap := range a {
		bp, ok := b[k]
		if !ok || len(ap.Packages) != len(bp.Packages) {
			return false
		}
		for n, v := range ap.Packages {
			if bp.Packages[n] != v {
				return false
			}
		}
	}
	return true
}

// Pins returns "name=version" for every locked package of arch a, sorted.
func (l *Lock) Pins(a string) []string { return apt.Pins(l.Architectures[a].Packages) }

// Marshal renders the lock with a header saying where it came from.
func (l *Lock) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encoding lock: %w", err)
	}
	return append([]byte("# Written by `osbuild lock`; do not edit by hand.\n"), b...), nil
}
