// Package cachedir owns the layout of osbuild's cache directory (--cache):
// the name of every entry, how entry keys are derived and how a finished
// entry is told from one whose assembly was interrupted. The build, its
// steps, the lock, the package cache and the bench all find entries
// through it, so a cache seeded or inspected by one is the cache the other
// reads.
//
//	tools/<debarch>-<key>/      native tool root (toolroot), with CompleteMarker
//	rootfs/<arch>-<key>/        assembled rootfs, with CompleteMarker
//	images/usr-<arch>-<key>.img /usr EROFS images (imagecache)
//	policy/<policy>-<key>/      compiled SELinux policies (policy), with CompleteMarker
//	debs/sha256/<sha256>.deb    locked .debs by content (pkgcache)
//	apt/<debarch>/              apt's state for resolving a lock
//	host/<name>/                host-side Debian packages (scripts/fetch-deb.sh)
//	host/libseccomp/            trixie's libseccomp for linking osbuild: the
//	                            one name spelled outside Go, by the Makefile
//	                            (LIBSECCOMP), since it must exist before any
//	                            Go program of the repo can build
//	work-<spec>-<arch>-*/       one build's scratch space
//	repo-tools-*/               a throw-away repository for a tool root
//
// A directory entry is assembled at <entry>.partial and renamed into place
// with the marker inside (Begin, Finish), so a build killed halfway leaves
// nothing a later build would trust.
package cachedir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dir is the root of a cache.
type Dir string

// CompleteMarker is the file a finished directory entry holds.
const CompleteMarker = ".bulwark-complete"

// partialSuffix names an entry while it is assembled.
const partialSuffix = ".partial"

// Key derives an entry's key from the lines that decide its content: the
// first 16 hex digits of the SHA256 of the lines, each ended by a newline.
// Callers put a recipe version first, so a change in how an entry is made
// changes the key.
func Key(lines ...string) string {
	h := sha256.New()
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Tools is the tool root for the Debian arch debArch with key.
func (d Dir) Tools(debArch, key string) string { return d.join("tools", debArch+"-"+key) }

// Rootfs is the assembled rootfs of arch with key.
func (d Dir) Rootfs(arch, key string) string { return d.join("rootfs", arch+"-"+key) }

// Images is the image cache's directory (see imagecache).
func (d Dir) Images() string { return d.join("images") }

// Policies is the directory of compiled SELinux policies.
func (d Dir) Policies() string { return d.join("policy") }

// USRImagePrefix is the image cache prefix of arch's /usr images.
func USRImagePrefix(arch string) string { return "usr-" + arch }

// Debs is the content-addressed .deb cache (see pkgcache).
func (d Dir) Debs() string { return d.join("debs", "sha256") }

// Apt is apt's state for resolving packages of the Debian arch debArch.
func (d Dir) Apt(debArch string) string { return d.join("apt", debArch) }

// Host is where scripts/fetch-deb.sh unpacks a host-side package, name
// being the package and its arch (busybox-static-amd64).
func (d Dir) Host(name string) string { return d.join("host", name) }

// NewWork makes a build's scratch directory for spec and arch and returns
// its absolute path.
func (d Dir) NewWork(spec, arch string) (string, error) {
	return d.scratch("work-" + spec + "-" + arch + "-")
}

// Works lists the scratch directories builds of spec and arch left (kept
// with --keep-work, or of a build still running).
func (d Dir) Works(spec, arch string) []string {
	m, _ := filepath.Glob(d.join("work-" + spec + "-" + arch + "-*"))
	return m
}

// NewToolsRepo makes a scratch directory for the repository a tool root
// is assembled from.
func (d Dir) NewToolsRepo() (string, error) { return d.scratch("repo-tools-") }

func (d Dir) scratch(prefix string) (string, error) {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return "", fmt.Errorf("creating cache %s: %w", d, err)
	}
	dir, err := os.MkdirTemp(string(d), prefix)
	if err != nil {
		return "", fmt.Errorf("creating %s* in cache %s: %w", prefix, d, err)
	}
	return filepath.Abs(dir)
}

// Reusable lists, as globs relative to the cache, the entries that a
// build for arch reuses and never writes through: what a copy of a warm
// cache must hold. Tool roots, .debs and apt state serve every arch.
func Reusable(arch string) []string {
	return []string{
		filepath.Join("rootfs", arch+"-*"),
		filepath.Join("images", USRImagePrefix(arch)+"-*.img"),
		filepath.Join("policy", "*"),
		filepath.Join("tools", "*"),
		filepath.Join("debs", "sha256"),
		filepath.Join("apt", "*"),
	}
}

// Complete reports whether the directory entry dir was finished.
func Complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, CompleteMarker))
	return err == nil
}

// IsPartial reports whether path is an entry still being assembled (or
// left by an interrupted assembly).
func IsPartial(path string) bool { return strings.HasSuffix(path, partialSuffix) }

// Begin returns the path where the entry dir, which is not Complete, is
// assembled: dir and its partial copy are cleared of what an interrupted
// assembly left, and their parent is created.
func Begin(dir string) (string, error) {
	tmp := dir + partialSuffix
	for _, p := range []string{dir, tmp} {
		if err := os.RemoveAll(p); err != nil {
			return "", fmt.Errorf("clearing %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(tmp), err)
	}
	return tmp, nil
}

// Finish marks the entry assembled at tmp (from Begin) complete and moves
// it to dir.
func Finish(tmp, dir string) error {
	if err := os.WriteFile(filepath.Join(tmp, CompleteMarker), nil, 0o644); err != nil {
		return fmt.Errorf("marking %s complete: %w", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("publishing cache entry %s: %w", dir, err)
	}
	return nil
}

// Unmark removes the marker from a copy of an entry, which is no longer a
// cache entry but a tree of its own.
func Unmark(copy string) error {
	if err := os.Remove(filepath.Join(copy, CompleteMarker)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s from %s: %w", CompleteMarker, copy, err)
	}
	return nil
}
