// Package rootfs assembles the image's Debian userspace with mmdebstrap from
// exactly the locked package versions, then builds the initrd once.
//
// Package maintainer scripts for a foreign architecture run under qemu-user,
// which is slow; the costliest of them is the initrd generator that the
// kernel and dracut packages trigger on every install. It is diverted while
// packages install and run exactly once at the end (Initrd), natively from
// the tool root, with only the drivers the spec lists (measured on the
// 2-core build host: a cold arm64 rootfs went from 29 min to 3.5 min with
// the diversion; dracut itself from 62 s under qemu-user to a few seconds
// natively).
package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/dpkgstatus"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/runlog"
)

// Options configures one rootfs assembly.
type Options struct {
	Arch    arch.Arch
	Release string            // the image's release, mmdebstrap's suite argument
	Repo    string            // sources.list line of a repository holding exactly Pins
	Pins    map[string]string // package → exact version, from the lock
	// AptSources becomes the tree's /etc/apt/sources.list.d/debian.sources
	// (the release's real suites), replacing the build's local repository.
	// The image does not keep it: osbuild's trim step removes /etc/apt with
	// the package manager (the cached rootfs still has it).
	AptSources string
	Out        string    // directory to create; must not exist
	Epoch      time.Time // SOURCE_DATE_EPOCH for the whole assembly
	LogFile    string    // full mmdebstrap output
	Step       *progress.Step
	// SemoduleRecorder, if set, replaces /usr/sbin/semodule while packages
	// install, so the SELinux policy is compiled natively afterwards.
	SemoduleRecorder string
}

// Build creates opts.Out holding the installed rootfs, without an initrd
// (Initrd makes it).
func Build(ctx context.Context, opts Options) error {
	includes := apt.Pins(opts.Pins)
	q := shellQuote
	const hook = "/etc/kernel/postinst.d/dracut"
	args := append(apt.MmdebstrapArgs("essential", opts.Arch.Debian, includes), []string{
		"--verbose",
		// Divert dracut's kernel hook: Initrd runs dracut once, afterwards.
		"--essential-hook=mkdir -p \"$1/etc/kernel/postinst.d\" && chroot \"$1\" dpkg-divert --quiet --local --rename --divert " + hook + ".bulwark --add " + hook + " && printf '#!/bin/sh\\nexit 0\\n' > \"$1" + hook + "\" && chmod 755 \"$1" + hook + "\"",
		"--customize-hook=rm -f \"$1" + hook + "\" && chroot \"$1\" dpkg-divert --quiet --local --rename --remove " + hook,
		opts.Release, opts.Out, opts.Repo,
	}...)
	if opts.SemoduleRecorder != "" {
		rec := opts.Out + ".semodule"
		if err := os.WriteFile(rec, []byte(opts.SemoduleRecorder), 0o755); err != nil {
			return err
		}
		defer os.Remove(rec)
		const sm = "/usr/sbin/semodule"
		// After the essential hook that diverts dracut, before any package
		// that compiles policy is configured.
		args = append(args[:len(args)-3:len(args)-3],
			"--essential-hook=chroot \"$1\" dpkg-divert --quiet --local --rename --divert "+sm+".bulwark --add "+sm+" && cp "+q(rec)+" \"$1"+sm+"\"",
			"--customize-hook=rm -f \"$1"+sm+"\" && chroot \"$1\" dpkg-divert --quiet --local --rename --remove "+sm)
		args = append(args, opts.Release, opts.Out, opts.Repo)
	}
	logf, err := os.Create(opts.LogFile)
	if err != nil {
		return fmt.Errorf("creating mmdebstrap log: %w", err)
	}
	defer logf.Close()
	total := int64(len(includes))
	var unpacked, configured int64
	err = runlog.Run(ctx, runlog.Cmd{
		Name: "mmdebstrap", Args: args, Log: logf,
		// mmdebstrap and maintainer scripts (shadow's last-change dates,
		// generated files) take their timestamps from SOURCE_DATE_EPOCH.
		Env: []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(opts.Epoch.Unix(), 10), "LC_ALL=C.UTF-8"},
		OnLine: func(l string) {
			switch {
			case strings.HasPrefix(l, "Unpacking "):
				unpacked++
				opts.Step.Progress("unpacking", unpacked, total, "packages")
			case strings.HasPrefix(l, "Setting up "):
				configured++
				opts.Step.Progress("configuring", configured, total, "packages")
			case strings.HasPrefix(l, "I: ") && !strings.HasPrefix(l, "I: running"):
				opts.Step.Printf("%s", strings.TrimPrefix(l, "I: "))
			case strings.HasPrefix(l, "E: "):
				opts.Step.Printf("%s", l)
			}
		},
	})
	// Whatever mmdebstrap could not unmount (it only warns) goes now,
	// before the tree is cached or copied, on success or failure.
	left, derr := DetachMounts(opts.Out)
	if len(left) > 0 {
		opts.Step.Printf("unmounted what mmdebstrap left mounted in the rootfs: %s", strings.Join(left, ", "))
	}
	if err != nil {
		return fmt.Errorf("assembling %s rootfs (full log: %s): %w", opts.Arch.Name, opts.LogFile, err)
	}
	if derr != nil {
		return derr
	}
	if err := writeAptSources(opts.Out, opts.AptSources); err != nil {
		return err
	}
	return CheckInstalled(opts.Out, opts.Pins)
}

// writeAptSources replaces the sources mmdebstrap wrote (the build's local
// repository, a path on the build host) with the release's real suites, so
// the image names where its packages came from.
func writeAptSources(root, sources string) error {
	d := filepath.Join(root, "etc/apt/sources.list.d")
	old, _ := filepath.Glob(filepath.Join(d, "*"))
	for _, p := range append(old, filepath.Join(root, "etc/apt/sources.list")) {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("replacing the image's apt sources: %w", err)
		}
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "debian.sources"), []byte(sources), 0o644); err != nil {
		return fmt.Errorf("writing the image's apt sources: %w", err)
	}
	return nil
}

// Installed reads the package set (name → version) from the rootfs's dpkg
// database.
func Installed(root string) (map[string]string, error) {
	pkgs, err := dpkgstatus.ReadFile(filepath.Join(root, dpkgstatus.Path))
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for n, p := range pkgs {
		got[n] = p.Version
	}
	return got, nil
}

// CheckInstalled fails unless the rootfs holds exactly the locked packages,
// which is the lock's promise: not one more, not one less, no other version.
func CheckInstalled(root string, pins map[string]string) error {
	got, err := Installed(root)
	if err != nil {
		return err
	}
	var problems []string
	for n, v := range pins {
		switch g, ok := got[n]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s=%s is locked but not installed", n, v))
		case g != v:
			problems = append(problems, fmt.Sprintf("%s is %s, lock says %s", n, g, v))
		}
	}
	for n, v := range got {
		if _, ok := pins[n]; !ok {
			problems = append(problems, fmt.Sprintf("%s=%s is installed but not locked", n, v))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("rootfs does not match the lock:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
