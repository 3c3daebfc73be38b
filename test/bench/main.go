// Command bench measures Bulwark against what a user would otherwise use,
// in one run: osbuild's cold, warm and incremental builds (per step, with
// peak memory), its /usr writer against mksquashfs and mkfs.erofs, image
// sizes, boot time against a plain Debian image with the same kernel,
// nodecfg's first boot against Debian's Ignition, and whether two builds
// give the same bytes. It prints a table and writes out/bench.json; see
// test/bench/README.md for the schema and `make bench` for the defaults.
//
//	go run ./test/bench -only usrfs,firstboot -runs 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild"
)

const (
	exitOK     = 0
	exitFailed = 1 // a section failed; the report was still written
	exitUsage  = 2
)

// Options is the parsed command line.
type Options struct {
	Sections     []string `json:"sections"`
	Arches       []string `json:"arches"`
	Runs         Runs     `json:"runs"`
	Writers      []string `json:"usrfsWriters"`
	Aarch64Cold  bool     `json:"aarch64Cold"`
	PlainAarch64 bool     `json:"plainAarch64"`
	ColdNetwork  bool     `json:"coldNetwork"`
	ColdGoCache  bool     `json:"coldGoCache"`
	Spec         string   `json:"spec"`
	Cache        string   `json:"cache"`
	Work         string   `json:"work"`
	Images       string   `json:"images"`
	// Before is a directory with an earlier build's images (a checkout of
	// the commit before a change, `make image`): the boot section boots
	// them beside this build's, alternately, for a before/after ratio
	// measured in one run.
	Before   string        `json:"before,omitempty"`
	Osbuild  string        `json:"osbuild"`
	Nodecfg  string        `json:"nodecfg"`
	Ignition string        `json:"ignitionConfig"`
	PKI      string        `json:"pki"`
	Usr      string        `json:"usr"`
	Budget   time.Duration `json:"budgetNs"`
	JSON     string        `json:"-"`
	Markdown string        `json:"-"`
	Baseline string        `json:"-"`
	Keep     bool          `json:"-"`
	PlanOnly bool          `json:"-"`
}

// Settings is what the report records of the options.
type Settings = Options

// Selected reports whether section s runs.
func (o *Options) Selected(s string) bool { return slices.Contains(o.Sections, s) }

var allWriters = []string{"ours", "erofs", "erofs-lz4hc", "squashfs-gzip", "squashfs-zstd", "squashfs-xz"}

// defaultWriters leave out squashfs-xz: the smallest, but about 3 minutes
// a run on the full /usr here (-usrfs-writers adds it).
var defaultWriters = []string{"ours", "erofs", "erofs-lz4hc", "squashfs-gzip", "squashfs-zstd"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Options{}
	only := fs.String("only", strings.Join(sections, ","), "sections to run: "+strings.Join(sections, ","))
	skip := fs.String("skip", "", "sections to leave out")
	arches := fs.String("arch", "x86_64,aarch64", "architectures to build and boot")
	writers := fs.String("usrfs-writers", strings.Join(defaultWriters, ","), "/usr writers to compare: "+strings.Join(allWriters, ","))
	all := fs.Int("runs", 0, "runs of every figure (overrides the per-figure defaults unless those flags are given)")
	r := defaultRuns
	fs.IntVar(&r.Cold, "cold-runs", r.Cold, "cold builds")
	fs.IntVar(&r.Warm, "warm-runs", r.Warm, "x86_64 warm builds")
	fs.IntVar(&r.Incremental, "incremental-runs", r.Incremental, "x86_64 builds after an overlay change")
	fs.IntVar(&r.A64Warm, "aarch64-warm-runs", r.A64Warm, "aarch64 warm builds")
	fs.IntVar(&r.Usrfs, "usrfs-runs", r.Usrfs, "rounds of the /usr writers")
	fs.IntVar(&r.Boot, "boot-runs", r.Boot, "x86_64 boots of each image")
	fs.IntVar(&r.A64Boot, "aarch64-boot-runs", r.A64Boot, "aarch64 boots of each image")
	fs.IntVar(&r.Firstboot, "firstboot-runs", r.Firstboot, "rounds of nodecfg and ignition")
	fs.IntVar(&r.MkosiCold, "mkosi-cold-runs", r.MkosiCold, "x86_64 mkosi builds with empty caches")
	fs.IntVar(&r.MkosiWarm, "mkosi-warm-runs", r.MkosiWarm, "x86_64 mkosi builds reusing the caches")
	fs.BoolVar(&o.Aarch64Cold, "aarch64-cold", false, "also time cold aarch64 builds (~6 min each, packages configured under qemu-user)")
	fs.BoolVar(&o.PlainAarch64, "plain-aarch64", false, "also build and boot a plain aarch64 Debian image (~8.5 min under qemu-user)")
	fs.BoolVar(&o.ColdNetwork, "cold-network", false, "cold builds download every .deb instead of taking them from the local cache")
	fs.BoolVar(&o.ColdGoCache, "cold-gocache", false, "cold builds also start with an empty Go build cache")
	fs.StringVar(&o.Spec, "spec", "images/container-host.yaml", "image spec")
	fs.StringVar(&o.Cache, "cache", ".cache", "osbuild's cache (read; seeds the bench's own caches)")
	fs.StringVar(&o.Work, "work", "", "scratch directory (default CACHE/bench-work; same filesystem as CACHE so seeding is by hard links)")
	fs.StringVar(&o.Images, "images", "out", "where the boot and image sections find images when the build section does not run")
	fs.StringVar(&o.Before, "before", "", "an earlier build's image directory: its images boot beside this build's, alternately (boot.<arch>.before.*, <milestone>.bulwark_over_before)")
	fs.StringVar(&o.Osbuild, "osbuild", "bin/osbuild", "osbuild binary")
	fs.StringVar(&o.Nodecfg, "nodecfg", "bin/nodecfg", "nodecfg binary")
	fs.StringVar(&o.Ignition, "ignition", "out/example.ign", "Ignition config for first boot and boot (make example-node)")
	fs.StringVar(&o.PKI, "pki", "nodes/example-pki", "certificates of the example node (TLS client for the dockerd check)")
	fs.StringVar(&o.Usr, "usr", "", "/usr tree for the usrfs section (default: the newest cached x86_64 rootfs's usr)")
	fs.DurationVar(&o.Budget, "budget", 45*time.Minute, "time budget the plan is checked against")
	fs.StringVar(&o.JSON, "json", "out/bench.json", "where to write the report")
	fs.StringVar(&o.Markdown, "markdown", "out/bench.md", "where to write the Markdown table (for README.md)")
	fs.StringVar(&o.Baseline, "baseline", "", "an earlier bench.json to compare against")
	fs.BoolVar(&o.Keep, "keep", false, "keep the scratch directory")
	fs.BoolVar(&o.PlanOnly, "plan", false, "print the plan and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.Sections, err = parseList(*only, sections); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	skipped, err := parseList(*skip, sections)
	if err != nil {
		return nil, fmt.Errorf("-skip: %w", err)
	}
	o.Sections = slices.DeleteFunc(o.Sections, func(s string) bool { return slices.Contains(skipped, s) })
	if o.Arches, err = parseList(*arches, []string{"x86_64", "aarch64"}); err != nil {
		return nil, fmt.Errorf("-arch: %w", err)
	}
	if o.Writers, err = parseList(*writers, allWriters); err != nil {
		return nil, fmt.Errorf("-usrfs-writers: %w", err)
	}
	if *all > 0 {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, p := range map[string]*int{"cold-runs": &r.Cold, "warm-runs": &r.Warm, "incremental-runs": &r.Incremental,
			"aarch64-warm-runs": &r.A64Warm, "usrfs-runs": &r.Usrfs, "boot-runs": &r.Boot, "aarch64-boot-runs": &r.A64Boot, "firstboot-runs": &r.Firstboot,
			"mkosi-cold-runs": &r.MkosiCold, "mkosi-warm-runs": &r.MkosiWarm} {
			if !set[name] {
				*p = *all
			}
		}
	}
	o.Runs = r
	if o.Work == "" {
		o.Work = filepath.Join(o.Cache, "bench-work")
	}
	for _, p := range []*string{&o.Spec, &o.Cache, &o.Work, &o.Images, &o.Before, &o.Osbuild, &o.Nodecfg, &o.Ignition, &o.PKI, &o.Usr, &o.JSON, &o.Markdown} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) int {
	o, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return exitUsage
	}
	b, err := newBench(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return exitFailed
	}
	PrintPlan(stdout, b.r.Plan, o.Budget, b.planNotes())
	if o.PlanOnly {
		return exitOK
	}
	var base *Report
	if o.Baseline != "" {
		if base, err = LoadReport(o.Baseline); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return exitUsage
		}
	}
	start := time.Now()
	if err := os.MkdirAll(o.Work, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return exitFailed
	}
	if !o.Keep {
		defer os.RemoveAll(o.Work)
	}
	steps := map[string]func(context.Context) error{
		"firstboot": b.firstboot, "build": b.builds, "mkosi": b.mkosiBuilds, "repro": b.repro,
		"image": b.imageSizes, "usrfs": b.usrfs, "boot": b.boots,
	}
	for _, s := range sections {
		if !o.Selected(s) || ctx.Err() != nil {
			continue
		}
		fmt.Fprintf(stdout, "\nbench: === %s === (%s elapsed)\n", s, time.Since(start).Round(time.Second))
		if err := steps[s](ctx); err != nil {
			b.r.Errors[s] = err.Error()
			fmt.Fprintf(stdout, "bench: %s failed: %v\n", s, err)
		}
	}
	if ctx.Err() != nil {
		b.r.Errors["interrupted"] = ctx.Err().Error()
	}
	b.r.Duration = time.Since(start).Round(time.Second).Seconds()
	b.r.addRatios()
	fmt.Fprintf(stdout, "\nbench: %s, %s\n", b.r.Date.Format(time.RFC3339), b.r.Machine.Describe())
	b.r.WriteTable(stdout, base)
	code := exitOK
	if err := b.r.WriteJSON(o.JSON); err != nil {
		fmt.Fprintf(os.Stderr, "bench: writing %s: %v\n", o.JSON, err)
		code = exitFailed
	}
	if err := writeMarkdownFile(b.r, o.Markdown); err != nil {
		fmt.Fprintf(os.Stderr, "bench: writing %s: %v\n", o.Markdown, err)
		code = exitFailed
	}
	fmt.Fprintf(stdout, "\nbench: wrote %s and %s in %s\n", o.JSON, o.Markdown, time.Since(start).Round(time.Second))
	if len(b.r.Errors) > 0 {
		code = exitFailed
	}
	return code
}

func writeMarkdownFile(r *Report, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r.WriteMarkdown(f)
	return f.Close()
}

// bench carries what the sections share.
type bench struct {
	o    *Options
	r    *Report
	w    io.Writer
	spec *imagespec.Spec
	lock *imagespec.Lock
	// repo is a copy of the repository the builds use, so an incremental
	// build can change an overlay file without touching the real tree.
	repo string
	// runs are the finished builds per arch, in order.
	runs map[string][]*buildRun
	// images are the images the image and boot sections use, per arch.
	images map[string]string
	// caches are the bench's osbuild caches that hold each arch's rootfs.
	caches map[string]string
}

func newBench(ctx context.Context, o *Options, stdout io.Writer) (*bench, error) {
	spec, err := imagespec.Load(o.Spec)
	if err != nil {
		return nil, err
	}
	lock, err := imagespec.LoadLock(imagespec.LockPath(o.Spec), spec, spec.Architectures)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, r: NewReport(time.Now()), w: stdout, spec: spec, lock: lock,
		runs: map[string][]*buildRun{}, images: map[string]string{}, caches: map[string]string{}}
	b.r.Machine = DescribeMachine(ctx)
	b.r.Source = DescribeSource(ctx, spec.Dir, o.Spec, lock.File)
	b.r.Settings = *o
	in := planInput{usrBytes: 600 << 20, plainCached: map[string]bool{}, rootfsCached: map[string]bool{}}
	if usr := b.usrTree(); usr != "" {
		if st, err := treeSize(usr); err == nil {
			in.usrBytes = st.bytes
		}
	}
	for _, a := range o.Arches {
		if _, ok, err := b.plainLocation(a); err == nil && ok {
			in.plainCached[a] = true
		}
		if _, ok, err := osbuild.CachedRootfs(o.Spec, a, o.Cache); err == nil && ok {
			in.rootfsCached[a] = true
		}
	}
	in.mkosiToolsCached = b.mkosiToolsCached()
	b.r.Plan = Plan(o, in)
	return b, nil
}

// planNotes say up front what the defaults leave out and why.
func (b *bench) planNotes() []string {
	var n []string
	if slices.Contains(b.o.Arches, "aarch64") && !b.o.Aarch64Cold && (b.o.Selected("build") || b.o.Selected("repro")) {
		n = append(n, "aarch64 builds are warm only: a cold one takes ~6 min under qemu-user (opt in with -aarch64-cold); when "+b.o.Cache+" has no aarch64 rootfs of this lock yet (a fresh machine, a new lock), the first aarch64 build is that cold one (afterwards cached: `make test` and `make image ARCH=aarch64` leave it there)")
	}
	if _, cached, _ := b.plainLocation("aarch64"); slices.Contains(b.o.Arches, "aarch64") && !wantPlain(b.o, "aarch64", cached) && b.o.Selected("boot") {
		n = append(n, "aarch64 boots only the Bulwark image: the plain Debian image for aarch64 takes ~8.5 min to build under qemu-user (opt in with -plain-aarch64 once; it is cached and booted by default afterwards)")
	}
	if b.o.Selected("mkosi") {
		n = append(n, "mkosi cold = empty mkosi caches (incremental, package, workspace); its package cache holds the local cache's .debs hard-linked unless -cold-network, like osbuild's cold builds; apt lists and what the cache lacks (mkosi's initrd's packages) are downloaded; mkosi's tool root (its installed mkosi, as a user has it) is made once and not in mkosi's figures, while osbuild's cold figures include osbuild's own tool root (its tools step)")
	}
	if b.o.Selected("build") && !b.o.ColdNetwork {
		n = append(n, "cold = empty tool-root, rootfs and apt caches; the image's .debs are hard-linked from the local cache (downloads are the network, not osbuild; -cold-network downloads them)")
	}
	return n
}
