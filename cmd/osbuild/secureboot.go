package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bulwark/bulwark/internal/osbuild/secureboot"
)

// secureBootCmd handles `osbuild secureboot keys`: it mints a Secure Boot
// key set for `osbuild build --secureboot-keys`.
func secureBootCmd(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 || args[0] != "keys" {
		fmt.Fprintln(stderr, "usage: osbuild secureboot keys --out DIR [--name NAME] [--years N]")
		return exitUsage
	}
	fs := flag.NewFlagSet("secureboot keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the new key set (must not hold one)")
	name := fs.String("name", "Bulwark", "name in the certificates' subjects (\"<name> PK\", ...)")
	years := fs.Int("years", 10, "validity of the certificates, in years")
	if err := fs.Parse(args[1:]); err != nil || *out == "" || fs.NArg() != 0 || *years < 1 {
		fmt.Fprintln(stderr, "usage: osbuild secureboot keys --out DIR [--name NAME] [--years N]")
		return exitUsage
	}
	if err := secureboot.MintKeys(ctx, *out, *name, time.Duration(*years)*365*24*time.Hour); err != nil {
		fmt.Fprintf(stderr, "osbuild: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "osbuild: key set in %s: PK, KEK, db (.key, .crt, .auth). A build needs db.key, db.crt and the three .auth files; keep PK.key and KEK.key offline.\n", *out)
	return exitOK
}
