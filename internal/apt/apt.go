// Package apt resolves a Debian package list to exact versions for a target
// architecture, using the host's apt against a private, throw-away apt root.
// It is how `osbuild lock` pins what a build installs: apt itself does the
// dependency solving and picks candidates across the release's suites
// (trixie, trixie-updates, trixie-security), so the lock matches what apt
// would install; the signed indexes then say where each version came from.
package apt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Suite is one suite of a release and the archive that serves it (the
// security suite lives in its own archive, debian-security).
type Suite struct {
	Name   string
	Mirror string
}

// Source is where a release's packages come from: its suites, in order of
// preference when one version is in several, and the components.
type Source struct {
	Suites     []Suite
	Components []string
}

// Lines returns one sources.list line per suite, verified with Keyring.
func (s Source) Lines() []string {
	out := make([]string, 0, len(s.Suites))
	for _, su := range s.Suites {
		out = append(out, fmt.Sprintf("deb [signed-by=%s] %s %s %s", Keyring, su.Mirror, su.Name, strings.Join(s.Components, " ")))
	}
	return out
}

// Mirror returns the archive that serves suite, or "".
func (s Source) Mirror(suite string) string {
	for _, su := range s.Suites {
		if su.Name == suite {
			return su.Mirror
		}
	}
	return ""
}

// Pins returns apt's "name=version" form of a package set, sorted, as
// apt-get and mmdebstrap's --include take it.
func Pins(pkgs map[string]string) []string {
	out := make([]string, 0, len(pkgs))
	for n, v := range pkgs {
		out = append(out, n+"="+v)
	}
	sort.Strings(out)
	return out
}

// PinWhereLocked returns names sorted and without repeats, each as
// name=version where pins has a version for it and as the bare name (apt's
// candidate) where it has none: for trees that take some packages from a
// lock and others from the archive (the bench's plain and mkosi images).
func PinWhereLocked(names []string, pins map[string]string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	out = slices.Compact(out)
	for i, n := range out {
		if v, ok := pins[n]; ok {
			out[i] = n + "=" + v
		}
	}
	return out
}

// Keyring is the archive keyring used to verify the Release files.
const Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Root is a private apt state directory for one architecture.
type Root struct {
	dir  string
	conf string
	src  Source
}

// NewRoot prepares an apt root in dir (created if missing) for the Debian
// architecture debArch reading from src.
func NewRoot(dir, debArch string, src Source) (*Root, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"var/lib/dpkg", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating apt root: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		return nil, fmt.Errorf("creating apt root: %w", err)
	}
	sources := strings.Join(src.Lines(), "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/sources.list"), []byte(sources), 0o644); err != nil {
		return nil, fmt.Errorf("writing sources.list: %w", err)
	}
	conf := filepath.Join(dir, "apt.conf")
	// Indexes are kept uncompressed (whatever the host's apt.conf.d says,
	// which this root does not read) so Origins can parse them directly.
	c := fmt.Sprintf(`Dir "%[1]s/";
Dir::State::status "%[1]s/var/lib/dpkg/status";
APT::Architecture "%[2]s";
APT::Architectures "%[2]s";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Debug::NoLocking "true";
Acquire::Languages "none";
Acquire::GzipIndexes "false";
`, dir, debArch)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, fmt.Errorf("writing apt.conf: %w", err)
	}
	return &Root{dir: dir, conf: conf, src: src}, nil
}

func (r *Root) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "apt-get", args...)
	c.Env = append(os.Environ(), "APT_CONFIG="+r.conf, "LC_ALL=C.UTF-8")
	return c
}

// Update downloads the package indexes of every suite. A suite that cannot
// be fetched is an error: resolving without trixie-security would silently
// lock packages without their security fixes.
func (r *Root) Update(ctx context.Context) error {
	out, err := r.cmd(ctx, "-q", "update").CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, aptErrors(out))
	}
	if bytes.Contains(out, []byte("\nW: ")) || bytes.HasPrefix(out, []byte("W: ")) {
		if e := aptErrors(out); strings.Contains(e, "Failed to fetch") {
			return fmt.Errorf("apt-get update: %s", e)
		}
	}
	return nil
}

var instRe = regexp.MustCompile(`^Inst (\S+) (?:\[\S+\] )?\((\S+) `)

// Resolve returns the exact package set (name → version) that installing
// the Essential packages plus pkgs would give, Recommends excluded. A pkg may
// carry "=version". Unknown packages or versions are errors quoting apt.
func (r *Root) Resolve(ctx context.Context, pkgs []string) (map[string]string, error) {
	args := append([]string{"-q", "-s", "install", "?essential"}, pkgs...)
	out, err := r.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("resolving packages: %s", aptErrors(out))
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := instRe.FindStringSubmatch(sc.Text()); m != nil {
			name, _, _ := strings.Cut(m[1], ":")
			got[name] = m[2]
		}
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("resolving packages: apt proposed nothing to install:\n%s", out)
	}
	return got, nil
}

// aptErrors keeps apt's E: and W: lines, which say what went wrong, and
// drops its progress chatter.
func aptErrors(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") || strings.HasPrefix(l, "Err:") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(string(out))
	}
	return strings.Join(keep, "\n")
}

// Deb822 renders the source as a deb822 .sources file, one stanza per
// mirror, the format trixie's apt writes by default.
func (s Source) Deb822() string {
	var b strings.Builder
	var mirrors []string
	suites := map[string][]string{}
	for _, su := range s.Suites {
		if _, ok := suites[su.Mirror]; !ok {
			mirrors = append(mirrors, su.Mirror)
		}
		suites[su.Mirror] = append(suites[su.Mirror], su.Name)
	}
	for i, m := range mirrors {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n", m, strings.Join(suites[m], " "), strings.Join(s.Components, " "), Keyring)
	}
	return b.String()
}

// MmdebstrapArgs are the options every tree Bulwark assembles with
// mmdebstrap shares (the image's rootfs, the tool root, the bench's plain
// image): as root, into a directory, for the Debian arch debArch, without
// Recommends, with dpkg's unsafe-io (the tree is thrown away if the
// assembly fails), installing include besides the variant's packages.
// The caller adds its hooks, then the suite, the target and the sources.
func MmdebstrapArgs(variant, debArch string, include []string) []string {
	return []string{
		"--mode=root", "--variant=" + variant, "--format=directory", "--architectures=" + debArch,
		"--aptopt=APT::Install-Recommends \"false\"", "--dpkgopt=force-unsafe-io",
		"--include=" + strings.Join(include, ","),
	}
}
