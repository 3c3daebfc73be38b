package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
)

// ReproResult says whether builds of the same spec and lock gave the same
// bytes and, if not, where they differ.
type ReproResult struct {
	Builds    []string            `json:"builds"`  // runs compared, e.g. cold#2, warm#1
	Outputs   map[string][]string `json:"outputs"` // output file → sha256 per build, in Builds order
	Identical bool                `json:"identical"`
	// Pair are the two builds whose partitions and work trees were compared.
	Pair       []string     `json:"pair,omitempty"`
	Partitions []string     `json:"differingPartitions,omitempty"`
	Files      []Difference `json:"differingFiles,omitempty"` // the first maxReproFiles
	FilesTotal int          `json:"differingFilesTotal,omitempty"`
}

const maxReproFiles = 50

// repro is the reproducibility section. It compares the builds the build
// section made (different caches, cold against warm, different output
// directories), or makes two warm builds itself when that section is off.
func (b *bench) repro(ctx context.Context) error {
	if !b.o.Selected("build") {
		if err := b.builds(ctx); err != nil {
			return err
		}
	}
	for _, a := range b.o.Arches {
		runs := slices.DeleteFunc(slices.Clone(b.runs[a]), func(r *buildRun) bool { return r.Kind == kindIncremental })
		if len(runs) < 2 {
			if _, skipped := b.r.Skipped["build."+a+".warm"]; !skipped {
				b.r.Skip(b.w, "repro."+a, fmt.Sprintf("%d build(s) of %s; two are needed", len(runs), a))
			}
			continue
		}
		res, err := b.compareBuilds(runs)
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		if b.r.Repro == nil {
			b.r.Repro = map[string]*ReproResult{}
		}
		b.r.Repro[a] = res
		b.r.Facts[reproFactKey(a, "verdict")] = res.verdict()
		fmt.Fprintf(b.w, "bench: reproducibility %s: %s\n", a, res.verdict())
		for _, d := range res.Files {
			fmt.Fprintf(b.w, "    %s\n", d)
		}
		for _, r := range runs {
			if r.Work != "" {
				os.RemoveAll(r.Work)
				if r.Raw() != b.images[a] {
					os.RemoveAll(r.Out)
				}
			}
		}
	}
	return nil
}

func (res *ReproResult) verdict() string {
	if res.Identical {
		return fmt.Sprintf("identical: %d builds (%s) gave the same sha256 for each of %d outputs", len(res.Builds), strings.Join(res.Builds, ", "), len(res.Outputs))
	}
	var differ []string
	for _, f := range sortedKeys(res.Outputs) {
		if !allEqual(res.Outputs[f]) {
			differ = append(differ, f)
		}
	}
	s := fmt.Sprintf("differ: %s across %s", strings.Join(differ, ", "), strings.Join(res.Builds, ", "))
	if len(res.Partitions) > 0 {
		s += fmt.Sprintf("; %s vs %s: partitions %s", res.Pair[0], res.Pair[1], strings.Join(res.Partitions, ", "))
	}
	if res.FilesTotal > 0 {
		s += fmt.Sprintf("; %d path(s) in the work trees, first: %s", res.FilesTotal, res.Files[0])
	}
	return s
}

func allEqual(xs []string) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// compareBuilds compares every output's sha256 across runs and, when they
// differ, the partitions and work trees of the two runs that kept theirs.
func (b *bench) compareBuilds(runs []*buildRun) (*ReproResult, error) {
	res := &ReproResult{Outputs: map[string][]string{}, Identical: true}
	for _, r := range runs {
		res.Builds = append(res.Builds, r.Name())
	}
	for _, r := range runs {
		for f := range r.Image.Outputs {
			if _, ok := res.Outputs[f]; !ok {
				res.Outputs[f] = nil
			}
		}
	}
	for f := range res.Outputs {
		for _, r := range runs {
			res.Outputs[f] = append(res.Outputs[f], r.Image.Outputs[f])
		}
		if !allEqual(res.Outputs[f]) {
			res.Identical = false
		}
	}
	var pair []*buildRun
	for _, r := range runs {
		if r.Work != "" {
			pair = append(pair, r)
		}
	}
	if res.Identical || len(pair) < 2 {
		return res, nil
	}
	pa, pb := pair[0], pair[1]
	res.Pair = []string{pa.Name(), pb.Name()}
	parts, err := differingPartitions(pa.Raw(), pb.Raw(), pa.Image.Layout)
	if err != nil {
		return nil, err
	}
	res.Partitions = parts
	ta, err := Snapshot(pa.Work, true, true)
	if err != nil {
		return nil, err
	}
	tb, err := Snapshot(pb.Work, true, true)
	if err != nil {
		return nil, err
	}
	reproView(ta)
	reproView(tb)
	diffs := Compare(ta, tb, []string{fieldType, fieldMode, fieldOwner, fieldContent, fieldTarget, fieldMtime, fieldXattrs})
	res.FilesTotal = len(diffs)
	res.Files = diffs[:min(len(diffs), maxReproFiles)]
	return res, nil
}

// reproView trims a snapshot of a work directory to what can make two
// images differ. The partition images (top-level *.img) are compared as
// partitions already. Times count only in root/ and usr/, the trees of
// ROOT and USR-A, which osbuild clamps to the lock's epoch; the other
// files (kernel, initrd, UKI parts, Go binaries) reach the image as
// contents with times osbuild sets.
func reproView(t Tree) {
	delete(t, "/")
	for p, e := range t {
		if strings.Count(p, "/") == 1 && strings.HasSuffix(p, ".img") {
			delete(t, p)
			continue
		}
		if !(p == "/root" || p == "/usr" || strings.HasPrefix(p, "/root/") || strings.HasPrefix(p, "/usr/")) {
			e.Mtime = 0
			t[p] = e
		}
	}
}

// region is a byte range of a disk image with a name.
type region struct {
	name       string
	start, end int64
}

// diskRegions splits a disk into the primary GPT area, each partition and
// the backup GPT area.
func diskRegions(l *layout.Layout) []region {
	var rs []region
	if len(l.Parts) == 0 {
		return []region{{"disk", 0, l.DiskSize}}
	}
	rs = append(rs, region{"GPT (primary)", 0, l.Parts[0].Start})
	end := int64(0)
	for _, p := range l.Parts {
		rs = append(rs, region{p.Name(), p.Start, p.Start + p.Size})
		end = max(end, p.Start+p.Size)
	}
	return append(rs, region{"GPT (backup)", end, l.DiskSize})
}

// differingPartitions names the regions of two disk images whose bytes differ.
func differingPartitions(a, b string, l *layout.Layout) ([]string, error) {
	fa, err := os.Open(a)
	if err != nil {
		return nil, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return nil, err
	}
	defer fb.Close()
	var out []string
	for _, r := range diskRegions(l) {
		ha, err := hashRange(fa, r.start, r.end-r.start)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", a, r.name, err)
		}
		hb, err := hashRange(fb, r.start, r.end-r.start)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", b, r.name, err)
		}
		if ha != hb {
			out = append(out, r.name)
		}
	}
	return out, nil
}

func hashRange(f *os.File, off, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// imageSizes is the image section: USR-A's used bytes, the raw image's
// apparent and allocated size and the qcow2's size, over this run's builds
// of the unchanged tree, or of the image in -images.
func (b *bench) imageSizes(ctx context.Context) error {
	for _, a := range b.o.Arches {
		var sizes []imageSize
		for _, r := range b.runs[a] {
			if r.Kind != kindIncremental {
				sizes = append(sizes, r.Sizes)
			}
		}
		if len(sizes) == 0 {
			raw := b.imageFor(a)
			if raw == "" {
				b.r.Skip(b.w, "image."+a, "no built image (run the build section or `make image ARCH="+a+"`)")
				continue
			}
			s, err := measureImage(raw)
			if err != nil {
				return err
			}
			sizes = append(sizes, s)
			b.r.Facts[imageKey(a, "file")] = raw
		}
		var usr, raw, alloc, qcow []float64
		for _, s := range sizes {
			usr, raw, alloc = append(usr, float64(s.USR)), append(raw, float64(s.Raw)), append(alloc, float64(s.RawAllocated))
			if s.Qcow2 > 0 {
				qcow = append(qcow, float64(s.Qcow2))
			}
		}
		b.r.Add(imageKey(a, "usr_bytes"), unitBytes, usr)
		b.r.Add(imageKey(a, "raw_bytes"), unitBytes, raw)
		b.r.Add(imageKey(a, "raw_allocated_bytes"), unitBytes, alloc)
		if len(qcow) > 0 {
			b.r.Add(imageKey(a, "qcow2_bytes"), unitBytes, qcow)
		}
	}
	return nil
}

// imageSize is what the image section reports of one built image.
type imageSize struct {
	USR          int64 // bytes of the EROFS image in USR-A
	Raw          int64 // the .raw's apparent size (the disk size)
	RawAllocated int64 // blocks the sparse .raw takes
	Qcow2        int64
}

func measureImage(raw string) (imageSize, error) {
	var s imageSize
	m, err := manifest.ForImage(raw)
	if err != nil {
		return s, err
	}
	s.USR = m.USRBytes
	if s.Raw, s.RawAllocated, err = fileSizes(raw); err != nil {
		return s, err
	}
	if q := strings.TrimSuffix(raw, ".raw") + ".qcow2"; exists(q) {
		if s.Qcow2, _, err = fileSizes(q); err != nil {
			return s, err
		}
	}
	return s, nil
}

// fileSizes returns a file's apparent size and the bytes it occupies.
func fileSizes(p string) (apparent, allocated int64, err error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, 0, err
	}
	apparent = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		allocated = st.Blocks * 512
	}
	return apparent, allocated, nil
}

// imageFor is the image of arch a the later sections use: this run's
// build, or one in -images.
func (b *bench) imageFor(a string) string {
	if p := b.images[a]; p != "" {
		return p
	}
	p := filepath.Join(b.o.Images, b.spec.Name+"-"+a+".raw")
	if exists(p) {
		return p
	}
	return ""
}
