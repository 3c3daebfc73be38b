package cachedir

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLayout(t *testing.T) {
	d := Dir("/c")
	for _, tc := range []struct{ name, got, want string }{
		{"tools", d.Tools("amd64", "k"), "/c/tools/amd64-k"},
		{"rootfs", d.Rootfs("aarch64", "k"), "/c/rootfs/aarch64-k"},
		{"images", d.Images(), "/c/images"},
		{"usr prefix", USRImagePrefix("x86_64"), "usr-x86_64"},
		{"debs", d.Debs(), "/c/debs/sha256"},
		{"apt", d.Apt("arm64"), "/c/apt/arm64"},
		{"host", d.Host("busybox-static-amd64"), "/c/host/busybox-static-amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %s, want %s", tc.got, tc.want)
			}
		})
	}
}

// TestKeyIsLineHash pins the key format: entries cached by earlier builds
// (rootfs, /usr images) are found again only while it holds.
func TestKeyIsLineHash(t *testing.T) {
	sum := sha256.Sum256([]byte("recipe-v1\nx86_64\n\n"))
	if got, want := Key("recipe-v1", "x86_64", ""), hex.EncodeToString(sum[:])[:16]; got != want {
		t.Errorf("Key = %s, want %s", got, want)
	}
	if Key("a", "b") == Key("b", "a") {
		t.Error("Key ignores the order of lines")
	}
}

func TestBeginFinish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs", "x86_64-k")
	// What an interrupted run left: an unmarked entry and a partial one.
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	os.MkdirAll(dir+".partial", 0o755)
	os.WriteFile(filepath.Join(dir+".partial", "stale"), nil, 0o644)
	if Complete(dir) {
		t.Fatal("an entry without the marker is Complete")
	}
	tmp, err := Begin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !IsPartial(tmp) || IsPartial(dir) {
		t.Errorf("IsPartial(%s), IsPartial(%s) = %t, %t, want true, false", tmp, dir, IsPartial(tmp), IsPartial(dir))
	}
	if _, err := os.Stat(filepath.Join(tmp, "stale")); !os.IsNotExist(err) {
		t.Errorf("Begin left the partial entry's content: %v", err)
	}
	os.MkdirAll(tmp, 0o755)
	os.WriteFile(filepath.Join(tmp, "made"), nil, 0o644)
	if err := Finish(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if !Complete(dir) {
		t.Error("entry not Complete after Finish")
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("the interrupted entry's content survived: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("partial entry still there after Finish: %v", err)
	}
	if err := Unmark(dir); err != nil {
		t.Fatal(err)
	}
	if Complete(dir) {
		t.Error("Complete after Unmark")
	}
	if err := Unmark(dir); err != nil {
		t.Errorf("Unmark of an unmarked tree: %v", err)
	}
}

func TestScratch(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "cache"))
	w, err := d.NewWork("container-host", "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := d.NewWork("container-host", "aarch64")
	repo, err := d.NewToolsRepo()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(w) || !filepath.IsAbs(repo) {
		t.Errorf("scratch paths %s, %s are not absolute", w, repo)
	}
	if got := d.Works("container-host", "x86_64"); !slices.Equal(got, []string{w}) {
		t.Errorf("Works = %v, want [%s] (not %s)", got, w, other)
	}
}

// TestReusableMatchesLayout checks that the warm-cache globs find the
// entries the layout names, and not another arch's.
func TestReusableMatchesLayout(t *testing.T) {
	d := Dir(t.TempDir())
	made := []string{d.Tools("amd64", "k"), d.Rootfs("x86_64", "k"), d.Rootfs("aarch64", "k"), d.Debs(), d.Apt("arm64"),
		filepath.Join(d.Images(), USRImagePrefix("x86_64")+"-k.img"), filepath.Join(d.Images(), USRImagePrefix("aarch64")+"-k.img")}
	for _, p := range made {
		os.MkdirAll(p, 0o755)
	}
	var got []string
	for _, g := range Reusable("x86_64") {
		m, _ := filepath.Glob(filepath.Join(string(d), g))
		got = append(got, m...)
	}
	want := []string{d.Rootfs("x86_64", "k"), filepath.Join(d.Images(), "usr-x86_64-k.img"), d.Tools("amd64", "k"), d.Debs(), d.Apt("arm64")}
	if !slices.Equal(got, want) {
		t.Errorf("Reusable(x86_64) finds %v, want %v", got, want)
	}
}
