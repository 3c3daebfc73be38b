package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

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

// auditCheck checks the rule files for target and, with root, against the
// image tree there, and returns their auditctl -l listing.
func auditCheck(target, root string, paths []string) (string, error) {
	var tree fs.FS
	if root != "" {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("--root %s is not a directory", root)
		}
		tree = os.DirFS(root)
	}
	return audit.CheckFiles(target, tree, paths...)
}
