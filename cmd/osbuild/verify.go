package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bulwark/bulwark/internal/signedsums"
)

// verifyCmd checks an output directory: SHA256SUMS.gpg against the trusted
// keys, then every file SHA256SUMS lists. It prints one line per file and
// exits 3 naming what failed.
func verifyCmd(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyring := fs.String("keyring", "", "public key file (gpg --export, binary or armored) whose signatures are trusted (default: your gpg keyring)")
	unsigned := fs.Bool("unsigned", false, "check the sums of a directory that has no SHA256SUMS.gpg")
	dir, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	res, err := signedsums.Verify(ctx, dir, signedsums.VerifyOptions{Keyring: *keyring, Unsigned: *unsigned})
	if res != nil {
		if res.Signer != "" {
			fmt.Fprintf(stdout, "%s: good signature by %s\n", signedsums.SignatureFile, res.Signer)
		} else if err == nil {
			fmt.Fprintf(stdout, "%s: none (--unsigned): the sums below prove integrity, not origin\n", signedsums.SignatureFile)
		}
		for _, f := range res.Files {
			if f.Err == nil {
				fmt.Fprintf(stdout, "%s: OK\n", f.Name)
			} else {
				fmt.Fprintf(stdout, "%s: FAILED: %v\n", f.Name, f.Err)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "osbuild: %s: %v\n", dir, err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		if errors.Is(err, signedsums.ErrVerify) {
			return exitCheck
		}
		return exitFailed
	}
	return exitOK
}
