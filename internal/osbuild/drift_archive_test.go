//go:build archive

// Tests against Debian's real archive (network): a lock that pins a version
// the archive no longer has, built strictly and with refresh. Run with
// `go test -tags archive ./internal/osbuild/` (make test-root does).
package osbuild

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
)

const driftSpec = `apiVersion: bulwark.dev/v1alpha1
kind: ImageSpec
name: drift
debian:
  release: trixie
  components: [main]
  suites:
    - {name: trixie, mirror: http://deb.debian.org/debian}
    - {name: trixie-updates, mirror: http://deb.debian.org/debian}
    - {name: trixie-security, mirror: http://deb.debian.org/debian-security}
architectures: [x86_64]
packages:
  all: [hello]
selinux: {policy: default, mode: enforcing}
disk: {size: 4GiB, esp: 128MiB, usr: 1GiB, usrVerity: 16MiB, oem: 32MiB}
outputs: [raw]
`

func TestLockDrift(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	spec := filepath.Join(dir, "images/drift.yaml")
	if err := os.WriteFile(spec, []byte(driftSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	ctx := context.Background()
	var out bytes.Buffer
	fresh, err := Lock(ctx, LockOptions{SpecPath: spec, CacheDir: cache, Stdout: &out})
	if err != nil {
		t.Fatalf("lock: %v\n%s", err, out.String())
	}
	real := fresh.Architectures["x86_64"].Packages["hello"]
	if real.Suite == "" || len(real.SHA256) != 64 || !strings.HasPrefix(real.Path, "pool/main/h/hello/") {
		t.Fatalf("locked hello = %+v; want a suite, a SHA256 and a pool path", real)
	}
	// The archive moves: the lock now pins a hello that is nowhere, as a
	// lock written before a point release does.
	stale := *fresh
	stale.Architectures = map[string]imagespec.ArchPackages{"x86_64": {Packages: map[string]imagespec.Package{}}}
	for n, p := range fresh.Architectures["x86_64"].Packages {
		stale.Architectures["x86_64"].Packages[n] = p
	}
	gone := real
	gone.Version = "2.9-0~gone"
	gone.Path = "pool/main/h/hello/hello_2.9-0~gone_amd64.deb"
	gone.SHA256 = strings.Repeat("0", 64)
	stale.Architectures["x86_64"].Packages["hello"] = gone
	b, err := stale.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lockPath := imagespec.LockPath(spec)
	if err := os.WriteFile(lockPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("strict fails naming the package and keeps the lock", func(t *testing.T) {
		out.Reset()
		err := Fetch(ctx, FetchOptions{SpecPath: spec, CacheDir: cache, Lock: LockStrict, Stdout: &out})
		if err == nil {
			t.Fatal("strict fetch of a stale lock succeeded")
		}
		for _, want := range []string{lockPath, "hello=2.9-0~gone (trixie)", "neither in the archive nor in the package cache", "osbuild lock " + spec} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\ndoes not say %q", err, want)
			}
		}
		if now, _ := os.ReadFile(lockPath); !bytes.Equal(now, b) {
			t.Error("a strict fetch changed the lock")
		}
	})
	t.Run("refresh relocks, says what moved and fetches", func(t *testing.T) {
		out.Reset()
		if err := Fetch(ctx, FetchOptions{SpecPath: spec, CacheDir: cache, Lock: LockRefresh, Stdout: &out}); err != nil {
			t.Fatalf("refresh fetch: %v\n%s", err, out.String())
		}
		want := "x86_64: hello 2.9-0~gone → " + real.Version + " (" + real.Suite
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not show the move %q:\n%s", want, out.String())
		}
		s, _ := imagespec.Load(spec)
		l, err := imagespec.LoadLock(lockPath, s, s.Architectures)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Architectures["x86_64"].Packages["hello"]; got != real {
			t.Errorf("relocked hello = %+v; want %+v", got, real)
		}
		if _, err := os.Stat(filepath.Join(cachedir.Dir(cache).Debs(), real.SHA256+".deb")); err != nil {
			t.Errorf("hello is not in the package cache after the fetch: %v", err)
		}
	})
	t.Run("lock --check finds nothing newer after the refresh", func(t *testing.T) {
		outdated, err := CheckLock(ctx, LockOptions{SpecPath: spec, CacheDir: cache, Stdout: &out})
		if err != nil || len(outdated) != 0 {
			t.Errorf("CheckLock = %v, %v; want nothing outdated", outdated, err)
		}
	})
}
