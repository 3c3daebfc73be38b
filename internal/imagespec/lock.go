package imagespec

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
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

// ArchPackages maps package name to what is locked of it.
type ArchPackages struct {
	Packages map[string]Package `yaml:"packages"`
}

// Package is one locked package: its exact version, the suite it was taken
// from and the .deb's path and SHA256 as that suite's signed index stated
// them. With these a build fetches and verifies each .deb without an index,
// and finds it again in the content-addressed package cache after the
// archive has moved on.
type Package struct {
	Version string `yaml:"version"`
	Suite   string `yaml:"suite"`
	Size    int64  `yaml:"size"`
	SHA256  string `yaml:"sha256"`
	Path    string `yaml:"path"`
}

// MarshalYAML writes a package on one line, so a package change is a
// one-line diff in review.
func (p Package) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, kv := range [][2]string{{"version", p.Version}, {"suite", p.Suite}, {"size", strconv.FormatInt(p.Size, 10)}, {"sha256", p.SHA256}, {"path", p.Path}} {
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]}
		if kv[0] == "size" {
			v.Tag = "!!int"
		} else {
			v.Tag = "!!str"
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]}, v)
	}
	return n, nil
}

// Versions returns name → version, the form apt and dpkg speak.
func (ap ArchPackages) Versions() map[string]string {
	out := make(map[string]string, len(ap.Packages))
	for n, p := range ap.Packages {
		out[n] = p.Version
	}
	return out
}

// ToolPackages make up the native tool root: a small chroot of the image's
// own suite for the build host's arch. Running these natively matters for
// foreign-arch images (compiling the SELinux policy under qemu-user took
// over five minutes), and using the suite's own versions means the tools
// read the image's files in the format they were written (file_contexts.bin).
// ignition brings ignition-validate, which checks what nodecfg renders;
// dracut-core builds the initrd from outside the image (dracut --sysroot:
// 62 s under qemu-user for arm64, seconds natively).
var ToolPackages = []string{"policycoreutils", "semodule-utils", "systemd-ukify", "python3-pefile", "systemd-container", "erofs-utils", "e2fsprogs", "ignition", "dracut-core"}

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
	suites := map[string]bool{}
	for _, su := range s.Debian.Suites {
		suites[su.Name] = true
	}
	checkEntries := func(base string, ap ArchPackages) {
		for name, p := range ap.Packages {
			path := base + "." + name
			switch {
			case !pkgRe.MatchString(name):
				errs.Add(pos.Line(path), path, "bad package name %q", name)
			case p.Version == "" || strings.ContainsAny(p.Version, " \t="):
				errs.Add(pos.Line(path), path+".version", "bad version %q", p.Version)
			case !suites[p.Suite]:
				errs.Add(pos.Line(path), path+".suite", "suite %q is not one of the spec's $.debian.suites", p.Suite)
			case !sha256Re.MatchString(p.SHA256):
				errs.Add(pos.Line(path), path+".sha256", "must be 64 lower-case hex digits, got %q", p.SHA256)
			case p.Size <= 0:
				errs.Add(pos.Line(path), path+".size", "must be the .deb's size in bytes, got %d", p.Size)
			case !debPathRe.MatchString(p.Path) || strings.Contains(p.Path, ".."):
				errs.Add(pos.Line(path), path+".path", "must be the .deb's path in the archive (pool/.../*.deb), got %q", p.Path)
			}
		}
	}
	for a, ap := range l.Tools {
		checkEntries("$.tools."+a+".packages", ap)
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
		checkEntries("$.architectures."+a+".packages", ap)
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
		for n, p := range ap.Packages {
			if bp.Packages[n] != p {
				return false
			}
		}
	}
	return true
}

// Pins returns "name=version" for every locked package of arch a, sorted.
func (l *Lock) Pins(a string) []string { return apt.Pins(l.Architectures[a].Versions()) }

var (
	sha256Re  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	debPathRe = regexp.MustCompile(`^pool/[A-Za-z0-9+._~%/-]+\.deb$`)
)

// Marshal renders the lock with a header saying where it came from.
func (l *Lock) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encoding lock: %w", err)
	}
	return append([]byte("# Written by `osbuild lock`; do not edit by hand.\n"), b...), nil
}
