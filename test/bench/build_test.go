package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/imagespec"
)

// fakeOsbuild stands in for bin/osbuild: it prints what osbuild prints
// about its caches, assembles a "rootfs" only when the cache has none
// (slowly when asked, so an abort is visible), keeps a work directory when
// asked, and writes a manifest with two steps and a one-byte image.
const fakeOsbuild = `#!/bin/sh
out= arch= cache= keep=
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift ;;
	--arch) arch=$2; shift ;;
	--cache) cache=$2; shift ;;
	--keep-work) keep=1 ;;
	esac
	shift
done
echo "osbuild: building img for $arch"
echo "==> [1/2] tools: native tool root"
if [ -d "$cache/tools/t" ]; then echo "    tools: native tool root: reusing tool root $cache/tools/t"; else mkdir -p "$cache/tools/t"; fi
echo "==> [2/2] rootfs: install packages"
if [ -d "$cache/rootfs/$arch" ]; then
	echo "    rootfs: install packages: reusing cached rootfs $cache/rootfs/$arch"
else
	echo "    rootfs: install packages: checking 3 locked versions against the mirror"
	mkdir -p "$cache/rootfs/$arch"
fi
[ -n "$FAKE_FAIL" ] && { echo "E: something broke"; exit 1; }
if [ -f "$cache/images/usr-$arch.img" ]; then
	echo "    usr: EROFS image: reusing cached /usr image usr-$arch (tree unchanged)"
else
	mkdir -p "$cache/images" && : > "$cache/images/usr-$arch.img"
fi
[ -n "$keep" ] && mkdir -p "$cache/work-img-$arch-$$/root/etc" && echo "${FAKE_SHA:-abc}" > "$cache/work-img-$arch-$$/root/etc/file"
mkdir -p "$out"
printf 'x' > "$out/img-$arch.raw"
printf '{"images": {"img-%s": {"name": "img", "arch": "%s", "usrBytes": 4096, "steps": [{"step": "tools: native tool root", "elapsedNs": 1000000000}, {"step": "rootfs: install packages", "elapsedNs": 2500000000}], "outputs": {"img-%s.raw": "%s"}}}}\n' "$arch" "$arch" "$arch" "${FAKE_SHA:-abc}" > "$out/manifest.json"
echo "osbuild: built $out/img-$arch.raw in 1s"
`

func fakeBench(t *testing.T) *bench {
	t.Helper()
	dir := t.TempDir()
	osb := filepath.Join(dir, "osbuild")
	if err := os.WriteFile(osb, []byte(fakeOsbuild), 0o755); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "repo")
	writeTree(t, repo, map[string]string{"images/img.yaml": "spec", "overlays/base/etc/systemd/network/50-wired.network": "[Network]\nDHCP=yes\n", "overlays/base/etc/a.json": "{}"}, nil)
	cache := filepath.Join(dir, "cache")
	writeTree(t, cache, map[string]string{"debs/sha256/0123abcd.deb": "deb"}, nil)
	o, err := parseFlags([]string{"-cache", cache, "-work", filepath.Join(dir, "work"), "-osbuild", osb, "-spec", filepath.Join(dir, "src/images/img.yaml")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(o.Work, 0o755)
	spec := &imagespec.Spec{Name: "img", Dir: filepath.Join(dir, "src"), Overlays: []string{"base"}}
	return &bench{o: o, r: NewReport(time.Now()), w: io.Discard, spec: spec, repo: repo,
		runs: map[string][]*buildRun{}, images: map[string]string{}, caches: map[string]string{}}
}

func TestRunBuild(t *testing.T) {
	ctx := context.Background()
	b := fakeBench(t)
	cache := filepath.Join(b.o.Work, "c")
	cold, err := b.runBuild(ctx, buildOptions{arch: "x86_64", kind: kindCold, index: 1, cache: cache, keepWork: true})
	if err != nil {
		t.Fatal(err)
	}
	if cold.RootfsReused || cold.ToolsReused {
		t.Errorf("cold build reused rootfs %v, tools %v; want neither", cold.RootfsReused, cold.ToolsReused)
	}
	if len(cold.Steps) != 2 || stepKey(cold.Steps[1].Step) != "rootfs" || cold.Steps[1].Elapsed != 2500*time.Millisecond {
		t.Errorf("steps = %+v; want the manifest's two", cold.Steps)
	}
	if cold.PeakRSS <= 0 || cold.Elapsed <= 0 {
		t.Errorf("peak RSS %d, elapsed %s; want both measured", cold.PeakRSS, cold.Elapsed)
	}
	if cold.Work == "" || !strings.HasPrefix(filepath.Base(cold.Work), "work-img-x86_64-") {
		t.Errorf("kept work directory = %q", cold.Work)
	}
	if cold.Sizes.USR != 4096 || cold.Sizes.Raw != 1 {
		t.Errorf("sizes = %+v; want usr 4096, raw 1", cold.Sizes)
	}
	warm, err := b.runBuild(ctx, buildOptions{arch: "x86_64", kind: kindWarm, index: 1, cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !warm.RootfsReused || !warm.ToolsReused || warm.Work != "" {
		t.Errorf("warm build: rootfs reused %v, tools %v, work %q; want reused, reused, none", warm.RootfsReused, warm.ToolsReused, warm.Work)
	}
	log, _ := os.ReadFile(warm.Log)
	if !strings.Contains(string(log), "reusing cached rootfs") {
		t.Errorf("the log does not keep osbuild's output:\n%s", log)
	}
}

func TestRunBuildFailure(t *testing.T) {
	b := fakeBench(t)
	t.Setenv("FAKE_FAIL", "1")
	_, err := b.runBuild(context.Background(), buildOptions{arch: "x86_64", kind: kindCold, index: 1, cache: filepath.Join(b.o.Work, "c")})
	if err == nil || !strings.Contains(err.Error(), "log: ") {
		t.Errorf("err = %v; want a failure naming the log", err)
	}
}

// TestBuildArch runs the build section's x86_64 sequence against the fake
// osbuild: two cold builds in fresh caches seeded with the local .debs,
// two warm ones in the last cold cache, one incremental after an overlay
// change; then the reproducibility and image sections over them.
func TestBuildArch(t *testing.T) {
	b := fakeBench(t)
	b.o.Runs = Runs{Cold: 2, Warm: 2, Incremental: 1}
	b.o.Sections = []string{"build", "repro"}
	b.o.Arches = []string{"x86_64"}
	overlay := filepath.Join(b.repo, "overlays/base/etc/systemd/network/50-wired.network")
	before, _ := os.ReadFile(overlay)
	if err := b.buildArch(context.Background(), "x86_64"); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range b.runs["x86_64"] {
		names = append(names, r.Name())
	}
	if want := []string{"cold#1", "cold#2", "warm#1", "warm#2", "incremental#1"}; !slices.Equal(names, want) {
		t.Errorf("runs = %v; want %v", names, want)
	}
	for _, k := range []string{"build.x86_64.cold.total_s", "build.x86_64.cold.step.rootfs_s", "build.x86_64.warm.peak_rss_bytes", "build.x86_64.incremental.step.tools_s"} {
		if s := b.r.Metrics[k]; s.N == 0 {
			t.Errorf("no figure %s", k)
		}
	}
	if s := b.r.Metrics["build.x86_64.cold.step.rootfs_s"]; s.Median != 2.5 || s.N != 2 {
		t.Errorf("cold rootfs step = %+v; want 2.5 s from the manifests, n 2", s)
	}
	if got := b.r.Facts["build.x86_64.warm.caches"]; got != "2 run(s); rootfs reused in 2, tool root reused in 2, /usr image reused in 2" {
		t.Errorf("warm caches fact = %q", got)
	}
	if got := b.r.Facts["build.x86_64.incremental.changed"]; got != "overlays/base/etc/systemd/network/50-wired.network" {
		t.Errorf("incremental changed %q; want the first overlay file that takes comments", got)
	}
	if after, _ := os.ReadFile(overlay); string(after) != string(before) {
		t.Errorf("the overlay file was not put back: %q", after)
	}
	if !exists(filepath.Join(b.o.Work, "cache-x86_64-cold-2/debs/sha256/0123abcd.deb")) {
		t.Error("the cold cache was not seeded with the local .debs")
	}
	if exists(filepath.Join(b.o.Work, "cache-x86_64-cold-1")) {
		t.Error("the first cold cache was left behind")
	}
	kept := 0
	for _, r := range b.runs["x86_64"] {
		if r.Work != "" {
			kept++
			if r.Name() != "cold#2" && r.Name() != "warm#1" {
				t.Errorf("%s kept its work tree; want only cold#2 and warm#1", r.Name())
			}
			if !exists(r.Out) {
				t.Errorf("%s's output is gone before the reproducibility check", r.Name())
			}
		} else if r.Raw() != b.images["x86_64"] && exists(r.Out) {
			t.Errorf("%s's output %s was left behind", r.Name(), r.Out)
		}
	}
	if kept != 2 {
		t.Errorf("%d work trees kept; want 2", kept)
	}
	if img := b.images["x86_64"]; !strings.Contains(img, "out-x86_64-warm-2") {
		t.Errorf("image for later sections = %q; want the last warm build's", img)
	}
	if err := b.repro(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := b.r.Facts["repro.x86_64.verdict"]; !strings.HasPrefix(v, "identical: 4 builds (cold#1, cold#2, warm#1, warm#2)") {
		t.Errorf("verdict %q", v)
	}
	for _, r := range b.runs["x86_64"] {
		if r.Work != "" && exists(r.Work) {
			t.Errorf("%s's work tree %s was left after the reproducibility check", r.Name(), r.Work)
		}
	}
	if err := b.imageSizes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := b.r.Metrics["image.x86_64.usr_bytes"]; s.N != 4 || s.Median != 4096 {
		t.Errorf("usr bytes = %+v; want 4096 over the 4 builds of the unchanged tree", s)
	}
}

// TestBuildArchWarmFromLocalCache: with no cold builds the warm builds use
// a cache linked from the local one; when that has no rootfs, the first
// build is cold and counted so, for the host's arch and for aarch64 (whose
// cold build under qemu-user the plan announces instead of skipping it).
func TestBuildArchWarmFromLocalCache(t *testing.T) {
	for _, a := range []string{"x86_64", "aarch64"} {
		t.Run(a, func(t *testing.T) {
			b := fakeBench(t)
			b.o.Runs = Runs{Warm: 2, A64Warm: 2}
			b.o.Sections = []string{"build"}
			if err := b.buildArch(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range b.runs[a] {
				names = append(names, r.Name())
			}
			if want := []string{"cold#1", "warm#1", "warm#2"}; !slices.Equal(names, want) {
				t.Errorf("runs = %v; want %v", names, want)
			}
			if len(b.r.Notes) != 1 || !strings.Contains(b.r.Notes[0], "counted as cold") {
				t.Errorf("notes = %q; want one saying the first build was cold", b.r.Notes)
			}
			if got := b.r.Facts["build."+a+".warm.caches"]; !strings.Contains(got, "/usr image reused in 2") {
				t.Errorf("warm caches fact = %q; want both warm runs to reuse the /usr image the cold one made", got)
			}
		})
	}
}

func TestSeedWarmLinks(t *testing.T) {
	b := fakeBench(t)
	writeTree(t, b.o.Cache, map[string]string{"rootfs/x86_64-abc/usr/bin/sh": "sh", "rootfs/x86_64-abc/.bulwark-complete": "",
		"rootfs/aarch64-def/usr/bin/sh": "sh", "rootfs/x86_64-zzz.partial/x": "", "tools/amd64-1/.bulwark-complete": "",
		"images/usr-x86_64-k1.img": "img", "images/usr-aarch64-k2.img": "img"}, nil)
	c := filepath.Join(b.o.Work, "warm")
	if err := b.seedWarm(c, "x86_64"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"rootfs/x86_64-abc/usr/bin/sh": true, "rootfs/aarch64-def": false, "rootfs/x86_64-zzz.partial": false,
		"tools/amd64-1/.bulwark-complete": true, "debs/sha256/0123abcd.deb": true,
		"images/usr-x86_64-k1.img": true, "images/usr-aarch64-k2.img": false} {
		if got := exists(filepath.Join(c, p)); got != want {
			t.Errorf("%s in the warm cache: %v; want %v", p, got, want)
		}
	}
	a, _ := os.Stat(filepath.Join(b.o.Cache, "rootfs/x86_64-abc/usr/bin/sh"))
	l, _ := os.Stat(filepath.Join(c, "rootfs/x86_64-abc/usr/bin/sh"))
	if !os.SameFile(a, l) {
		t.Error("the rootfs was copied, not hard-linked")
	}
}
