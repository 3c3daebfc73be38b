package imagespec

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/outputs"
	"github.com/bulwark/bulwark/internal/strictyaml"
)

// This file checks a loaded spec (Spec.validate), one section of it per
// function, collecting every problem with its line and JSON path.

// addFunc records one problem at a JSON path of the spec.
type addFunc func(path, format string, args ...any)

// validate checks the whole spec, one section at a time, and returns every
// problem with its line and path.
func (s *Spec) validate(pos strictyaml.Positions) error {
	l := &fielderr.List{File: s.File}
	add := func(path, format string, args ...any) { l.Add(pos.Line(path), path, format, args...) }
	s.validateHeader(add)
	s.validatePackages(add)
	s.validateFiles(add)
	s.validateUnits(add)
	s.validateKernel(add)
	s.validateSecurity(add)
	s.validateDisk(add)
	s.validateOutputs(add)
	return l.Err()
}

// validateHeader checks apiVersion, kind and name.
func (s *Spec) validateHeader(add addFunc) {
	if s.APIVersion != APIVersion {
		add("$.apiVersion", "unsupported apiVersion %q (this osbuild reads %q)", s.APIVersion, APIVersion)
	}
	if s.Kind != "ImageSpec" {
		add("$.kind", "must be ImageSpec, got %q", s.Kind)
	}
	if !nameRe.MatchString(s.Name) {
		add("$.name", "must be lower-case letters, digits and dashes, got %q", s.Name)
	}
	if s.Version != "" && !VersionOK(s.Version) {
		add("$.version", "must start with a letter or digit and hold only letters, digits and . + ~ ^ - (at most 64), got %q", s.Version)
	}
}

// validatePackages checks the Debian source, the architectures and the
// package lists.
func (s *Spec) validatePackages(add addFunc) {
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
}

// validateFiles checks the overlays and the Go programs put in the image.
func (s *Spec) validateFiles(add addFunc) {
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
}

// validateUnits checks the unit files and the enable, disable and mask
// lists, none of which may name a unit another one names.
func (s *Spec) validateUnits(add addFunc) {
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
}

// validateKernel checks the command line and the initrd drivers.
func (s *Spec) validateKernel(add addFunc) {
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
}

// validateSecurity checks SELinux, and the seccomp and audit directories.
func (s *Spec) validateSecurity(add addFunc) {
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
}

// validateOutputs checks the outputs against internal/outputs' table.
func (s *Spec) validateOutputs(add addFunc) {
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
}

func (s *Spec) validateDisk(add addFunc) {
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
	switch {
	case !d.DockerPartition && d.Root != 0:
		add("$.disk.root", "is ROOT's size when dockerPartition puts DOCKER after it; without it ROOT takes the rest")
	case d.DockerPartition && d.Root < minRoot:
		add("$.disk.root", "must be at least %s with dockerPartition, got %s", minRoot, d.Root)
	case d.DockerPartition && d.Root%MiB != 0:
		add("$.disk.root", "must be a whole number of MiB (partitions are 1 MiB aligned), got %s", d.Root)
	case d.DockerPartition && d.Size > 0 && d.Size < fixed+d.Root+minRoot:
		add("$.disk.size", "%s leaves less than %s for DOCKER after ESP, USR-A/B, their verity, OEM and ROOT (%s)", d.Size, minRoot, fixed+d.Root)
	case d.Size > 0 && d.Size < fixed+minRoot:
		add("$.disk.size", "%s leaves less than %s for ROOT after ESP, USR-A/B, their verity and OEM (%s)", d.Size, minRoot, fixed)
	}
	if d.USRCompression != "" && !slices.Contains([]string{"lz4", "lz4hc", "lzma"}, strings.SplitN(d.USRCompression, ",", 2)[0]) {
		add("$.disk.usrCompression", "unknown erofs compressor %q (known: lz4, lz4hc, lzma)", d.USRCompression)
	}
}

func checkUnique(add addFunc, path string, list []string, each func(p, v string)) {
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
func (d Debian) validate(add addFunc) {
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
