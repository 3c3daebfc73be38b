package imagecache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGetMissThenPutThenHit(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "cache"), Keep: 2}
	dst := filepath.Join(dir, "work", "usr.img")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Get("usr-x86_64", "k1", dst); err != nil || ok {
		t.Fatalf("Get on an empty cache = %t, %v; want false, nil", ok, err)
	}
	if err := os.WriteFile(dst, []byte("image one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("usr-x86_64", "k1", dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst); err != nil {
		t.Errorf("Put moved its source away: %v", err)
	}
	other := filepath.Join(dir, "work", "again.img")
	if ok, err := c.Get("usr-x86_64", "k1", other); err != nil || !ok {
		t.Fatalf("Get after Put = %t, %v; want true, nil", ok, err)
	}
	if b, _ := os.ReadFile(other); string(b) != "image one" {
		t.Errorf("cached image reads %q; want %q", b, "image one")
	}
	if ok, _ := c.Get("usr-aarch64", "k1", other); ok {
		t.Error("an entry of one prefix was found under another")
	}
	if m, _ := filepath.Glob(filepath.Join(c.Dir, "*.partial")); len(m) != 0 {
		t.Errorf("partial entries left: %v", m)
	}
}

func TestPutPrunesLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: dir, Keep: 2}
	src := filepath.Join(t.TempDir(), "img")
	for i, key := range []string{"a", "b", "c"} {
		if err := os.WriteFile(src, []byte(key), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Put("usr-x86_64", key, src); err != nil {
			t.Fatal(err)
		}
		os.Remove(src)
		// Distinct, increasing use times; "a" is used again after "b".
		when := time.Unix(int64(1000+i*10), 0)
		os.Chtimes(c.entry("usr-x86_64", key), when, when)
		if key == "b" {
			if ok, err := c.Get("usr-x86_64", "a", filepath.Join(t.TempDir(), "x")); err != nil || !ok {
				t.Fatalf("Get a = %t, %v", ok, err)
			}
		}
	}
	// Another prefix is not pruned with this one.
	if err := os.WriteFile(src, []byte("arm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("usr-aarch64", "z", src); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"a": true, "b": false, "c": true} {
		_, err := os.Stat(c.entry("usr-x86_64", key))
		if got := err == nil; got != want {
			t.Errorf("entry %s kept = %t; want %t", key, got, want)
		}
	}
	if _, err := os.Stat(c.entry("usr-aarch64", "z")); err != nil {
		t.Errorf("aarch64 entry: %v", err)
	}
}

// TestPutSameKeyTwice: a second Put of a key (another build of the same
// tree) replaces the entry and leaves the first build's file as it was;
// the cache never writes through a link.
func TestPutSameKeyTwice(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "cache"), Keep: 2}
	first, second := filepath.Join(dir, "first.img"), filepath.Join(dir, "second.img")
	for p, body := range map[string]string{first: "first build", second: "second build"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{first, second} {
		if err := c.Put("usr-x86_64", "k", p); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(first); string(b) != "first build" {
		t.Errorf("the first build's image reads %q after the second Put; want it untouched", b)
	}
	if b, _ := os.ReadFile(c.entry("usr-x86_64", "k")); string(b) != "second build" {
		t.Errorf("entry reads %q; want the second build's", b)
	}
}
