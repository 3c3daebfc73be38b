package authz

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// protectedPaths are never bound into a container by a restricted rule,
// whatever its allow-list says: each one, or a directory holding one, is
// root on the node. A bind of an ancestor ("/run", "/var") is refused too,
// since it carries the socket inside it.
var protectedPaths = []string{
	"/run/docker.sock", "/var/run/docker.sock", // the Docker API, unauthorized on the socket
	"/run/docker", "/var/run/docker", // plugin sockets (this plugin's too) and containerd's
	"/run/containerd", "/var/run/containerd", // containerd's API
	"/var/lib/docker", "/var/lib/containerd", // every container's config and files
	"/etc/docker", // daemon.json and the daemon's TLS key
}

// within reports whether path p is dir or lies below it; both are clean.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// resolveHost returns the path a bind of p would reach: the longest prefix
// of p that exists, with its symlinks followed, and the rest of p. dockerd
// follows symlinks in a bind source, so a symlink planted inside an
// allow-listed directory (by a container that has it bound) must not lead
// out of it. A symlink swapped between this check and the mount is a race
// the plugin cannot close; allow-list directories the restricted users'
// containers cannot write to where that matters.
func resolveHost(p string) (string, error) {
	for cur := p; ; cur = filepath.Dir(cur) {
		_, err := os.Lstat(cur)
		if err == nil {
			real, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return "", err
			}
			return filepath.Join(real, strings.TrimPrefix(p, cur)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if cur == "/" {
			return p, nil
		}
	}
}

func (p *Policy) resolvePath(path string) (string, error) {
	if p.resolve != nil {
		return p.resolve(path)
	}
	return resolveHost(path)
}

// checkHostPath says why rule r may not bind the host path src into a
// container, or "" if it may. Both the path as written and the path it
// resolves to must lie in one allow-listed directory (resolved the same
// way) and reach no protected path.
func (p *Policy) checkHostPath(r *Rule, field, src string) string {
	if !filepath.IsAbs(src) {
		return fmt.Sprintf("%s: host path %q is not absolute", field, src)
	}
	clean := filepath.Clean(src)
	real, err := p.resolvePath(clean)
	if err != nil {
		return fmt.Sprintf("%s: host path %q cannot be resolved: %v", field, src, err)
	}
	shown := fmt.Sprintf("%q", src)
	if real != src {
		shown = fmt.Sprintf("%q (resolves to %q)", src, real)
	}
	allowed := false
	for _, b := range r.Binds {
		rb, err := p.resolvePath(b)
		if err == nil && within(clean, b) && within(real, rb) {
			allowed = true
			break
		}
	}
	if !allowed {
		if len(r.Binds) == 0 {
			return fmt.Sprintf("%s: host path %s: rule %q allows no host paths (binds)", field, shown, r.Name)
		}
		return fmt.Sprintf("%s: host path %s is outside rule %q's binds %q", field, shown, r.Name, r.Binds)
	}
	for _, cand := range []string{clean, real} {
		for _, pp := range protectedPaths {
			if within(cand, pp) || within(pp, cand) {
				return fmt.Sprintf("%s: host path %s reaches %s, which no restricted rule may bind", field, shown, pp)
			}
		}
	}
	return ""
}

// bindSource returns the source of a HostConfig.Binds entry as dockerd's
// Linux parser reads it ("src:dst[:mode]", or "dst" alone for an anonymous
// volume) and whether it is a host path rather than a volume name.
func bindSource(spec string) (src string, host bool, err error) {
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		return "", false, nil
	case 2, 3:
		if parts[0] == "" {
			return "", false, fmt.Errorf("bind %q has an empty source", spec)
		}
		return parts[0], filepath.IsAbs(parts[0]), nil
	}
	return "", false, fmt.Errorf("bind %q has more than three fields", spec)
}
