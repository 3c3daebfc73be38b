package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sections lists what the bench measures, in the order it runs them: the
// cheap first-boot comparison first (it finds a broken setup in seconds),
// builds before what needs their images, mkosi's builds right after
// osbuild's (their ratios are of the same run), boots last.
var sections = []string{"firstboot", "build", "mkosi", "repro", "image", "usrfs", "boot"}

// Runs is how many times each figure is measured.
type Runs struct {
	Cold        int `json:"cold"`        // x86_64 cold builds (and aarch64 with -aarch64-cold)
	Warm        int `json:"warm"`        // x86_64 warm builds
	Incremental int `json:"incremental"` // x86_64 rebuilds after an overlay change
	A64Warm     int `json:"aarch64Warm"` // aarch64 warm builds
	Usrfs       int `json:"usrfs"`       // rounds of every /usr writer
	Boot        int `json:"boot"`        // x86_64 boots of each image
	A64Boot     int `json:"aarch64Boot"` // aarch64 boots of each image
	Firstboot   int `json:"firstboot"`   // rounds of nodecfg and Ignition
	MkosiCold   int `json:"mkosiCold"`   // x86_64 mkosi builds with empty caches
	MkosiWarm   int `json:"mkosiWarm"`   // x86_64 mkosi builds reusing the last cold one's caches
}

// defaultRuns fit `make bench` into 45 minutes on 2 cores without KVM
// (see the estimates; a whole run took 28m30s with two warm builds and one
// incremental). Warm builds vary by ±5 s with disk writeback, so they get
// three runs each. -runs N overrides them all.
var defaultRuns = Runs{Cold: 2, Warm: 3, Incremental: 3, A64Warm: 3, Usrfs: 3, Boot: 3, A64Boot: 2, Firstboot: 10, MkosiCold: 1, MkosiWarm: 2}

// Estimates of one run of each kind on the development machine (2 cores,
// TCG, x86_64 host). They only size the plan; nothing depends on them.
const (
	estColdX86      = 1*time.Minute + 30*time.Second // measured 1m12-1m16 (2026-11-29)
	estWarmX86      = 40 * time.Second               // measured 24-46 s
	estColdA64      = 7 * time.Minute                // measured 6m01 (2026-11-29): packages configure under qemu-user
	estWarmA64      = 45 * time.Second               // measured 26-49 s
	estBootX86      = 1*time.Minute + 45*time.Second // Bulwark: dockerd TLS 1m20-1m29, then the marker's report
	estBootA64      = 1*time.Minute + 30*time.Second // Bulwark: 1m08-1m13
	estPlainBootX86 = time.Minute                    // plain: 43-48 s
	estPlainBootA64 = 45 * time.Second               // plain: 34-36 s
	estPlainX86     = time.Minute                    // mmdebstrap + initramfs-tools + mkfs, once; cached after (41 s)
	estPlainA64     = 9 * time.Minute                // measured 8m26s under qemu-user (2026-11-29)
	estFirstboot    = 2 * time.Second                // one round of both tools, with process start-up
	estUsrfsFixed   = 2 * time.Second                // per writer run: tool start-up, cleanup
	estMkosiTools   = 45 * time.Second               // mkosi's tool root, once; cached after (measured 24-31 s)
	estMkosiCold    = 2*time.Minute + 45*time.Second // measured 2m32 (the image's .debs local, the initrd's downloaded)
	estMkosiWarm    = 1*time.Minute + 10*time.Second // measured 57 s
)

// usrfsCost is seconds per GiB of /usr for each writer on 2 cores, from
// make bench on the x86_64 rootfs's whole /usr (537.6 MiB, 14,051 entries;
// squashfs-xz from an earlier run on /usr/share); used for the plan only.
var usrfsCost = map[string]float64{
	"ours": 21, "erofs": 4, "erofs-lz4hc": 36,
	"squashfs-gzip": 60, "squashfs-zstd": 55, "squashfs-xz": 200,
}

// PlanItem is one line of the plan printed before any work starts.
type PlanItem struct {
	Section  string  `json:"section"`
	What     string  `json:"what"`
	Runs     int     `json:"runs"`
	Estimate float64 `json:"estimateSeconds"`
}

// planInput is what the plan depends on besides the options.
type planInput struct {
	usrBytes    int64 // size of the /usr tree the usrfs section will use
	plainCached map[string]bool
	// rootfsCached: the local cache has the arch's rootfs for this lock,
	// so the bench's warm builds (seeded from it) are warm.
	rootfsCached map[string]bool
	// mkosiToolsCached: the cache has mkosi's tool root for these inputs.
	mkosiToolsCached bool
}

// Plan lists the work o asks for with time estimates.
func Plan(o *Options, in planInput) []PlanItem {
	var p []PlanItem
	add := func(sec, what string, runs int, each time.Duration) {
		if runs > 0 {
			p = append(p, PlanItem{Section: sec, What: what, Runs: runs, Estimate: (time.Duration(runs) * each).Seconds()})
		}
	}
	if o.Selected("firstboot") {
		add("firstboot", "nodecfg apply vs Debian ignition (fetch-offline + files) on "+filepath.Base(o.Ignition), o.Runs.Firstboot, estFirstboot)
	}
	for _, a := range o.Arches {
		if !o.Selected("build") && !o.Selected("repro") {
			break
		}
		switch a {
		case "x86_64":
			add("build", "x86_64 cold build (empty tool root and rootfs cache)", o.Runs.Cold, estColdX86)
			add("build", "x86_64 warm build (cached rootfs)", o.Runs.Warm, estWarmX86)
			add("build", "x86_64 incremental build (one overlay file changed)", o.Runs.Incremental, estWarmX86)
		case "aarch64":
			switch {
			case o.Aarch64Cold:
				add("build", "aarch64 cold build (qemu-user)", o.Runs.Cold, estColdA64)
			case !in.rootfsCached[a]:
				// The first warm build finds no rootfs and is the cold one.
				add("build", "aarch64 cold build (no aarch64 rootfs of this lock cached yet)", 1, estColdA64)
			}
			add("build", "aarch64 warm build (rootfs from the local cache)", o.Runs.A64Warm, estWarmA64)
		}
	}
	if o.Selected("mkosi") && slices.Contains(o.Arches, "x86_64") && o.Runs.MkosiCold+o.Runs.MkosiWarm > 0 {
		if !in.mkosiToolsCached {
			add("mkosi", "mkosi's tool root (trixie's mkosi; mmdebstrap, once, then cached)", 1, estMkosiTools)
		}
		// Warm builds need a filled cache: without a cold run, one runs anyway.
		add("mkosi", "x86_64 mkosi cold build (empty mkosi caches)", max(o.Runs.MkosiCold, 1), estMkosiCold)
		add("mkosi", "x86_64 mkosi warm build (Incremental=yes, caches reused)", o.Runs.MkosiWarm, estMkosiWarm)
	}
	if o.Selected("usrfs") {
		gib := float64(in.usrBytes) / (1 << 30)
		for _, w := range o.Writers {
			add("usrfs", "/usr image with "+w, o.Runs.Usrfs, time.Duration(usrfsCost[w]*gib*float64(time.Second))+estUsrfsFixed)
		}
	}
	if o.Selected("boot") {
		for _, a := range o.Arches {
			plain := wantPlain(o, a, in.plainCached[a])
			runs, each, plainEach, plainEst := o.Runs.Boot, estBootX86, estPlainBootX86, estPlainX86
			if a == "aarch64" {
				runs, each, plainEach, plainEst = o.Runs.A64Boot, estBootA64, estPlainBootA64, estPlainA64
			}
			if plain && !in.plainCached[a] {
				add("boot", a+" plain Debian image (mmdebstrap, once, then cached)", 1, plainEst)
			}
			add("boot", a+" boot of the Bulwark image", runs, each)
			if o.Before != "" {
				add("boot", a+" boot of the -before image", runs, each)
			}
			if plain {
				add("boot", a+" boot of the plain Debian image", runs, plainEach)
			}
		}
	}
	return p
}

// wantPlain says whether the boot section boots the plain Debian image of
// arch a: always for x86_64; for aarch64, whose plain image takes ~8.5 min
// to build under qemu-user, when asked to or when a run asked to before
// and left it cached (then it only costs its boots).
func wantPlain(o *Options, a string, cached bool) bool {
	return a == "x86_64" || o.PlainAarch64 || cached
}

// PlanTotal sums the estimates.
func PlanTotal(p []PlanItem) time.Duration {
	var s float64
	for _, it := range p {
		s += it.Estimate
	}
	return time.Duration(s * float64(time.Second))
}

// PrintPlan writes the plan and its total, and warns when it exceeds budget.
func PrintPlan(w io.Writer, p []PlanItem, budget time.Duration, notes []string) {
	fmt.Fprintln(w, "bench: plan (estimates for 2 cores without KVM):")
	for _, it := range p {
		fmt.Fprintf(w, "  %-9s %2d × %-62s ~%s\n", it.Section, it.Runs, it.What, time.Duration(it.Estimate*float64(time.Second)).Round(time.Second))
	}
	total := PlanTotal(p)
	fmt.Fprintf(w, "  total ~%s (budget %s)\n", total.Round(time.Second), budget)
	for _, n := range notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	if budget > 0 && total > budget {
		fmt.Fprintf(w, "bench: warning: the plan may exceed the %s budget; lower -runs or use -only\n", budget)
	}
}

// parseList splits a comma-separated flag value and checks each item
// against allowed.
func parseList(v string, allowed []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allowed, s) {
			return nil, fmt.Errorf("unknown %q (known: %s)", s, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
