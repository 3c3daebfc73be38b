// Package imagespec defines the declarative image spec (images/<name>.yaml)
// and its lock file (images/<name>.lock), and validates both before any build
// work starts. Everything a build does is derived from these two files, so
// they are strict: unknown keys and wrong types are errors with their path.
package imagespec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/strictyaml"
)

// APIVersion is the only spec version this build understands.
const APIVersion = "bulwark.dev/v1alpha1"

// Spec is an image spec.
type Spec struct {
	APIVersion  string `yaml:"apiVersion"`
	Kind        string `yaml:"kind"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Version is the image's version (os-release IMAGE_VERSION), the one
	// systemd-sysupdate compares to pick an update; osbuild build
	// --image-version overrides it. Empty: the lock's date, YYYY.MM.DD.
	Version       string   `yaml:"version"`
	Debian        Debian   `yaml:"debian"`
	Architectures []string `yaml:"architectures"`
	Packages      Packages `yaml:"packages"`
	Overlays      []string `yaml:"overlays"`
	// GoBinaries are Go packages of this repository, cross-compiled for the
	// image's arch and installed in /usr (nodecfg, for first boot).
	GoBinaries []GoBinary `yaml:"goBinaries"`
	Units      Units      `yaml:"units"`
	Kernel     Kernel     `yaml:"kernel"`
	SELinux    SELinux    `yaml:"selinux"`
	Seccomp    Seccomp    `yaml:"seccomp"`
	Audit      Audit      `yaml:"audit"`
	Disk       Disk       `yaml:"disk"`
	Outputs    []string   `yaml:"outputs"`

	// File is the path the spec was read from; Dir is the repository root
	// that overlays/ and units/ are resolved against.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// VersionOK reports whether v is a version systemd-sysupdate can carry in
// a partition label and a file name (its @v): it starts with a letter or
// digit and holds only letters, digits and ".", "+", "~", "^", "-". No "_":
// it ends @v in the update payload's names (internal/sysupdate). The GPT
// label "<name>_<version>_verity" bounds its length (layout.SetVersion).
func VersionOK(v string) bool { return versionRe.MatchString(v) }

var versionRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~^-]{0,63}$`)

// Debian names where packages come from: one release and the suites of it
// the image draws from. A container host needs its release's security
// suite (trixie-security) and point-release updates (trixie-updates), not
// only the release as it was frozen.
type Debian struct {
	Release    string        `yaml:"release"`
	Components []string      `yaml:"components"`
	Suites     []DebianSuite `yaml:"suites"`
}

// DebianSuite is one suite and the archive that serves it.
type DebianSuite struct {
	Name   string `yaml:"name"`
	Mirror string `yaml:"mirror"`
}

// Packages lists Debian packages to install, for all arches and per arch.
type Packages struct {
	All     []string `yaml:"all"`
	X86_64  []string `yaml:"x86_64"`
	Aarch64 []string `yaml:"aarch64"`
}

// For returns the packages to install on arch a, sorted and unique.
func (p Packages) For(a string) []string {
	out := slices.Clone(p.All)
	switch a {
	case "x86_64":
		out = append(out, p.X86_64...)
	case "aarch64":
		out = append(out, p.Aarch64...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// GoBinary is one Go program built into the image.
type GoBinary struct {
	Package string `yaml:"package"` // e.g. ./cmd/nodecfg
	Path    string `yaml:"path"`    // e.g. /usr/bin/nodecfg
}

// Units says which systemd units to enable, disable and mask in the image.
type Units struct {
	// Files are unit files and drop-ins from the repository's units/
	// directory, installed under /usr/lib/systemd/system (e.g.
	// nodecfg-firstboot.service, docker.service.d/10-bulwark.conf).
	Files   []string `yaml:"files"`
	Enable  []string `yaml:"enable"`
	Disable []string `yaml:"disable"`
	Mask    []string `yaml:"mask"`
}

// Kernel holds kernel command line additions; osbuild adds the root, /usr
// and verity arguments itself.
type Kernel struct {
	Cmdline PerArch `yaml:"cmdline"`
	// InitrdDrivers are the kernel modules the initrd carries; only these,
	// so the initrd stays small and quick to build.
	InitrdDrivers []string `yaml:"initrdDrivers"`
}

// PerArch is a list of strings for all arches plus per-arch additions.
type PerArch struct {
	All     []string `yaml:"all"`
	X86_64  []string `yaml:"x86_64"`
	Aarch64 []string `yaml:"aarch64"`
}

// For returns the entries for arch a, all-arch ones first.
func (p PerArch) For(a string) []string {
	out := slices.Clone(p.All)
	if a == "x86_64" {
		out = append(out, p.X86_64...)
	} else if a == "aarch64" {
		out = append(out, p.Aarch64...)
	}
	return out
}

// SELinux chooses the policy and mode the image boots with.
type SELinux struct {
	Policy string `yaml:"policy"` // directory under /etc/selinux, e.g. "default"
	Mode   string `yaml:"mode"`   // enforcing or permissive
	// Modules are Bulwark's CIL modules, policies/selinux/<name>.cil,
	// installed into the policy at build time.
	Modules []string `yaml:"modules"`
}

// Seccomp says where the container seccomp profiles come from: Docker's
// default plus the additions in Policies (a directory relative to the repo),
// installed as /usr/share/bulwark/seccomp/{default,strict}.json.
type Seccomp struct {
	Policies string `yaml:"policies"`
}

// Audit names the directory of audit rule files (relative to the repo),
// rendered into /etc/audit/rules.d/bulwark.rules.
type Audit struct {
	Rules string `yaml:"rules"`
}

// Disk gives the partition sizes. Without DockerPartition, ROOT takes what
// is left of Size and grows to fill the real disk at first boot; with it,
// ROOT is Root bytes and DOCKER (/var/lib/docker) takes the rest and grows.
type Disk struct {
	Size      Size `yaml:"size"`
	ESP       Size `yaml:"esp"`
	USR       Size `yaml:"usr"`
	USRVerity Size `yaml:"usrVerity"`
	OEM       Size `yaml:"oem"`
	// Root is ROOT's size when DockerPartition puts DOCKER after it.
	Root Size `yaml:"root"`
	// DockerPartition gives /var/lib/docker a filesystem of its own, the
	// last partition (CIS Docker Benchmark 1.1.1).
	DockerPartition bool `yaml:"dockerPartition"`
	// USRCompression is passed to mkfs.erofs -z; empty means uncompressed.
	USRCompression string `yaml:"usrCompression"`
}

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	pkgRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	suiteRe   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	unitRe    = regexp.MustCompile(`^[A-Za-z0-9:_.@-]+\.(service|socket|timer|target|path|mount|slice)$`)
	overlayRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// reservedCmdline are kernel arguments osbuild sets itself; a spec that also
// set them would fight the verity and root set-up.
var reservedCmdline = []string{"root", "rootfstype", "usrhash", "mount.usr", "mount.usrfstype",
	"mount.usrflags", "systemd.verity_usr_data", "systemd.verity_usr_hash", "systemd.verity_usr_options",
	"roothash", "enforcing", "selinux", "security", "lsm"}

// minimum sizes that the tools and the firmware accept.
const (
	minESP   = 64 * MiB // FAT32 needs at least 65525 clusters
	minOEM   = 1 * MiB
	minRoot  = 256 * MiB
	gptSlack = 2 * MiB // protective MBR, both GPT copies and alignment
)

// Load reads, decodes and validates the spec at path. Errors name the file
// and the JSON path of each problem; all problems are reported together.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading image spec: %w", err)
	}
	var s Spec
	pos, decodeErr := strictyaml.Decode(path, data, &s)
	if pos == nil {
		return nil, decodeErr // not YAML at all
	}
	s.File = path
	s.Dir = filepath.Dir(filepath.Dir(path))
	if abs, err := filepath.Abs(s.Dir); err == nil {
		s.Dir = abs
	}
	// Report structural and semantic problems together, leaving out semantic
	// complaints about values that did not even decode.
	all := &fielderr.List{File: path}
	all.Merge(decodeErr)
	bad := fielderr.Paths(decodeErr)
	var sem fielderr.List
	sem.Merge(s.validate(pos))
	for _, e := range sem.All() {
		if !underAny(e.Path, bad) {
			all.Append(e)
		}
	}
	if err := all.Err(); err != nil {
		return nil, err
	}
	return &s, nil
}

func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+".") || strings.HasPrefix(p, r+"[") {
			return true
		}
	}
	return false
}

// UnitFile returns the path of a unit file from units/.
func (s *Spec) UnitFile(name string) string { return filepath.Join(s.Dir, "units", name) }

// SeccompDir is the directory of the seccomp additions (policies/seccomp).
func (s *Spec) SeccompDir() string { return filepath.Join(s.Dir, s.Seccomp.Policies) }

// AuditDir is the directory of the audit rule files (policies/audit).
func (s *Spec) AuditDir() string { return filepath.Join(s.Dir, s.Audit.Rules) }

// SELinuxModule returns the CIL file of module name.
func (s *Spec) SELinuxModule(name string) string {
	return filepath.Join(s.Dir, "policies", "selinux", name+".cil")
}

// OverlayDir returns the directory of overlay name.
func (s *Spec) OverlayDir(name string) string { return filepath.Join(s.Dir, "overlays", name) }

// Source is the spec's Debian archive, as apt takes it.
func (d Debian) Source() apt.Source {
	src := apt.Source{Components: d.Components}
	for _, su := range d.Suites {
		src.Suites = append(src.Suites, apt.Suite{Name: su.Name, Mirror: strings.TrimSuffix(su.Mirror, "/")})
	}
	return src
}

// SecuritySuite reports whether suite carries the release's security
// updates (Debian names it <release>-security).
func SecuritySuite(suite string) bool { return strings.HasSuffix(suite, "-security") }

// HasArch reports whether the spec builds for arch a.
func (s *Spec) HasArch(a string) bool { return slices.Contains(s.Architectures, a) }

// PackageInputsDigest hashes what decides the locked package set: release,
// suites, mirrors, components and package lists. The lock records it, so a build can
// tell that the spec's packages changed since the lock was written.
func (s *Spec) PackageInputsDigest() string {
	b, _ := json.Marshal(struct {
		Debian   Debian
		Packages Packages
	}{s.Debian, s.Packages})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
