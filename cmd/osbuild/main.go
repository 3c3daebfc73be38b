// Command osbuild builds Bulwark's immutable container-host disk images from
// a declarative spec in images/. See `osbuild help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bulwark/bulwark/internal/cliparse"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild"
	"github.com/bulwark/bulwark/internal/osbuild/inspect"
	"github.com/bulwark/bulwark/internal/qemu"
)

// Exit codes, stable for scripts.
const (
	exitOK     = 0
	exitFailed = 1 // the work itself failed
	exitUsage  = 2 // bad flags or arguments
	exitCheck  = 3 // inspect found the image inconsistent, or verify refused a directory
	// exitOutdated: `lock --check` found locked packages the archive has
	// newer versions of.
	exitOutdated = 4
	exitCancel   = 130
)

const usage = `usage: osbuild <command> [flags]

commands:
  lock SPEC                      resolve SPEC's packages to exact versions in SPEC.lock
                                 (--check: write nothing, list locked packages the archive
                                 has newer versions of, security updates marked; exit 4 if any)
  fetch SPEC [--arch A]          download every locked package into the package cache, verified
                                 (--lock as for build), e.g. before building offline
  build SPEC --arch A --out DIR  build DIR/<name>-<A>.raw (and .qcow2), manifest.json, SHA256SUMS
                                 (--lock strict|refresh: when the archive and the package cache
                                 both lack a locked package, fail (default) or relock and go on)
                                 (--sign-key KEY: sign SHA256SUMS into SHA256SUMS.gpg with gpg's KEY)
                                 (--secureboot-keys DIR: sign systemd-boot and the UKI with DIR's db
                                 key and put its PK/KEK/db.auth on the ESP for enrollment)
                                 (--image-version V: the version sysupdate compares; default: the
                                 spec's version:, else the lock's date)
                                 (--extra-tree DIR: lay DIR over the tree after the spec's overlays)
  secureboot keys --out DIR      mint a Secure Boot key set (PK, KEK, db and their .auth files)
  verify DIR                     check DIR/SHA256SUMS.gpg and every file SHA256SUMS lists; exit 3
                                 naming what fails (--keyring FILE: trust only these public keys;
                                 --unsigned: sums only, for a directory built without --sign-key)
  inspect IMAGE.raw              print partitions, UKI command line, verity hash; check the tree
  boot IMAGE --arch A            boot IMAGE in QEMU on a throw-away overlay, console here
                                 (--ignition FILE passes a config through fw_cfg; Ctrl-A X quits)
                                 (KVM if a short probe boots its firmware, else TCG;
                                 BULWARK_ACCEL=kvm|tcg decides without the probe)
  audit check --arch A FILE...   check audit rule files for A (--root DIR: watched paths exist; -v lists them)
  seccomp CMD [flags] FILE...    validate seccomp profiles, export them as LXC text or BPF, generate them
  labels IMAGE PATH...           print the SELinux labels of PATHs in IMAGE, offline (--policy-check, --json)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var err error
	switch args[0] {
	case "lock":
		fs := flag.NewFlagSet("lock", flag.ContinueOnError)
		cache := fs.String("cache", ".cache", "cache directory")
		check := fs.Bool("check", false, "write nothing; list locked packages the archive has newer versions of (exit 4 if any)")
		spec, perr := parse(fs, args[1:])
		if perr != nil {
			return exitUsage
		}
		if *check {
			return lockCheck(ctx, spec, *cache)
		}
		_, err = osbuild.Lock(ctx, osbuild.LockOptions{SpecPath: spec, CacheDir: *cache, Stdout: os.Stdout})
	case "build":
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		a := fs.String("arch", "x86_64", "target architecture: x86_64 or aarch64")
		out := fs.String("out", "out", "output directory")
		cache := fs.String("cache", ".cache", "cache directory (downloads, assembled rootfs)")
		keep := fs.Bool("keep-work", false, "keep the work directory for debugging")
		signKey := fs.String("sign-key", "", "gpg secret key (from GNUPGHOME) that signs SHA256SUMS into SHA256SUMS.gpg; empty: unsigned")
		version := fs.String("image-version", "", "the image's version (os-release IMAGE_VERSION, compared by systemd-sysupdate); default: the spec's version, else the lock's date")
		sbKeys := fs.String("secureboot-keys", "", "Secure Boot key directory (osbuild secureboot keys): sign the boot chain, enroll on first boot; empty: unsigned")
		var trees stringList
		fs.Var(&trees, "extra-tree", "a directory laid over the tree after the spec's overlays (repeatable, in order)")
		mode := osbuild.LockStrict
		fs.Var(&mode, "lock", "when a locked package is in neither the archive nor the package cache: strict (fail, naming each) or refresh (relock, print what moved, go on)")
		spec, perr := parse(fs, args[1:])
		if perr != nil {
			return exitUsage
		}
		_, err = osbuild.Build(ctx, osbuild.BuildOptions{SpecPath: spec, Arch: *a, OutDir: *out, CacheDir: *cache, KeepWork: *keep, Lock: mode, SignKey: *signKey, ImageVersion: *version, SecureBootKeys: *sbKeys, ExtraTrees: trees, Stdout: os.Stdout})
	case "fetch":
		fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
		a := fs.String("arch", "", "only this architecture (default: every one the spec lists)")
		cache := fs.String("cache", ".cache", "cache directory")
		mode := osbuild.LockStrict
		fs.Var(&mode, "lock", "strict or refresh, as for build")
		spec, perr := parse(fs, args[1:])
		if perr != nil {
			return exitUsage
		}
		var arches []string
		if *a != "" {
			arches = []string{*a}
		}
		err = osbuild.Fetch(ctx, osbuild.FetchOptions{SpecPath: spec, Arches: arches, CacheDir: *cache, Lock: mode, Stdout: os.Stdout})
	case "inspect":
		fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
		noVerify := fs.Bool("no-verify", false, "skip checking the verity tree against USR-A")
		img, perr := parse(fs, args[1:])
		if perr != nil {
			return exitUsage
		}
		err = inspect.Run(os.Stdout, img, !*noVerify)
		if errors.Is(err, inspect.ErrInconsistent) {
			fmt.Fprintf(os.Stderr, "osbuild: %v\n", err)
			return exitCheck
		}
	case "audit":
		return runAudit(os.Stdout, os.Stderr, args[1:])
	case "seccomp":
		return seccompCmd(ctx, os.Stdout, os.Stderr, args[1:])
	case "labels":
		return labelsCmd(ctx, os.Stdout, os.Stderr, args[1:])
	case "verify":
		return verifyCmd(ctx, os.Stdout, os.Stderr, args[1:])
	case "secureboot":
		return secureBootCmd(ctx, os.Stdout, os.Stderr, args[1:])
	case "boot":
		fs := flag.NewFlagSet("boot", flag.ContinueOnError)
		a := fs.String("arch", "x86_64", "image architecture")
		ign := fs.String("ignition", "", "Ignition config passed as fw_cfg opt/com.coreos/config")
		ssh := fs.Int("ssh-port", 2222, "host port (on 127.0.0.1) forwarded to the guest's SSH")
		docker := fs.Int("docker-port", 2376, "host port (on 127.0.0.1) forwarded to the guest's Docker TLS port")
		img, perr := parse(fs, args[1:])
		if perr != nil {
			return exitUsage
		}
		err = boot(ctx, img, *a, *ign, *ssh, *docker)
	default:
		fmt.Fprintf(os.Stderr, "osbuild: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "osbuild: %v\n", err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		return exitFailed
	}
	return exitOK
}

// lockCheck prints the locked packages the archive has newer versions of.
func lockCheck(ctx context.Context, spec, cache string) int {
	var log strings.Builder
	outdated, err := osbuild.CheckLock(ctx, osbuild.LockOptions{SpecPath: spec, CacheDir: cache, Stdout: &log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%sosbuild: %v\n", log.String(), err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		return exitFailed
	}
	if len(outdated) == 0 {
		fmt.Printf("osbuild: %s: every locked package is the newest the archive offers\n", spec)
		return exitOK
	}
	security := 0
	for _, c := range outdated {
		fmt.Printf("  %s\n", c)
		if imagespec.SecuritySuite(c.New.Suite) {
			security++
		}
	}
	fmt.Printf("osbuild: %s: %d locked package(s) are older than the archive's (%d security update(s)); run `osbuild lock %s`\n", spec, len(outdated), security, spec)
	return exitOutdated
}

// boot runs the image interactively on an overlay in a temp directory.
func boot(ctx context.Context, img, arch, ign string, sshPort, dockerPort int) error {
	accel, err := qemu.Accel(ctx, arch)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, accel)
	dir, err := os.MkdirTemp("", "bulwark-boot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := qemu.Prepare(ctx, qemu.Machine{Arch: arch, KVM: accel.KVM, Ignition: ign}, img, dir, "16G")
	if err != nil {
		return err
	}
	c.Forwards = []qemu.Forward{{Host: sshPort, Guest: 22}, {Host: dockerPort, Guest: 2376}}
	speed := "TCG emulation: expect a minute or more to boot"
	if c.KVM {
		speed = "KVM"
	}
	fmt.Fprintf(os.Stderr, "osbuild: booting %s (%s) with %s; ssh on 127.0.0.1:%d, docker on 127.0.0.1:%d; Ctrl-A X quits\n", img, arch, speed, sshPort, dockerPort)
	return qemu.RunInteractive(ctx, c)
}

// parse parses flags that may come before or after the one positional arg.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := cliparse.Parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "osbuild %s: expected exactly one argument, got %d\n", fs.Name(), len(pos))
		return "", errors.New("usage")
	}
	return pos[0], nil
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
