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
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/outputs"
	"github.com/bulwark/bulwark/internal/strictyaml"
)

// APIVersion is the only spec version this build understands.
const APIVersion = "bulwark.dev/v1alpha1"

// Spec is an image spec.
type Spec struct {
	APIVersion    string   `yaml:"apiVersion"`
	Kind          string   `yaml:"kind"`
	Name          string   `yaml:"name"`
	Description   string   `yaml:"description"`
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

// Disk gives the partition sizes; ROOT takes what is left of Size and grows
// to fill the real disk at first boot.
type Disk struct {
	Size      Size `yaml:"size"`
	ESP       Size `yaml:"esp"`
	USR       Size `yaml:"usr"`
	USRVerity Size `yaml:"usrVerity"`
	OEM       Size `yaml:"oem"`
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

func (s *Spec) validate(pos strictyaml.Positions) error {
	l := &fielderr.List{File: s.File}
	add := func(path, format string, args ...any) { l.Add(pos.Line(path), path, format, args...) }

	if s.APIVersion != APIVersion {
		add("$.apiVersion", "unsupported apiVersion %q (this osbuild reads %q)", s.APIVersion, APIVersion)
	}
	if s.Kind != "ImageSpec" {
		add("$.kind", "must be ImageSpec, got %q", s.Kind)
	}
	if !nameRe.MatchString(s.Name) {
		add("$.name", "must be lower-case letters, digits and dashes, got %q", s.Name)
	}
	s.Debian.validate(add)
	if len(s.Debian.Components) == 0 {
		add("$.debian.components", "must list at least one component, such as main")
	}
	if len(s.Architectures) == 0 {
		add("$.architectures", "must list at least one of %v", arch.Names())
	}
	checkUnique(add, "$.architectures", s.Architectures, func(p, v string) {
		if _, err := arch.Lookup(v); err != nil {
			add(p, "%v", err)
		}
	})
	if len(s.Packages.All) == 0 {
		add("$.packages.all", "must list at least one package")
	}
	for key, list := range map[string][]string{"all": s.Packages.All, "x86_64": s.Packages.X86_64, "aarch64": s.Packages.Aarch64} {
		checkUnique(add, "$.packages."+key, list, func(p, v string) {
			if !pkgRe.MatchString(v) {
				add(p, "%q is not a valid Debian package name", v)
			}
		})
	}
	checkUnique(add, "$.overlays", s.Overlays, func(p, v string) {
		if !overlayRe.MatchString(v) {
			add(p, "%q is not a valid overlay name", v)
			return
		}
		if fi, err := os.Stat(s.OverlayDir(v)); err != nil || !fi.IsDir() {
			add(p, "overlay directory %s does not exist", s.OverlayDir(v))
		}
	})
	for i, b := range s.GoBinaries {
		p := fielderr.Index("$.goBinaries", i)
		if !strings.HasPrefix(b.Package, "./") || strings.Contains(b.Package, "..") {
			add(p+".package", "must be a package path inside the repository such as ./cmd/nodecfg, got %q", b.Package)
		} else if fi, err := os.Stat(filepath.Join(s.Dir, b.Package)); err != nil || !fi.IsDir() {
			add(p+".package", "package directory %s does not exist", filepath.Join(s.Dir, b.Package))
		}
		if !strings.HasPrefix(b.Path, "/usr/") || filepath.Clean(b.Path) != b.Path {
			add(p+".path", "must be a clean path under /usr, got %q", b.Path)
		}
	}
	checkUnique(add, "$.units.files", s.Units.Files, func(p, v string) {
		base := filepath.Base(v)
		dir := filepath.Dir(v)
		okName := (dir == "." && unitRe.MatchString(v)) || (strings.HasSuffix(dir, ".d") && unitRe.MatchString(strings.TrimSuffix(dir, ".d")) && strings.HasSuffix(base, ".conf") && !strings.Contains(dir, "/"))
		if !okName {
			add(p, "%q must be a unit file name or UNIT.d/NAME.conf", v)
			return
		}
		if _, err := os.Stat(s.UnitFile(v)); err != nil {
			add(p, "unit file %s does not exist", s.UnitFile(v))
		}
	})
	seen := map[string]string{}
	for key, list := range map[string][]string{"enable": s.Units.Enable, "disable": s.Units.Disable, "mask": s.Units.Mask} {
		checkUnique(add, "$.units."+key, list, func(p, v string) {
			if !unitRe.MatchString(v) {
				add(p, "%q is not a systemd unit name", v)
			}
			if other, ok := seen[v]; ok {
				add(p, "unit %q is also listed under units.%s", v, other)
			}
			seen[v] = key
		})
	}
	for key, list := range map[string][]string{"all": s.Kernel.Cmdline.All, "x86_64": s.Kernel.Cmdline.X86_64, "aarch64": s.Kernel.Cmdline.Aarch64} {
		for i, arg := range list {
			p := fielderr.Index("$.kernel.cmdline."+key, i)
			if arg == "" || strings.ContainsAny(arg, " \t\n\"") {
				add(p, "kernel argument %q must be one word without quotes", arg)
			}
			k, _, _ := strings.Cut(arg, "=")
			if slices.Contains(reservedCmdline, k) {
				add(p, "kernel argument %q is set by osbuild itself", k)
			}
		}
	}
	for i, d := range s.Kernel.InitrdDrivers {
		if !regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(d) {
			add(fielderr.Index("$.kernel.initrdDrivers", i), "%q is not a kernel module name", d)
		}
	}
	if s.SELinux.Policy == "" || strings.ContainsAny(s.SELinux.Policy, "/. ") {
		add("$.selinux.policy", "must name a policy directory under /etc/selinux, such as default")
	}
	if s.SELinux.Mode != "enforcing" && s.SELinux.Mode != "permissive" {
		add("$.selinux.mode", "must be enforcing or permissive, got %q", s.SELinux.Mode)
	}
	for path, dir := range map[string]string{"$.seccomp.policies": s.Seccomp.Policies, "$.audit.rules": s.Audit.Rules} {
		if dir == "" {
			continue // optional
		}
		if filepath.IsAbs(dir) || strings.HasPrefix(filepath.Clean(dir), "..") {
			add(path, "must be a directory inside the repo, got %q", dir)
		} else if fi, err := os.Stat(filepath.Join(s.Dir, dir)); err != nil || !fi.IsDir() {
			add(path, "directory %s does not exist", filepath.Join(s.Dir, dir))
		}
	}
	checkUnique(add, "$.selinux.modules", s.SELinux.Modules, func(p, v string) {
		if !overlayRe.MatchString(v) {
			add(p, "%q is not a valid module name", v)
		} else if _, err := os.Stat(s.SELinuxModule(v)); err != nil {
			add(p, "module file %s does not exist", s.SELinuxModule(v))
		}
	})
	s.validateDisk(add)
	for _, name := range outputs.Required() {
		if !slices.Contains(s.Outputs, name) {
			add("$.outputs", "must include %s", name)
		}
	}
	checkUnique(add, "$.outputs", s.Outputs, func(p, v string) {
		if _, ok := outputs.Lookup(v); !ok {
			add(p, "unknown output %q (known: %s)", v, strings.Join(outputs.Names(), ", "))
		}
	})
	return l.Err()
}

func (s *Spec) validateDisk(add func(path, format string, args ...any)) {
	d := s.Disk
	for _, f := range []struct {
		path string
		v    Size
		min  Size
	}{{"$.disk.size", d.Size, 1}, {"$.disk.esp", d.ESP, minESP}, {"$.disk.usr", d.USR, 64 * MiB},
		{"$.disk.usrVerity", d.USRVerity, 1 * MiB}, {"$.disk.oem", d.OEM, minOEM}} {
		switch {
		case f.v < f.min:
			add(f.path, "must be at least %s, got %s", f.min, f.v)
		case f.v%MiB != 0:
			add(f.path, "must be a whole number of MiB (partitions are 1 MiB aligned), got %s", f.v)
		}
	}
	// A verity hash tree with 4 KiB blocks and sha256 takes 32 bytes per data
	// block plus upper levels: a little over 1/128 of the data.
	if need := d.USR/128 + 1*MiB; d.USRVerity > 0 && d.USRVerity < need {
		add("$.disk.usrVerity", "%s cannot hold the hash tree of a %s usr partition (needs %s)", d.USRVerity, d.USR, need)
	}
	fixed := d.ESP + 2*(d.USR+d.USRVerity) + d.OEM + gptSlack
	if d.Size > 0 && d.Size < fixed+minRoot {
		add("$.disk.size", "%s leaves less than %s for ROOT after ESP, USR-A/B, their verity and OEM (%s)", d.Size, minRoot, fixed)
	}
	if d.USRCompression != "" && !slices.Contains([]string{"lz4", "lz4hc", "lzma"}, strings.SplitN(d.USRCompression, ",", 2)[0]) {
		add("$.disk.usrCompression", "unknown erofs compressor %q (known: lz4, lz4hc, lzma)", d.USRCompression)
	}
}

func checkUnique(add func(string, string, ...any), path string, list []string, each func(p, v string)) {
	seen := map[string]bool{}
	for i, v := range list {
		p := fielderr.Index(path, i)
		if seen[v] {
			add(p, "%q is listed twice", v)
			continue
		}
		seen[v] = true
		each(p, v)
	}
}

// validate checks the release and its suites.
func (d Debian) validate(add func(path, format string, args ...any)) {
	if !suiteRe.MatchString(d.Release) {
		add("$.debian.release", "must be a Debian release name such as trixie, got %q", d.Release)
	}
	if len(d.Suites) == 0 {
		add("$.debian.suites", "must list the release's suites, e.g. %s, %s-updates and %s-security", d.Release, d.Release, d.Release)
	}
	seen := map[string]bool{}
	for i, su := range d.Suites {
		p := fmt.Sprintf("$.debian.suites[%d]", i)
		switch {
		case !suiteRe.MatchString(su.Name):
			add(p+".name", "must be a Debian suite name such as %s-security, got %q", d.Release, su.Name)
		case su.Name != d.Release && !strings.HasPrefix(su.Name, d.Release+"-"):
			add(p+".name", "suite %q is not part of release %q: one image draws from one release", su.Name, d.Release)
		case seen[su.Name]:
			add(p+".name", "suite %q is listed twice", su.Name)
		}
		seen[su.Name] = true
		if u, err := url.Parse(su.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Host == "" && u.Scheme != "file") {
			add(p+".mirror", "must be an http(s) or file URL, got %q", su.Mirror)
		}
	}
	if len(d.Suites) > 0 && !seen[d.Release] && suiteRe.MatchString(d.Release) {
		add("$.debian.suites", "must list the release itself (%s): its -updates and -security suites only carry what changed", d.Release)
	}
}

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
