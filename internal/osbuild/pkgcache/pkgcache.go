// Package pkgcache keeps the .deb files builds install, content-addressed
// by SHA256, and serves them to apt as a local repository.
//
// Debian's archive keeps one version of each package per suite and no
// snapshot archive is reachable from the build machines, so a lock goes
// stale within days of being written. A machine that built once keeps every
// locked .deb here under its hash, and rebuilds bit for bit after the
// archive moved on or with the mirror unreachable. Nothing enters the
// cache unless its SHA256 is the one the lock recorded from the suite's
// signed index.
package pkgcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bulwark/bulwark/internal/atomicfile"
)

// Item is one .deb a build needs.
type Item struct {
	Name    string
	Version string
	Suite   string
	URL     string // where the archive serves it: mirror + "/" + pool path
	Size    int64
	SHA256  string
}

// String names the item the way apt pins it.
func (it Item) String() string { return it.Name + "=" + it.Version + " (" + it.Suite + ")" }

// Cache is a directory of .debs named by their SHA256.
type Cache struct {
	dir    string
	Client *http.Client
	// Parallel is how many downloads run at once.
	Parallel int
}

// Open returns the cache in dir (<cache>/debs/sha256), creating it.
func Open(dir string) (*Cache, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating package cache: %w", err)
	}
	return &Cache{dir: dir, Client: http.DefaultClient, Parallel: 4}, nil
}

// Path is where the .deb with hash sum is kept.
func (c *Cache) Path(sum string) string { return filepath.Join(c.dir, sum+".deb") }

// Has reports whether the .deb with hash sum is cached.
func (c *Cache) Has(sum string) bool {
	_, err := os.Stat(c.Path(sum))
	return err == nil
}

// Missing returns the items not in the cache, in order.
func (c *Cache) Missing(items []Item) []Item {
	var out []Item
	for _, it := range items {
		if !c.Has(it.SHA256) {
			out = append(out, it)
		}
	}
	return out
}

// ErrGone marks an item the archive no longer serves (HTTP 404 or 410):
// the archive moved past the locked version.
var ErrGone = errors.New("no longer in the archive")

// Progress is told about each finished download.
type Progress func(done, total int, bytes int64)

// Fetch downloads every item not yet cached, verifying size and SHA256
// before it is kept. It returns the items the archive no longer has (in the
// order given); any other failure, a hash mismatch above all, is an error.
func (c *Cache) Fetch(parent context.Context, items []Item, progress Progress) (gone []Item, err error) {
	todo := c.Missing(items)
	if len(todo) == 0 {
		return nil, nil
	}
	type result struct {
		i   int
		err error
	}
	jobs := make(chan int)
	results := make(chan result)
	// The first failure stops the other downloads; their "canceled" errors
	// are consequences, not news, unless the caller cancelled.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < max(1, c.Parallel); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- result{i, c.fetch(ctx, todo[i])}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range todo {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var errs []error
	isGone := map[int]bool{}
	var bytes int64
	done := 0
	for r := range results {
		done++
		switch {
		case errors.Is(r.err, ErrGone):
			isGone[r.i] = true
		case r.err != nil && len(errs) > 0 && errors.Is(r.err, context.Canceled) && parent.Err() == nil:
		case r.err != nil:
			errs = append(errs, r.err)
			cancel()
		default:
			bytes += todo[r.i].Size
		}
		if progress != nil {
			progress(done, len(todo), bytes)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i, it := range todo {
		if isGone[i] {
			gone = append(gone, it)
		}
	}
	return gone, nil
}

// fetch downloads one item into the cache.
func (c *Cache) fetch(ctx context.Context, it Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := c.open(ctx, it)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.CreateTemp(c.dir, ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, it.Size+1))
	if err != nil {
		return fmt.Errorf("downloading %s from %s: %w", it, it.URL, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != it.Size || sum != it.SHA256 {
		return fmt.Errorf("downloading %s from %s: got %d bytes with sha256 %s; the lock says %d bytes, sha256 %s (refusing it)", it, it.URL, n, sum, it.Size, it.SHA256)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return atomicfile.Rename(f.Name(), c.Path(it.SHA256))
}

// open starts reading an item from an http(s) or file URL.
func (c *Cache) open(ctx context.Context, it Item) (io.ReadCloser, error) {
	u, err := url.Parse(it.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: bad URL %q: %w", it, it.URL, err)
	}
	if u.Scheme == "file" {
		f, err := os.Open(u.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", it, ErrGone)
		}
		return f, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", it, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %w", it, it.URL, ErrGone)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("downloading %s from %s: %s", it, it.URL, resp.Status)
	}
	return resp.Body, nil
}

// Repo writes a flat apt repository in dir (replacing what is there)
// holding exactly items, hard-linked from the cache: a Packages index made
// from each .deb's own control fields plus the Size and SHA256 the cache
// verified, and a Release file. Every item must be cached. It returns the
// sources.list line for it (copy://: apt copies each .deb into the chroot,
// where dpkg can reach it). apt checks each .deb against the index, which
// matches the lock, so no network and no archive signature are needed.
// The Release file names the repository as suite (the image's release):
// mmdebstrap picks the Essential packages of the suite it is given by
// archive or codename.
func (c *Cache) Repo(ctx context.Context, dir, suite string, items []Item) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sorted := append([]Item(nil), items...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var idx strings.Builder
	for _, it := range sorted {
		ctl, err := c.control(ctx, it.SHA256)
		if err != nil {
			return "", fmt.Errorf("%s: %w", it, err)
		}
		name := it.SHA256 + ".deb"
		if err := os.Link(c.Path(it.SHA256), filepath.Join(dir, name)); err != nil {
			if err := copyFile(c.Path(it.SHA256), filepath.Join(dir, name)); err != nil {
				return "", err
			}
		}
		idx.WriteString(strings.TrimRight(ctl, "\n"))
		fmt.Fprintf(&idx, "\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n", name, it.Size, it.SHA256)
	}
	packages := []byte(idx.String())
	sum := sha256.Sum256(packages)
	release := fmt.Sprintf("Origin: bulwark-pkgcache\nLabel: bulwark-pkgcache\nSuite: %s\nCodename: %s\nSHA256:\n %x %d Packages\n", suite, suite, sum, len(packages))
	if err := os.WriteFile(filepath.Join(dir, "Packages"), packages, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Release"), []byte(release), 0o644); err != nil {
		return "", err
	}
	return "deb [trusted=yes] copy://" + dir + " ./", nil
}

// control returns the .deb's control fields, read once with dpkg-deb and
// kept beside it (a few hundred dpkg-deb runs would cost seconds per build).
func (c *Cache) control(ctx context.Context, sum string) (string, error) {
	p := filepath.Join(c.dir, sum+".control")
	if b, err := os.ReadFile(p); err == nil {
		return string(b), nil
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "--field", c.Path(sum)).Output()
	if err != nil {
		return "", fmt.Errorf("reading control fields of %s: %w", c.Path(sum), err)
	}
	if !strings.HasPrefix(string(out), "Package: ") {
		return "", fmt.Errorf("reading control fields of %s: no Package field", c.Path(sum))
	}
	return string(out), atomicfile.WriteFile(p, out, 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
