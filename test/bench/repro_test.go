package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
)

// testLayout is a 16 KiB disk with two 4 KiB partitions.
func testLayout() *layout.Layout {
	return &layout.Layout{DiskSize: 16 << 10, Parts: []layout.Partition{
		{Number: 1, Label: "ESP", Start: 4 << 10, Size: 4 << 10},
		{Number: 2, Label: "ROOT", Start: 8 << 10, Size: 4 << 10},
	}}
}

func writeDisk(t *testing.T, p string, poke map[int64]byte) {
	t.Helper()
	b := make([]byte, 16<<10)
	for off, v := range poke {
		b[off] = v
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDifferingPartitions(t *testing.T) {
	tests := []struct {
		name string
		poke map[int64]byte
		want []string
	}{
		{"same bytes", nil, nil},
		{"primary GPT", map[int64]byte{512: 1}, []string{"GPT (primary)"}},
		{"root", map[int64]byte{(8 << 10) + 100: 7}, []string{"ROOT"}},
		{"esp and backup GPT", map[int64]byte{4 << 10: 1, (16 << 10) - 1: 1}, []string{"ESP", "GPT (backup)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw")
			writeDisk(t, a, nil)
			writeDisk(t, b, tc.poke)
			got, err := differingPartitions(a, b, testLayout())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("differing = %q; want %q", got, tc.want)
			}
		})
	}
}

// fakeRun makes a finished build whose disk has byte 9000 (in ROOT) set to
// v, whose work tree has etc/file with contents, and whose manifest lists
// the raw image with the given digest.
func fakeRun(t *testing.T, dir, name string, v byte, contents, digest string, keepWork bool) *buildRun {
	t.Helper()
	out := filepath.Join(dir, "out-"+name)
	os.MkdirAll(out, 0o755)
	writeDisk(t, filepath.Join(out, "img-x86_64.raw"), map[int64]byte{9000: v})
	r := &buildRun{Arch: "x86_64", Kind: kindWarm, Index: len(name), Out: out,
		Image: &manifest.Image{Name: "img", Arch: "x86_64", Layout: testLayout(), Outputs: map[string]string{"img-x86_64.raw": digest, "img-x86_64.qcow2": "q"}}}
	if keepWork {
		r.Work = filepath.Join(dir, "work-"+name)
		writeTree(t, r.Work, map[string]string{"root/etc/file": contents, "root/etc/same": "x", "usr.img": name, "vmlinuz": "k"}, nil)
		clampTimes(t, filepath.Join(r.Work, "root")) // as osbuild does; vmlinuz keeps its own time
	}
	return r
}

func clampTimes(t *testing.T, root string) {
	t.Helper()
	epoch := time.Unix(1795386921, 0)
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, epoch, epoch)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompareBuilds(t *testing.T) {
	dir := t.TempDir()
	b := fakeBench(t)
	t.Run("identical", func(t *testing.T) {
		runs := []*buildRun{fakeRun(t, dir, "a", 0, "x", "d1", false), fakeRun(t, dir, "bb", 0, "x", "d1", false)}
		res, err := b.compareBuilds(runs)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Identical || len(res.Partitions) != 0 || !strings.HasPrefix(res.verdict(), "identical: 2 builds") {
			t.Errorf("result %+v, verdict %q; want identical", res, res.verdict())
		}
	})
	t.Run("differing", func(t *testing.T) {
		runs := []*buildRun{fakeRun(t, dir, "c", 1, "one", "d1", true), fakeRun(t, dir, "dd", 2, "two", "d2", true), fakeRun(t, dir, "eee", 0, "x", "d1", false)}
		res, err := b.compareBuilds(runs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identical {
			t.Fatal("identical; want a difference")
		}
		if !slices.Equal(res.Partitions, []string{"ROOT"}) {
			t.Errorf("partitions = %q; want ROOT", res.Partitions)
		}
		if res.FilesTotal != 1 || res.Files[0].Path != "/root/etc/file" {
			t.Errorf("files = %v; want /root/etc/file only (partition images are compared as partitions)", res.Files)
		}
		if got := res.Outputs["img-x86_64.raw"]; !slices.Equal(got, []string{"d1", "d2", "d1"}) {
			t.Errorf("raw digests = %q", got)
		}
		v := res.verdict()
		for _, want := range []string{"differ: img-x86_64.raw across", "partitions ROOT", "/root/etc/file: content"} {
			if !strings.Contains(v, want) {
				t.Errorf("verdict %q lacks %q", v, want)
			}
		}
		if strings.Contains(v, "qcow2") {
			t.Errorf("verdict %q names the qcow2, whose digests agree", v)
		}
	})
}

func TestReproSkipsSingleBuild(t *testing.T) {
	b := fakeBench(t)
	b.o.Sections = []string{"build", "repro"}
	b.o.Arches = []string{"x86_64"}
	b.runs["x86_64"] = []*buildRun{fakeRun(t, t.TempDir(), "a", 0, "x", "d", false)}
	if err := b.repro(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.r.Skipped["repro.x86_64"]; !ok {
		t.Errorf("skipped = %v; want repro.x86_64 with a reason", b.r.Skipped)
	}
}
