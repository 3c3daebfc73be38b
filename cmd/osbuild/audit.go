package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bulwark/bulwark/internal/audit"
	"github.com/bulwark/bulwark/internal/cliparse"
)

const auditUsage = `usage: osbuild audit check --arch A [--root DIR] [-v] FILE|DIR...

Parses audit rule files (auditctl syntax), merges them as augenrules does
from /etc/audit/rules.d, checks system call names for architecture A
(x86_64 or aarch64) and, with --root, that every watched path exists in the
image tree DIR. A directory stands for the rule files in it
that apply to A (NN-name.rules and NN-name.A.rules). With -v, prints the
rules as "auditctl -l" will list them on A.
`

// runAudit runs `osbuild audit SUBCOMMAND ...` and returns the exit code.
func runAudit(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("audit check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage) }
	a := fs.String("arch", "", "target architecture: x86_64 or aarch64")
	root := fs.String("root", "", "image root directory to check watched paths against")
	verbose := fs.Bool("v", false, "print the rules as auditctl -l lists them")
	paths, err := cliparse.Parse(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	if *a == "" || len(paths) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	out, err := auditCheck(*a, *root, paths)
	if err != nil {
		fmt.Fprintf(stderr, "osbuild audit check: %v\n", err)
		var problems audit.Errors
		if errors.As(err, &problems) {
			fmt.Fprintf(stderr, "%d problems\n", len(problems))
		}
		return exitFailed
	}
	if *verbose {
		fmt.Fprint(stdout, out)
	}
	return exitOK
}

// auditCheck parses, validates and (with root) checks the rule files and
// returns their auditctl -l listing.
func auditCheck(target, root string, paths []string) (string, error) {
	// The node loads them merged by augenrules from /etc/audit/rules.d.
	rules, files, err := audit.Load(target, paths...)
	if err != nil {
		return "", err
	}
	var problems audit.Errors
	collect := func(err error) error {
		var es audit.Errors
		if errors.As(err, &es) {
			problems = append(problems, es...)
			return nil
		}
		return err
	}
	if err := collect(audit.Validate(rules, target)); err != nil {
		return "", err
	}
	if root != "" {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("--root %s is not a directory", root)
		}
		if err := collect(audit.Check(rules, os.DirFS(root))); err != nil {
			return "", err
		}
	}
	if len(problems) > 0 {
		// Validate's and Check's problems, read top to bottom per file.
		slices.SortStableFunc(problems, func(x, y *audit.Error) int {
			if c := cmp.Compare(slices.Index(files, x.File), slices.Index(files, y.File)); c != 0 {
				return c
			}
			return cmp.Compare(x.Line, y.Line)
		})
		return "", problems
	}
	return audit.List(rules, target)
}
