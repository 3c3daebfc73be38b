package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/cliparse"
	"github.com/bulwark/bulwark/internal/seccomp"
)

const seccompUsage = `usage: osbuild seccomp <command> [flags]

Seccomp profiles in Docker's JSON format. Commands:
  validate [--arch A]... FILE...             check profiles (default: every architecture);
                                             prints errors and warnings, fails on errors
  lxc --arch A [--cap CAP]... FILE           print FILE as an LXC lxc.seccomp.profile (version 2)
  bpf --arch A [--cap CAP]... -o OUT FILE    compile FILE into a BPF program for A, written to OUT
  generate [--policies DIR] --out DIR        write default.json and strict.json from DIR
                                             (default policies/seccomp)

lxc and bpf resolve capability-gated rules for Docker's default capabilities
plus each --cap, and minKernel for the kernel the images ship.
`

// seccompCmd runs "osbuild seccomp COMMAND ..." and returns the exit code.
func seccompCmd(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, seccompUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	fs := flag.NewFlagSet("seccomp "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, seccompUsage) }
	var arches, caps seccompList
	fs.Var(&arches, "arch", "target architecture (x86_64 or aarch64)")
	var err error
	switch args[0] {
	case "validate":
		files, perr := cliparse.Parse(fs, args[1:])
		if perr != nil || len(files) == 0 {
			return seccompUsageError(stderr, perr, "expected at least one FILE")
		}
		if !seccompArches(stderr, arches) {
			return exitUsage
		}
		err = seccompValidate(ctx, stdout, arches, files)
	case "lxc", "bpf":
		fs.Var(&caps, "cap", "capability granted besides Docker's defaults, such as CAP_SYS_PTRACE")
		out := fs.String("o", "", "output file (bpf)")
		files, perr := cliparse.Parse(fs, args[1:])
		switch {
		case perr != nil:
			return seccompUsageError(stderr, perr, "")
		case len(files) != 1:
			return seccompUsageError(stderr, nil, "expected exactly one FILE")
		case len(arches) != 1:
			return seccompUsageError(stderr, nil, "expected exactly one --arch")
		case args[0] == "bpf" && *out == "":
			return seccompUsageError(stderr, nil, "-o OUT is required")
		case args[0] == "lxc" && *out != "":
			return seccompUsageError(stderr, nil, "lxc writes to standard output; -o is for bpf")
		case !seccompArches(stderr, arches):
			return exitUsage
		}
		t := seccomp.Target{Arch: arches[0], Caps: append(slices.Clone(seccomp.DockerDefaultCaps), caps...)}
		err = seccompExport(stdout, args[0], files[0], t, *out)
	case "generate":
		policies := fs.String("policies", "policies/seccomp", "directory with additions.json")
		out := fs.String("out", "", "directory to write default.json and strict.json to")
		rest, perr := cliparse.Parse(fs, args[1:])
		if perr != nil || len(rest) > 0 || *out == "" {
			return seccompUsageError(stderr, perr, "expected --out DIR and no arguments")
		}
		err = seccompGenerate(stdout, *policies, *out)
	default:
		fmt.Fprintf(stderr, "osbuild seccomp: unknown command %q\n\n%s", args[0], seccompUsage)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "osbuild seccomp %s: %v\n", args[0], err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		return exitFailed
	}
	return exitOK
}

// seccompUsageError reports a usage problem; the flag package has already
// reported err, if there is one.
func seccompUsageError(stderr io.Writer, err error, msg string) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil && msg != "" {
		fmt.Fprintf(stderr, "osbuild seccomp: %s\n\n%s", msg, seccompUsage)
	}
	return exitUsage
}

// seccompArches checks the --arch values.
func seccompArches(stderr io.Writer, arches []string) bool {
	for _, a := range arches {
		if !slices.Contains(seccomp.Arches(), a) {
			fmt.Fprintf(stderr, "osbuild seccomp: unknown architecture %q (known: %s)\n", a, strings.Join(seccomp.Arches(), ", "))
			return false
		}
	}
	return true
}

// seccompValidate prints every problem in files, one per line, and fails
// when any of them is an error (warnings alone pass).
func seccompValidate(ctx context.Context, stdout io.Writer, arches, files []string) error {
	if len(arches) == 0 {
		arches = seccomp.Arches()
	}
	failed := 0
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := seccomp.Load(f)
		if err != nil {
			fmt.Fprintln(stdout, err)
			failed++
			continue
		}
		r := seccomp.Validate(p, arches)
		for _, pr := range r.Problems {
			fmt.Fprintln(stdout, pr.Error())
		}
		if len(r.Errors()) > 0 {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d profiles have errors", failed, len(files))
	}
	return nil
}

// seccompExport writes file as LXC text to stdout or as BPF to out.
func seccompExport(stdout io.Writer, format, file string, t seccomp.Target, out string) error {
	for _, c := range t.Caps {
		if !seccomp.IsCapability(c) {
			return fmt.Errorf("--cap %s: not a capability (CAP_SYS_PTRACE, ...)", c)
		}
	}
	p, err := seccomp.Load(file)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if format == "lxc" {
		if err := seccomp.WriteLXC(&b, p, t); err != nil {
			return err
		}
		_, err := stdout.Write(b.Bytes())
		return err
	}
	if err := seccomp.CompileBPF(&b, p, t); err != nil {
		return err
	}
	return atomicfile.WriteFile(out, b.Bytes(), 0o644)
}

// seccompGenerate writes the generated profiles into out.
func seccompGenerate(stdout io.Writer, policies, out string) error {
	files, err := seccomp.Generate(policies)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		path := filepath.Join(out, n)
		if err := atomicfile.WriteFile(path, files[n], 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
	}
	return nil
}

// seccompList is a flag that may be given more than once.
type seccompList []string

func (l *seccompList) String() string { return strings.Join(*l, ",") }

func (l *seccompList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
