package apply

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// resolver maps paths on the node to paths in the root as the node will
// see them: the root's own links are followed as if the root were "/"
// (an absolute target starts at the root, ".." stops there), so no path
// leaves it. The result, a "real" path, is relative to the root, starts
// with "/" and has no link among its existing parents.
type resolver struct {
	root string // absolute, itself without links
}

func newResolver(root string) (resolver, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return resolver{}, err
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return resolver{}, fmt.Errorf("root %s: %w", root, err)
	}
	return resolver{root: dir}, nil
}

// real resolves p's parents and keeps its last element: nodecfg replaces
// what is at a path, and never writes through a link there.
func (r resolver) real(p string) (string, error) {
	if p == "/" {
		return "/", nil
	}
	dir, err := r.follow(path.Dir(p))
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

// follow resolves p wholly, its last element too.
func (r resolver) follow(p string) (string, error) {
	full, err := securejoin.SecureJoin(r.root, p)
	if err != nil {
		return "", fmt.Errorf("resolving %s in the root: %w", p, err)
	}
	rel, err := filepath.Rel(r.root, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("resolving %s in the root: %s is outside it", p, full)
	}
	return path.Join("/", filepath.ToSlash(rel)), nil
}

// host is where a real path is on this machine.
func (r resolver) host(real string) string { return filepath.Join(r.root, real) }

func (r resolver) lstat(real string) (os.FileInfo, error) { return os.Lstat(r.host(real)) }
