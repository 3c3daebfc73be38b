package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/osbuild"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/fsimage"
)

// ours is osbuild's own /usr writer.
const ours = "ours"

// fsWriter makes a read-only filesystem image of a tree.
type fsWriter struct {
	tool string // what runs, with its version, for the report
	run  func(ctx context.Context, dir, out string) error
}

// usrWriters returns the writers the section compares. Ours is osbuild's
// fsimage.EROFS with the spec's compression, run from the tool root exactly
// as a build runs it; the others are the build host's Debian packages with
// their defaults and common compressors, all with fixed timestamps.
func (b *bench) usrWriters(ctx context.Context) (map[string]fsWriter, error) {
	epoch := time.Unix(b.lock.SourceDateEpoch, 0).UTC()
	e := strconv.FormatInt(b.lock.SourceDateEpoch, 10)
	erofsV := "erofs-utils " + hostPackageVersion(ctx, "erofs-utils") + " (host)"
	sqV := "squashfs-tools " + hostPackageVersion(ctx, "squashfs-tools") + " (host)"
	ws := map[string]fsWriter{
		"erofs":       {erofsV + ": mkfs.erofs (no compression)", cmdWriter("mkfs.erofs", "-T"+e, "--quiet", "{out}", "{dir}")},
		"erofs-lz4hc": {erofsV + ": mkfs.erofs -zlz4hc", cmdWriter("mkfs.erofs", "-T"+e, "--quiet", "-zlz4hc", "{out}", "{dir}")},
		"squashfs-gzip": {sqV + ": mksquashfs (default gzip)",
			cmdWriter("mksquashfs", "{dir}", "{out}", "-noappend", "-quiet", "-no-progress", "-mkfs-time", e, "-all-time", e)},
		"squashfs-zstd": {sqV + ": mksquashfs -comp zstd",
			cmdWriter("mksquashfs", "{dir}", "{out}", "-noappend", "-quiet", "-no-progress", "-comp", "zstd", "-mkfs-time", e, "-all-time", e)},
		"squashfs-xz": {sqV + ": mksquashfs -comp xz",
			cmdWriter("mksquashfs", "{dir}", "{out}", "-noappend", "-quiet", "-no-progress", "-comp", "xz", "-mkfs-time", e, "-all-time", e)},
	}
	if slices.Contains(b.o.Writers, ours) {
		tools, err := b.toolRoot(ctx)
		if err != nil {
			return nil, err
		}
		host, _ := arch.Host()
		comp := b.spec.Disk.USRCompression
		uuid := layout.DerivedUUID(b.spec.Name+"/"+host.Name, "usr-fs")
		ws[ours] = fsWriter{
			tool: fmt.Sprintf("osbuild fsimage.EROFS: erofs-utils %s (%s tool root): mkfs.erofs -z%s", b.lock.Tools[host.Debian].Packages["erofs-utils"].Version, b.spec.Debian.Release, comp),
			run: func(ctx context.Context, dir, out string) error {
				_, err := fsimage.EROFS(ctx, tools, dir, out, uuid, comp, epoch)
				return err
			},
		}
	}
	return ws, nil
}

// cmdWriter runs a host program; {dir} and {out} in args are replaced.
func cmdWriter(name string, args ...string) func(ctx context.Context, dir, out string) error {
	return func(ctx context.Context, dir, out string) error {
		a := make([]string, len(args))
		for i, s := range args {
			switch s {
			case "{dir}":
				s = dir
			case "{out}":
				s = out
			}
			a[i] = s
		}
		if o, err := exec.CommandContext(ctx, name, a...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", name, err, firstLine(string(o)))
		}
		return nil
	}
}

// toolRoot returns the native tool root of the lock, from the bench's
// x86_64 cache if the build section made one, else from the local cache
// (assembling it there if it is missing, as a build would).
func (b *bench) toolRoot(ctx context.Context) (string, error) {
	host, err := arch.Host()
	if err != nil {
		return "", err
	}
	cache := b.o.Cache
	if c := b.caches[host.Name]; c != "" {
		cache = c
	}
	return osbuild.ToolRoot(ctx, b.spec.File, cache, func(s string) { fmt.Fprintf(b.w, "    tools: %s\n", s) })
}

// usrTree is the /usr the usrfs section writes: -usr, else the /usr of the
// newest complete x86_64 rootfs in the bench's or the local cache.
func (b *bench) usrTree() string {
	if b.o.Usr != "" {
		return b.o.Usr
	}
	var best string
	var bestTime time.Time
	for _, c := range []string{b.caches["x86_64"], b.o.Cache} {
		if c == "" {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(cachedir.Dir(c).Rootfs("x86_64", "*"), cachedir.CompleteMarker))
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && fi.ModTime().After(bestTime) {
				best, bestTime = filepath.Join(filepath.Dir(f), "usr"), fi.ModTime()
			}
		}
		if best != "" {
			return best
		}
	}
	return ""
}

// usrfs is the /usr filesystem section: every writer on the same tree,
// in rounds, the order rotating so no writer always runs first.
func (b *bench) usrfs(ctx context.Context) error {
	dir := b.usrTree()
	if dir == "" {
		return errors.New("no /usr tree: build an x86_64 image first (make image) or pass -usr DIR")
	}
	ws, err := b.usrWriters(ctx)
	if err != nil {
		return err
	}
	st, err := warmTree(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	b.r.Facts["usrfs.tree"] = dir
	b.r.Add("usrfs.tree.bytes", unitBytes, []float64{float64(st.bytes)})
	b.r.Add("usrfs.tree.files", unitCount, []float64{float64(st.files)})
	fmt.Fprintf(b.w, "bench: /usr tree %s: %d entries, %s (read once so every writer starts from a warm page cache)\n", dir, st.files, formatValue(unitBytes, float64(st.bytes)))
	outDir := filepath.Join(b.o.Work, "usrfs")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(outDir)
	times := map[string][]time.Duration{}
	sizes := map[string][]float64{}
	order := b.o.Writers
	for round := 0; round < b.o.Runs.Usrfs; round++ {
		for i := range order {
			name := order[(i+round)%len(order)]
			w := ws[name]
			out := filepath.Join(outDir, name+".img")
			os.Remove(out)
			start := time.Now()
			if err := w.run(ctx, dir, out); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			d := time.Since(start)
			fi, err := os.Stat(out)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			os.Remove(out)
			times[name] = append(times[name], d)
			sizes[name] = append(sizes[name], float64(fi.Size()))
			fmt.Fprintf(b.w, "    round %d: %-14s %8s  %s\n", round+1, name, d.Round(10*time.Millisecond), formatValue(unitBytes, float64(fi.Size())))
		}
	}
	for _, name := range order {
		b.r.Add(usrfsKey(name, "time_s"), unitSeconds, seconds(times[name]...))
		b.r.Add(usrfsKey(name, "size_bytes"), unitBytes, sizes[name])
		b.r.Facts[usrfsKey(name, "tool")] = ws[name].tool
	}
	return nil
}

// warmTree reads every file of root once, so that the first writer does
// not pay for the disk reads the others get from the page cache, and
// returns the tree's size.
func warmTree(root string) (treeStats, error) {
	var s treeStats
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		s.files++
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(io.Discard, f, buf)
		f.Close()
		s.bytes += n
		return err
	})
	return s, err
}
