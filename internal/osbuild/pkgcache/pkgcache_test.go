package pkgcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// archive serves files by path and counts requests; anything else is 404.
type archive struct {
	files map[string][]byte
	hits  atomic.Int64
}

func (a *archive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.hits.Add(1)
	b, ok := a.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func item(t *testing.T, srv *httptest.Server, name, path string, data []byte) Item {
	t.Helper()
	sum := sha256.Sum256(data)
	return Item{Name: name, Version: "1.0", Suite: "trixie", URL: srv.URL + path, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func TestFetch(t *testing.T) {
	good, other := []byte("a real .deb"), []byte("what a compromised mirror serves")
	a := &archive{files: map[string][]byte{"/pool/a.deb": good, "/pool/evil.deb": other}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	tests := []struct {
		name     string
		items    func() []Item
		wantErr  string
		wantGone []string
		cached   []string // names that must be in the cache afterwards
	}{
		{"downloads and verifies", func() []Item { return []Item{item(t, srv, "a", "/pool/a.deb", good)} }, "", nil, []string{"a"}},
		{"gone from the archive", func() []Item {
			return []Item{item(t, srv, "a", "/pool/a.deb", good), item(t, srv, "old", "/pool/old_0.9.deb", []byte("x"))}
		}, "", []string{"old"}, []string{"a"}},
		{"hash mismatch is refused", func() []Item {
			it := item(t, srv, "evil", "/pool/evil.deb", good) // the lock's hash is of good
			return []Item{it}
		}, "refusing it", nil, nil},
		{"size mismatch is refused", func() []Item {
			it := item(t, srv, "evil", "/pool/evil.deb", other)
			it.Size--
			return []Item{it}
		}, "refusing it", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			items := tc.items()
			gone, err := c.Fetch(context.Background(), items, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch error = %v; want one containing %q", err, tc.wantErr)
				}
				for _, it := range items {
					if c.Has(it.SHA256) {
						t.Errorf("%s is in the cache after a failed verification", it.Name)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range gone {
				names = append(names, g.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.wantGone, ",") {
				t.Errorf("gone = %v; want %v", names, tc.wantGone)
			}
			for _, it := range items {
				want := false
				for _, n := range tc.cached {
					want = want || n == it.Name
				}
				if c.Has(it.SHA256) != want {
					t.Errorf("%s cached = %v; want %v", it.Name, c.Has(it.SHA256), want)
				}
			}
		})
	}
}

// TestFetchUsesCache: a cached item is never downloaded again, so a warm
// cache builds with the mirror unreachable.
func TestFetchUsesCache(t *testing.T) {
	data := []byte("package")
	a := &archive{files: map[string][]byte{"/pool/p.deb": data}}
	srv := httptest.NewServer(a)
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	it := item(t, srv, "p", "/pool/p.deb", data)
	if _, err := c.Fetch(context.Background(), []Item{it}, nil); err != nil {
		t.Fatal(err)
	}
	srv.Close() // the mirror is gone
	gone, err := c.Fetch(context.Background(), []Item{it}, nil)
	if err != nil || len(gone) != 0 {
		t.Fatalf("Fetch with a warm cache and no mirror = %v, %v; want nothing to do", gone, err)
	}
	if n := a.hits.Load(); n != 1 {
		t.Errorf("the archive was asked %d times; want 1", n)
	}
}

// TestRepo builds a real .deb with dpkg-deb and checks that the local
// repository's index describes it with the verified hash and that apt would
// find it by the release's name.
func TestRepo(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatal("dpkg-deb is needed (Debian's dpkg package)")
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte("Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nEssential: yes\nDescription: test\n multi-line\n"), 0o644)
	deb := filepath.Join(dir, "hello.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(deb)
	a := &archive{files: map[string][]byte{"/pool/hello.deb": data}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	c, _ := Open(filepath.Join(dir, "cache"))
	it := item(t, srv, "hello", "/pool/hello.deb", data)
	if _, err := c.Repo(context.Background(), filepath.Join(dir, "repo"), "trixie", []Item{it}); err == nil {
		t.Fatal("Repo made a repository of an item not in the cache")
	}
	if _, err := c.Fetch(context.Background(), []Item{it}, nil); err != nil {
		t.Fatal(err)
	}
	line, err := c.Repo(context.Background(), filepath.Join(dir, "repo"), "trixie", []Item{it})
	if err != nil {
		t.Fatal(err)
	}
	if want := "deb [trusted=yes] copy://" + filepath.Join(dir, "repo") + " ./"; line != want {
		t.Errorf("source line = %q; want %q", line, want)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, "repo/Packages"))
	for _, want := range []string{"Package: hello\n", "Essential: yes\n", " multi-line\n", "Filename: ./" + it.SHA256 + ".deb\n", "SHA256: " + it.SHA256 + "\n"} {
		if !strings.Contains(string(idx), want) {
			t.Errorf("Packages lacks %q:\n%s", want, idx)
		}
	}
	rel, _ := os.ReadFile(filepath.Join(dir, "repo/Release"))
	if !strings.Contains(string(rel), "Codename: trixie\n") {
		t.Errorf("Release does not name the release (mmdebstrap selects Essential packages by codename):\n%s", rel)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "repo", it.SHA256+".deb")); string(got) != string(data) {
		t.Error("the repository's .deb differs from the cached one")
	}
}

// TestFetchFirstErrorOnly: a refused download stops the others, and the
// error is the refusal, not a pile of "context canceled" that reads like
// an interrupt.
func TestFetchFirstErrorOnly(t *testing.T) {
	files := map[string][]byte{"/pool/bad.deb": []byte("tampered")}
	var items []Item
	a := &archive{files: files}
	srv := httptest.NewServer(a)
	defer srv.Close()
	items = append(items, item(t, srv, "bad", "/pool/bad.deb", []byte("original")))
	for i := 0; i < 20; i++ {
		p := "/pool/p" + string(rune('a'+i)) + ".deb"
		files[p] = []byte(p)
		items = append(items, item(t, srv, "p", p, files[p]))
	}
	c, _ := Open(t.TempDir())
	c.Parallel = 4
	_, err := c.Fetch(context.Background(), items, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing it") {
		t.Fatalf("Fetch error = %v; want the refusal", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("Fetch error wraps context.Canceled (the command would report an interrupt): %v", err)
	}
}
