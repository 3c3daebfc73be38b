// Package signedsums signs and verifies an output directory's SHA256SUMS
// with a detached OpenPGP signature, SHA256SUMS.gpg, made and checked by
// GnuPG: the scheme systemd-sysupdate verifies its update payloads with, so
// a node and a user check a release with the same tool and keys. The
// builder holds the private key; nodes and users only ever need the public
// key.
package signedsums

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/manifest"
)

// Names of the sums file and its signature in an output directory.
const (
	SumsFile      = "SHA256SUMS"
	SignatureFile = "SHA256SUMS.gpg"
)

// Sum is one line of SHA256SUMS.
type Sum struct {
	SHA256, Name string
}

// ParseSums reads SHA256SUMS lines ("<64 hex>  <name>", sha256sum's text
// and binary forms) and refuses anything else, including names that are
// not plain file names in the directory (a path, "..", a duplicate): a
// sums file must not make a verifier read outside the directory.
func ParseSums(r io.Reader) ([]Sum, error) {
	var out []Sum
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		if len(line) < 67 || (line[64:66] != "  " && line[64:66] != " *") {
			return nil, fmt.Errorf("%s line %d: not \"<sha256>  <file>\"", SumsFile, n)
		}
		sum, name := line[:64], line[66:]
		if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
			return nil, fmt.Errorf("%s line %d: %q is not a lower-case hex SHA256", SumsFile, n, sum)
		}
		if name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || strings.TrimSpace(name) != name || name == "" {
			return nil, fmt.Errorf("%s line %d: %q is not a file name in the directory", SumsFile, n, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s line %d: %s listed twice", SumsFile, n, name)
		}
		seen[name] = true
		out = append(out, Sum{SHA256: sum, Name: name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no files", SumsFile)
	}
	return out, nil
}

// gpg runs gpg in batch mode with home as GNUPGHOME ("" keeps the
// caller's) and returns its status lines and diagnostics.
func gpg(ctx context.Context, home string, args ...string) (status, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--no-tty", "--status-fd", "1"}, args...)...)
	cmd.Env = os.Environ()
	if home != "" {
		cmd.Env = append(cmd.Env, "GNUPGHOME="+home)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), strings.TrimSpace(errb.String()), err
}

// CheckKey fails unless gpg (with the caller's GNUPGHOME) holds the secret
// key key, so a build that would sign finds out before its first write.
func CheckKey(ctx context.Context, key string) error {
	if _, err := exec.LookPath("gpg"); err != nil {
		return fmt.Errorf("signing key %q: gpg is not installed (apt-get install gpg)", key)
	}
	if _, stderr, err := gpg(ctx, "", "--list-secret-keys", "--", key); err != nil {
		return fmt.Errorf("signing key %q: gpg has no secret key of that name (GNUPGHOME=%s): %s", key, os.Getenv("GNUPGHOME"), stderr)
	}
	return nil
}

// ExportPublic returns key's public key as gpg --export writes it: a
// keyring gpg --keyring reads, as systemd-sysupdate's import-pubring.gpg.
func ExportPublic(ctx context.Context, key string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "gpg", "--batch", "--export", "--", key)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil && len(out) == 0 {
		err = errors.New("no public key")
	}
	if err != nil {
		return nil, fmt.Errorf("exporting the public key of %q: %w: %s", key, err, stderr.String())
	}
	return out, nil
}

// Sign writes dir/SHA256SUMS.gpg, a detached binary signature of
// dir/SHA256SUMS by key. The signature carries its own time, so unlike
// every other output it differs between two builds of the same inputs; it
// is not listed in SHA256SUMS.
func Sign(ctx context.Context, dir, key string) error {
	sig := filepath.Join(dir, SignatureFile)
	tmp := sig + ".partial"
	os.Remove(tmp)
	_, stderr, err := gpg(ctx, "", "--local-user", key, "--detach-sign", "--digest-algo", "SHA256", "--output", tmp, filepath.Join(dir, SumsFile))
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("signing %s with %q: %w: %s", SumsFile, key, err, stderr)
	}
	return os.Rename(tmp, sig)
}

// VerifyOptions say what verification trusts.
type VerifyOptions struct {
	// Keyring is a file of public keys (binary or armored, as gpg --export
	// writes them); only signatures by these keys are accepted. Empty
	// means the caller's own gpg keyring.
	Keyring string
	// Unsigned checks the sums of a directory without a signature.
	Unsigned bool
}

// Result says what Verify found: the signer and, per listed file, whether
// its sum matched.
type Result struct {
	Signer string // "<fingerprint> <user id>", "" when unsigned
	Files  []FileResult
}

// FileResult is one file's check.
type FileResult struct {
	Name string
	Err  error // nil: the sum matched
}

// ErrVerify marks a directory that failed verification.
var ErrVerify = errors.New("verification failed")

// Verify checks dir's SHA256SUMS.gpg against the trusted keys and then
// every file SHA256SUMS lists. The error names the signature or each file
// that failed; the Result says what passed.
func Verify(ctx context.Context, dir string, o VerifyOptions) (*Result, error) {
	res := &Result{}
	sumsPath := filepath.Join(dir, SumsFile)
	data, err := os.ReadFile(sumsPath)
	if err != nil {
		return res, fmt.Errorf("%w: %s: %w", ErrVerify, SumsFile, err)
	}
	if _, err := os.Stat(filepath.Join(dir, SignatureFile)); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !o.Unsigned {
			return res, fmt.Errorf("%w: %s: %w (unsigned outputs: --unsigned checks the sums alone)", ErrVerify, SignatureFile, err)
		}
	} else if res.Signer, err = verifySignature(ctx, dir, o.Keyring); err != nil {
		return res, err
	}
	sums, err := ParseSums(bytes.NewReader(data))
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	var failed []string
	for _, s := range sums {
		fr := FileResult{Name: s.Name}
		got, err := manifest.FileDigest(filepath.Join(dir, s.Name))
		switch {
		case err != nil:
			fr.Err = err
		case got != s.SHA256:
			fr.Err = fmt.Errorf("sha256 %s, %s says %s", got, SumsFile, s.SHA256)
		}
		if fr.Err != nil {
			failed = append(failed, s.Name+": "+fr.Err.Error())
		}
		res.Files = append(res.Files, fr)
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%w: %s", ErrVerify, strings.Join(failed, "; "))
	}
	return res, nil
}

// verifySignature checks SHA256SUMS.gpg with gpg, in a throw-away
// GNUPGHOME holding only the keyring's keys when one is given, and returns
// the signer. Only a good signature (VALIDSIG, no BADSIG or ERRSIG) passes.
func verifySignature(ctx context.Context, dir, keyring string) (string, error) {
	home := ""
	if keyring != "" {
		var err error
		if home, err = os.MkdirTemp("", "bulwark-verify-"); err != nil {
			return "", err
		}
		defer func() {
			// gpg may have started an agent for the import; end it.
			kill := exec.Command("gpgconf", "--kill", "all")
			kill.Env = append(os.Environ(), "GNUPGHOME="+home)
			kill.Run()
			os.RemoveAll(home)
		}()
		if _, stderr, err := gpg(ctx, home, "--import", keyring); err != nil {
			return "", fmt.Errorf("%w: keyring %s: %w: %s", ErrVerify, keyring, err, stderr)
		}
	}
	status, stderr, err := gpg(ctx, home, "--verify", filepath.Join(dir, SignatureFile), filepath.Join(dir, SumsFile))
	var signer, uid string
	bad := ""
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, "[GNUPG:] "))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "VALIDSIG":
			if len(f) > 1 {
				signer = f[1]
			}
		case "GOODSIG":
			if len(f) > 2 {
				uid = strings.Join(f[2:], " ")
			}
		case "BADSIG":
			bad = "bad signature (" + SumsFile + " or the signature was changed)"
		case "NO_PUBKEY":
			bad = "signed by a key that is not trusted (" + strings.Join(f[1:], " ") + ")"
		case "ERRSIG":
			if bad == "" {
				bad = "signature could not be checked"
			}
		}
	}
	if err != nil || signer == "" || bad != "" {
		if bad == "" {
			bad = "no valid signature"
		}
		return "", fmt.Errorf("%w: %s: %s: %s", ErrVerify, SignatureFile, bad, stderr)
	}
	return strings.TrimSpace(signer + " " + uid), nil
}
