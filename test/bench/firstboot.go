package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/runlog"
)

// FirstbootResult compares what nodecfg and Debian's Ignition write for
// the same config.
type FirstbootResult struct {
	Config    string `json:"config"`
	Ignition  string `json:"ignition"` // Debian package and version
	Labelling string `json:"labelling"`
	// Fields compared; ConfigPaths are the paths the config names and their
	// parent directories, which both tools must write the same.
	Fields      []string `json:"fields"`
	ConfigPaths []string `json:"configPaths"`
	Match       bool     `json:"match"`
	// Mismatches are config paths that differ or that one tool did not write.
	Mismatches []Difference `json:"mismatches"`
	// Records are paths only one tool writes, for its own bookkeeping
	// (nodecfg's applied.json, Ignition's .ignition-result.json), by tool.
	Records map[string][]string `json:"records"`
}

// ignitionPaths lists the paths an Ignition config writes: files,
// directories, links, systemd units and drop-ins.
func ignitionPaths(raw []byte) ([]string, error) {
	var c struct {
		Storage struct {
			Files, Directories, Links []struct {
				Path string `json:"path"`
			}
		} `json:"storage"`
		Systemd struct {
			Units []struct {
				Name     string  `json:"name"`
				Contents *string `json:"contents"`
				Dropins  []struct {
					Name string `json:"name"`
				} `json:"dropins"`
			} `json:"units"`
		} `json:"systemd"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parsing the Ignition config: %w", err)
	}
	var out []string
	for _, group := range [][]struct {
		Path string `json:"path"`
	}{c.Storage.Files, c.Storage.Directories, c.Storage.Links} {
		for _, e := range group {
			out = append(out, path.Clean(e.Path))
		}
	}
	for _, u := range c.Systemd.Units {
		if u.Contents != nil {
			out = append(out, "/etc/systemd/system/"+u.Name)
		}
		for _, d := range u.Dropins {
			out = append(out, "/etc/systemd/system/"+u.Name+".d/"+d.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// withParents adds every parent directory (except /) of the paths.
func withParents(paths []string) []string {
	set := map[string]bool{}
	for _, p := range paths {
		for q := p; q != "/" && q != "."; q = path.Dir(q) {
			set[q] = true
		}
	}
	return sortedKeys(set)
}

// judgeTrees splits the differences between nodecfg's tree (A) and
// Ignition's (B) into mismatches on config paths and each tool's records.
func judgeTrees(diffs []Difference, configPaths []string) (mismatches []Difference, records map[string][]string) {
	records = map[string][]string{}
	for _, d := range diffs {
		switch {
		case d.Path == "/etc/docker/daemon.json" && d.Kind == "differs" && slices.Equal(d.Fields, []string{fieldContent}):
			// By design: nodecfg merges the config's daemon.json over the
			// image's floor (internal/dockerfloor); Ignition writes it as is.
			records["nodecfg"] = append(records["nodecfg"], d.Path+" (floor merged)")
		case slices.Contains(configPaths, d.Path):
			mismatches = append(mismatches, d)
		case d.Kind == "only-a":
			records["nodecfg"] = append(records["nodecfg"], d.Path)
		case d.Kind == "only-b":
			records["ignition"] = append(records["ignition"], d.Path)
		default:
			mismatches = append(mismatches, d) // a path both wrote but the config does not name
		}
	}
	return mismatches, records
}

// seedRoot makes an empty root with the one file Ignition's files stage
// needs to exist: /etc/selinux/config, which it reads to find the policy
// to relabel with. Both tools get the same seed.
func seedRoot(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "etc/selinux"), 0o755); err != nil {
		return err
	}
	// nodecfg apply merges the config's daemon.json over the image's floor
	// and refuses to apply without it; both roots get it, as an image has.
	floor := filepath.Join(dir, dockerfloor.NodePath)
	if err := os.MkdirAll(filepath.Dir(floor), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(floor, dockerfloor.Embedded(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "etc/selinux/config"), []byte("SELINUX=permissive\nSELINUXTYPE=default\n"), 0o644)
}

// ignitionBinary fetches trixie's ignition package into the cache with the
// repo's fetch-deb.sh and returns its binary (the one the initrd runs) and
// version. Debian ships it dynamically linked against an older glibc
// symbol set than trixie's, so it runs on the Debian 12 build host.
func (b *bench) ignitionBinary(ctx context.Context) (string, string, error) {
	host, err := arch.Host()
	if err != nil {
		return "", "", err
	}
	dest := cachedir.Dir(b.o.Cache).Host("ignition-" + host.Debian)
	out, err := exec.CommandContext(ctx, filepath.Join(b.spec.Dir, "scripts/fetch-deb.sh"), dest, host.Debian, "ignition").CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("fetching Debian's ignition: %w: %s", err, out)
	}
	bin := filepath.Join(dest, "root/usr/lib/dracut/modules.d/30ignition/ignition")
	if !exists(bin) {
		return "", "", fmt.Errorf("the ignition package has no %s", bin)
	}
	v, _ := os.ReadFile(filepath.Join(dest, "versions"))
	return bin, strings.TrimSpace(string(v)), nil
}

// firstboot is the first-boot section: nodecfg apply and Ignition's
// fetch-offline and files stages apply the same config to fresh temp
// roots, alternately; the last round's trees are compared.
func (b *bench) firstboot(ctx context.Context) error {
	cfg := b.o.Ignition
	raw, err := os.ReadFile(cfg)
	if err != nil {
		return fmt.Errorf("%w (make example-node renders it)", err)
	}
	paths, err := ignitionPaths(raw)
	if err != nil {
		return err
	}
	ign, version, err := b.ignitionBinary(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.o.Work, "firstboot")
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	stub := filepath.Join(dir, "stub")
	if err := os.MkdirAll(stub, 0o755); err != nil {
		return err
	}
	// Ignition relabels what it wrote with setfiles; nodecfg labels only when
	// --root is / (restorecon). Neither labels here, so both figures are
	// parse, validate and write.
	if err := os.WriteFile(filepath.Join(stub, "setfiles"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		return err
	}
	var nodecfgT, ignT, filesT []time.Duration
	var rootN, rootI string
	for i := 0; i < b.o.Runs.Firstboot; i++ {
		rootN, rootI = filepath.Join(dir, fmt.Sprintf("nodecfg-%d", i)), filepath.Join(dir, fmt.Sprintf("ignition-%d", i))
		runN := func() error {
			if err := seedRoot(rootN); err != nil {
				return err
			}
			d, err := timeCmd(ctx, nil, b.o.Nodecfg, "apply", "--root", rootN, "--config", cfg)
			nodecfgT = append(nodecfgT, d)
			return err
		}
		runI := func() error {
			if err := seedRoot(rootI); err != nil {
				return err
			}
			state := filepath.Join(dir, fmt.Sprintf("ignition-state-%d", i))
			if err := os.MkdirAll(state, 0o755); err != nil {
				return err
			}
			env := []string{"IGNITION_CONFIG_FILE=" + cfg, "PATH=" + stub + ":" + os.Getenv("PATH")}
			common := []string{"-platform", "file", "-root", rootI, "-log-to-stdout",
				"-config-cache", filepath.Join(state, "config.json"), "-state-file", filepath.Join(state, "state"), "-neednet", filepath.Join(state, "neednet")}
			d1, err := timeCmd(ctx, env, ign, append([]string{"-stage", "fetch-offline"}, common...)...)
			if err != nil {
				return err
			}
			d2, err := timeCmd(ctx, env, ign, append([]string{"-stage", "files"}, common...)...)
			ignT, filesT = append(ignT, d1+d2), append(filesT, d2)
			return err
		}
		first, second := runN, runI
		if i%2 == 1 {
			first, second = runI, runN
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		if i < b.o.Runs.Firstboot-1 {
			os.RemoveAll(rootN)
			os.RemoveAll(rootI)
		}
	}
	b.r.Add(firstbootKey("nodecfg", "time_s"), unitSeconds, seconds(nodecfgT...))
	b.r.Add(firstbootKey("ignition", "time_s"), unitSeconds, seconds(ignT...))
	b.r.Add(firstbootKey("ignition", "files_stage_s"), unitSeconds, seconds(filesT...))
	if rootN == "" {
		return nil
	}
	res, err := compareFirstboot(rootN, rootI, paths)
	if err != nil {
		return err
	}
	res.Config, res.Ignition = cfg, version
	host, _ := arch.Host()
	if locked := b.lock.Tools[host.Debian].Packages["ignition"].Version; locked != "" && !strings.HasSuffix(version, " "+locked) {
		b.r.Note(b.w, "the fetched %s is not the tool root's locked ignition %s", version, locked)
	}
	b.r.Firstboot = res
	b.r.Facts["firstboot.trees"] = res.verdict()
	fmt.Fprintf(b.w, "bench: first boot trees: %s\n", res.verdict())
	for _, d := range res.Mismatches {
		fmt.Fprintf(b.w, "    %s\n", d)
	}
	return nil
}

func compareFirstboot(rootN, rootI string, paths []string) (*FirstbootResult, error) {
	tn, err := Snapshot(rootN, true, false)
	if err != nil {
		return nil, err
	}
	ti, err := Snapshot(rootI, true, false)
	if err != nil {
		return nil, err
	}
	fields := []string{fieldType, fieldMode, fieldOwner, fieldContent, fieldTarget}
	res := &FirstbootResult{Fields: fields, ConfigPaths: withParents(paths),
		Labelling: "not compared: nodecfg labels (restorecon) only when --root is /, and Ignition's setfiles is replaced by a no-op, so neither labels a temp root"}
	res.Mismatches, res.Records = judgeTrees(Compare(tn, ti, fields), res.ConfigPaths)
	res.Match = len(res.Mismatches) == 0
	return res, nil
}

func (res *FirstbootResult) verdict() string {
	var rec []string
	for _, tool := range sortedKeys(res.Records) {
		rec = append(rec, tool+": "+strings.Join(res.Records[tool], " "))
	}
	s := fmt.Sprintf("%d config paths (with parents) compared in %s", len(res.ConfigPaths), strings.Join(res.Fields, ", "))
	if res.Match {
		s = "match: " + s
	} else {
		s = fmt.Sprintf("MISMATCH in %d path(s): %s", len(res.Mismatches), s)
	}
	if len(rec) > 0 {
		s += "; own records only: " + strings.Join(rec, "; ")
	}
	return s
}

// timeCmd runs a program to completion and returns its wall time.
func timeCmd(ctx context.Context, env []string, name string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(string(out), 15))
	}
	return d, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines, _ := runlog.LastLines(s, n)
	return strings.Join(lines, "\n")
}
