// Package apt resolves a Debian package list to exact versions for a target
// architecture, using the host's apt against a private, throw-away apt root.
// It is how `osbuild lock` pins what a build installs: apt itself does the
// dependency solving, so the lock matches what mmdebstrap would install.
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
	"sort"
	"strings"
)

// Source is a Debian archive.
type Source struct {
	Mirror     string
	Suite      string
	Components []string
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

// Keyring is the archive keyring used to verify the Release files.
const Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Root is a private apt state directory for one architecture.
type Root struct {
	dir  string
	conf string
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
	sources := fmt.Sprintf("deb [signed-by=%s] %s %s %s\n", Keyring, src.Mirror, src.Suite, strings.Join(src.Components, " "))
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/sources.list"), []byte(sources), 0o644); err != nil {
		return nil, fmt.Errorf("writing sources.list: %w", err)
	}
	conf := filepath.Join(dir, "apt.conf")
	c := fmt.Sprintf(`Dir "%[1]s/";
Dir::State::status "%[1]s/var/lib/dpkg/status";
APT::Architecture "%[2]s";
APT::Architectures "%[2]s";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Debug::NoLocking "true";
Acquire::Languages "none";
`, dir, debArch)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, fmt.Errorf("writing apt.conf: %w", err)
	}
	return &Root{dir: dir, conf: conf}, nil
}

func (r *Root) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "apt-get", args...)
	c.Env = append(os.Environ(), "APT_CONFIG="+r.conf, "LC_ALL=C.UTF-8")
	return c
}

// Update downloads the package indexes.
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

// Candidate returns the version apt would install of pkg.
func (r *Root) Candidate(ctx context.Context, pkg string) (string, error) {
	c := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg)
	c.Env = append(os.Environ(), "APT_CONFIG="+r.conf, "LC_ALL=C.UTF-8")
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("looking up %s: %s", pkg, aptErrors(out))
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Version: "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("looking up %s: no version in the archive", pkg)
}

// Download fetches pkg=version as a .deb into dir and returns its path.
func (r *Root) Download(ctx context.Context, pkg, version, dir string) (string, error) {
	c := r.cmd(ctx, "-q", "download", pkg+"="+version)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("downloading %s=%s: %s", pkg, version, aptErrors(out))
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) != 1 {
		return "", fmt.Errorf("downloading %s=%s: expected one .deb, found %d", pkg, version, len(m))
	}
	return m[0], nil
}
