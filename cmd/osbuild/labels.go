package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bulwark/bulwark/internal/cliparse"
	"github.com/bulwark/bulwark/internal/osbuild/labels"
)

const labelsUsage = `usage: osbuild labels [flags] IMAGE.raw PATH...

Print the SELinux label of each PATH in IMAGE, offline, as PATH<TAB>LABEL.
PATHs are absolute and seen as on the booted node: ROOT at /, USR-A on /usr.
A final symlink is not followed: a link has a label of its own. Fails when a
PATH is missing or has no label, and with
  --expect-type T   when a label's type is not T (dockerd_exec_t, ...)
  --policy-check    when a label is not what the image's own file_contexts
                    gives for the path (needs matchpathcon: selinux-utils)
  --json            print a JSON array of {"path", "resolved", "class",
                    "label", "policy", "error"} instead
`

// labelsCmd runs "osbuild labels IMAGE PATH..." and returns the exit code.
func labelsCmd(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stderr, labelsUsage)
		return exitOK
	}
	fs := flag.NewFlagSet("labels", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, labelsUsage) }
	var opt labels.Options
	fs.StringVar(&opt.ExpectType, "expect-type", "", "fail when a label's type is not `T`")
	fs.BoolVar(&opt.Policy, "policy-check", false, "fail when a label differs from the image's file_contexts")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := cliparse.Parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) < 2 {
		fmt.Fprintf(stderr, "osbuild labels: expected IMAGE and at least one PATH\n\n%s", labelsUsage)
		return exitUsage
	}
	res, err := labels.Check(ctx, pos[0], pos[1:], opt)
	if err != nil {
		fmt.Fprintf(stderr, "osbuild labels: %v\n", err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		return exitFailed
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
	}
	if *asJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "osbuild labels: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, r := range res {
			if r.Label != "" {
				fmt.Fprintf(stdout, "%s\t%s\n", r.Path, r.Label)
			}
			if r.Err != nil {
				fmt.Fprintf(stderr, "osbuild labels: %s\n", r.Error)
			}
		}
	}
	if failed > 0 {
		if !*asJSON {
			fmt.Fprintf(stderr, "osbuild labels: %d of %d paths failed\n", failed, len(res))
		}
		return exitFailed
	}
	return exitOK
}
