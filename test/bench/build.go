package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/progress"
)

// buildRun is one finished `osbuild build`.
type buildRun struct {
	Arch, Kind string
	Index      int
	Elapsed    time.Duration
	PeakRSS    int64 // largest resident set of any process of the build
	Steps      []progress.Timing
	Out        string // output directory
	Image      *manifest.Image
	Work       string // the kept work directory, if asked for
	Cache      string
	// What the build reused, from its own output: a "warm" build that
	// rebuilt its rootfs is not warm.
	RootfsReused, ToolsReused bool
	// UsrReused: osbuild found the /usr EROFS image of an identical tree
	// in its cache and did not compress /usr again.
	UsrReused bool
	Log       string
	Sizes     imageSize
}

// Name is how the report refers to the run: cold#1, warm#2.
func (r *buildRun) Name() string { return fmt.Sprintf("%s#%d", r.Kind, r.Index) }

// Raw is the run's disk image.
func (r *buildRun) Raw() string {
	return filepath.Join(r.Out, r.Image.Name+"-"+r.Arch+".raw")
}

// buildOptions configure one timed build.
type buildOptions struct {
	arch, kind string
	index      int
	cache      string
	keepWork   bool
	goCache    string // GOCACHE for the build, "" for the host's
}

// runBuild runs osbuild as a child process, so that its time and peak
// memory are its own; the per-step split comes from the manifest osbuild
// writes, not from timing it again.
func (b *bench) runBuild(ctx context.Context, bo buildOptions) (*buildRun, error) {
	r := &buildRun{Arch: bo.arch, Kind: bo.kind, Index: bo.index, Cache: bo.cache,
		Out: filepath.Join(b.o.Work, fmt.Sprintf("out-%s-%s-%d", bo.arch, bo.kind, bo.index))}
	r.Log = r.Out + ".log"
	os.RemoveAll(r.Out)
	before := workDirs(bo.cache, b.spec.Name, bo.arch)
	args := []string{"build", b.repoSpec(), "--arch", bo.arch, "--out", r.Out, "--cache", bo.cache}
	if bo.keepWork {
		args = append(args, "--keep-work")
	}
	cmd := exec.CommandContext(ctx, b.o.Osbuild, args...)
	// An interrupt lets osbuild remove its work directory and partial outputs.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	cmd.Env = os.Environ()
	if bo.goCache != "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+bo.goCache)
	}
	logf, err := os.Create(r.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	fmt.Fprintf(b.w, "bench: osbuild build --arch %s (%s, cache %s); log: %s\n", bo.arch, r.Name(), bo.cache, r.Log)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("starting %s: %w", b.o.Osbuild, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			l := sc.Text()
			fmt.Fprintln(logf, l)
			switch {
			case strings.HasPrefix(l, "==> "), strings.HasPrefix(l, "osbuild: built"):
				fmt.Fprintf(b.w, "    %s\n", l)
			case strings.Contains(l, "reusing cached rootfs"):
				r.RootfsReused = true
			case strings.Contains(l, "reusing tool root"):
				r.ToolsReused = true
			case strings.Contains(l, "reusing cached /usr image"):
				r.UsrReused = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	r.Elapsed = time.Since(start)
	pw.Close()
	<-done
	if err != nil {
		return nil, fmt.Errorf("osbuild build --arch %s failed after %s (log: %s): %w", bo.arch, r.Elapsed.Round(time.Second), r.Log, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	if r.Image, err = manifest.ForImage(filepath.Join(r.Out, b.spec.Name+"-"+bo.arch+".raw")); err != nil {
		return nil, err
	}
	r.Steps = r.Image.Steps
	if r.Sizes, err = measureImage(r.Raw()); err != nil {
		return nil, err
	}
	if bo.keepWork {
		for _, d := range workDirs(bo.cache, b.spec.Name, bo.arch) {
			if !slices.Contains(before, d) {
				r.Work = d
			}
		}
	}
	fmt.Fprintf(b.w, "bench: %s %s: %s, peak RSS %s (rootfs reused: %t, tool root reused: %t, /usr image reused: %t)\n",
		bo.arch, r.Name(), r.Elapsed.Round(100*time.Millisecond), progress.Bytes(r.PeakRSS), r.RootfsReused, r.ToolsReused, r.UsrReused)
	return r, nil
}

// workDirs lists osbuild's work directories in cache for name and arch.
func workDirs(cache, name, a string) []string { return cachedir.Dir(cache).Works(name, a) }

// builds is the build section: per arch, cold, warm and incremental builds.
func (b *bench) builds(ctx context.Context) error {
	if err := b.ensureRepoCopy(); err != nil {
		return err
	}
	var errs []error
	for _, a := range b.o.Arches {
		if err := b.buildArch(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

func (b *bench) buildArch(ctx context.Context, a string) error {
	host, err := arch.Host()
	if err != nil {
		return err
	}
	if _, err := arch.Lookup(a); err != nil {
		return err
	}
	foreign := a != host.Name
	cold, warm, incr := b.o.Runs.Cold, b.o.Runs.Warm, b.o.Runs.Incremental
	if foreign {
		warm, incr = b.o.Runs.A64Warm, 0
		if !b.o.Aarch64Cold {
			cold = 0
		}
	}
	if !b.o.Selected("build") { // repro alone: two warm builds to compare
		cold, warm, incr = 0, 2, 0
	}
	repro := b.o.Selected("repro")
	var runs []*buildRun
	cache := ""
	for i := 1; i <= cold; i++ {
		c := filepath.Join(b.o.Work, fmt.Sprintf("cache-%s-cold-%d", a, i))
		if err := b.seedCold(c); err != nil {
			return err
		}
		bo := buildOptions{arch: a, kind: kindCold, index: i, cache: c, keepWork: repro && i == cold}
		if b.o.ColdGoCache {
			bo.goCache = filepath.Join(c, "gocache")
		}
		r, err := b.runBuild(ctx, bo)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		if cache != "" {
			os.RemoveAll(cache) // the previous cold cache; the last one serves the warm builds
		}
		cache = c
	}
	if cache == "" {
		cache = filepath.Join(b.o.Work, "cache-"+a+"-warm")
		if err := b.seedWarm(cache, a); err != nil {
			return err
		}
	}
	b.caches[a] = cache
	for i, extra := 1, 0; i <= warm+extra; i++ {
		keep := repro && ((cold > 0 && i == 1) || (cold == 0 && i <= 2))
		// Without a cached rootfs for this lock (an aarch64 cache that
		// never built it) the first run is cold; the plan said so.
		r, err := b.runBuild(ctx, buildOptions{arch: a, kind: kindWarm, index: i - extra, cache: cache, keepWork: keep})
		if err != nil {
			return err
		}
		if !r.RootfsReused {
			// The local cache had no rootfs for this lock: this run was cold.
			r.Kind, r.Index = kindCold, 1+count(runs, kindCold)
			b.r.Note(b.w, "%s: the first warm build found no cached rootfs for this lock and is counted as cold (tool root reused: %t)", a, r.ToolsReused)
			extra++
		}
		runs = append(runs, r)
	}
	if incr > 0 {
		if err := b.incrementalBuilds(ctx, a, cache, incr, &runs); err != nil {
			return err
		}
	}
	b.runs[a] = runs
	for _, k := range []string{kindCold, kindWarm, kindIncremental} {
		b.recordBuilds(a, k, runs)
	}
	// The newest build of the unchanged tree is the image the later sections use.
	for _, r := range slices.Backward(runs) {
		if r.Kind != kindIncremental {
			b.images[a] = r.Raw()
			break
		}
	}
	for _, r := range runs {
		if r.Raw() != b.images[a] && (r.Work == "" || r.Kind == kindIncremental) {
			os.RemoveAll(r.Out)
		}
	}
	return nil
}

func count(runs []*buildRun, kind string) int {
	n := 0
	for _, r := range runs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// incrementalBuilds change one overlay file in the repo copy before each
// build (a comment line, so the image still works) and put it back after.
func (b *bench) incrementalBuilds(ctx context.Context, a, cache string, n int, runs *[]*buildRun) error {
	file, err := b.overlayFileToTouch()
	if err != nil {
		b.r.Skip(b.w, "build."+a+".incremental", err.Error())
		return nil
	}
	orig, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	defer os.WriteFile(file, orig, 0o644)
	rel, _ := filepath.Rel(b.repo, file)
	b.r.Facts[buildKey(a, kindIncremental, "changed")] = rel
	for i := 1; i <= n; i++ {
		changed := fmt.Sprintf("%s# bench: incremental build %d at %s\n", orig, i, time.Now().UTC().Format(time.RFC3339Nano))
		if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
			return err
		}
		r, err := b.runBuild(ctx, buildOptions{arch: a, kind: kindIncremental, index: i, cache: cache})
		if err != nil {
			return err
		}
		*runs = append(*runs, r)
	}
	return nil
}

// overlayFileToTouch picks the first overlay file (in path order) whose
// format takes '#' comments: systemd units, .network and .conf files.
func (b *bench) overlayFileToTouch() (string, error) {
	for _, ov := range b.spec.Overlays {
		var found string
		root := filepath.Join(b.repo, "overlays", ov)
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || found != "" || !d.Type().IsRegular() {
				return err
			}
			switch filepath.Ext(p) {
			case ".network", ".conf", ".service":
				found = p
			}
			return nil
		})
		if found != "" {
			return found, nil
		}
	}
	return "", errors.New("no overlay file that takes '#' comments (.network, .conf, .service) to change")
}

// recordBuilds adds the figures of the runs of one kind.
func (b *bench) recordBuilds(a, kind string, runs []*buildRun) {
	var total []time.Duration
	var rss []float64
	steps := map[string][]time.Duration{}
	var order []string
	reused := map[string]int{}
	n := 0
	for _, r := range runs {
		if r.Kind != kind {
			continue
		}
		n++
		total = append(total, r.Elapsed)
		rss = append(rss, float64(r.PeakRSS))
		for _, s := range r.Steps {
			k := stepKey(s.Step)
			if _, ok := steps[k]; !ok {
				order = append(order, k)
			}
			steps[k] = append(steps[k], s.Elapsed)
		}
		if r.RootfsReused {
			reused["rootfs"]++
		}
		if r.ToolsReused {
			reused["tool root"]++
		}
		if r.UsrReused {
			reused["usr"]++
		}
	}
	if n == 0 {
		return
	}
	b.r.Add(buildKey(a, kind, "total_s"), unitSeconds, seconds(total...))
	for _, k := range order {
		b.r.Add(buildKey(a, kind, "step."+k+"_s"), unitSeconds, seconds(steps[k]...))
	}
	b.r.Add(buildKey(a, kind, "peak_rss_bytes"), unitBytes, rss)
	b.r.Facts[buildKey(a, kind, "caches")] = fmt.Sprintf("%d run(s); rootfs reused in %d, tool root reused in %d, /usr image reused in %d", n, reused["rootfs"], reused["tool root"], reused["usr"])
}

// repoSpec is the spec's path inside the repo copy.
func (b *bench) repoSpec() string {
	rel, err := filepath.Rel(b.spec.Dir, b.o.Spec)
	if err != nil {
		return b.o.Spec
	}
	return filepath.Join(b.repo, rel)
}

// ensureRepoCopy copies the repository (without .git, caches and outputs)
// into the scratch directory once: builds read the spec, lock, overlays,
// units, policies and the Go sources of goBinaries from it.
func (b *bench) ensureRepoCopy() error {
	if b.repo != "" {
		return nil
	}
	dst := filepath.Join(b.o.Work, "repo")
	os.RemoveAll(dst)
	skip := []string{".git", ".cache", "out", "bin", ".ci"}
	if err := copyTree(b.spec.Dir, dst, func(rel string) bool {
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		return slices.Contains(skip, top) || strings.HasPrefix(filepath.Join(b.spec.Dir, rel), b.o.Work)
	}); err != nil {
		return fmt.Errorf("copying the repository: %w", err)
	}
	if _, err := imagespec.Load(filepath.Join(dst, mustRel(b.spec.Dir, b.o.Spec))); err != nil {
		return fmt.Errorf("the repo copy's spec: %w", err)
	}
	b.repo = dst
	return nil
}

func mustRel(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return r
}

// seedCold makes an empty osbuild cache, with the .debs hard-linked from
// the local cache unless -cold-network.
func (b *bench) seedCold(cache string) error {
	os.RemoveAll(cache)
	dst := cachedir.Dir(cache).Debs()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	src := cachedir.Dir(b.o.Cache).Debs()
	if b.o.ColdNetwork || !exists(src) {
		return nil
	}
	return linkInto(filepath.Dir(dst), src)
}

// seedWarm makes an osbuild cache from the local one by hard links: the
// arch's rootfs trees and /usr images, the tool roots, the .debs and apt
// lists. osbuild only ever copies a cached rootfs and only reads a cached
// image, so the links are never written through.
func (b *bench) seedWarm(cache, a string) error {
	os.RemoveAll(cache)
	var errs []error
	for _, pattern := range cachedir.Reusable(a) {
		m, _ := filepath.Glob(filepath.Join(b.o.Cache, pattern))
		m = slices.DeleteFunc(m, cachedir.IsPartial)
		if len(m) == 0 {
			continue
		}
		sub := filepath.Join(cache, filepath.Dir(pattern))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		errs = append(errs, linkInto(sub, m...))
	}
	return errors.Join(errs...)
}

// linkInto hard-links the trees srcs into dir (cp -al), falling back to a
// copy across filesystems.
func linkInto(dir string, srcs ...string) error {
	args := append(append([]string{"-al"}, srcs...), dir+"/")
	out, err := exec.Command("cp", args...).CombinedOutput()
	if err == nil {
		return nil
	}
	if !strings.Contains(string(out), "cross-device") {
		return fmt.Errorf("cp -al into %s: %v: %s", dir, err, out)
	}
	args[0] = "-a"
	if out, err := exec.Command("cp", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a into %s: %v: %s", dir, err, out)
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
