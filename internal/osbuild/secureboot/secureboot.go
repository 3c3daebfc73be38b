// Package secureboot signs an image's boot chain for UEFI Secure Boot and
// carries the key set a machine in setup mode enrolls. A key directory
// (MintKeys, `osbuild secureboot keys`) holds the platform key (PK), key
// exchange key (KEK) and signature database key (db) as PEM certificates
// and keys, and their enrollment files PK.auth, KEK.auth and db.auth
// (authenticated EFI variable updates, made with efitools). A build needs
// only db.key, db.crt and the three .auth files: it signs systemd-boot and
// the UKI with db (sbsign, from sbsigntool) and puts the .auth files on the
// ESP under /loader/keys/auto/, which systemd-boot enrolls by itself when
// loader.conf says secure-boot-enroll and the firmware is in setup mode.
package secureboot

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EnrollDir is where systemd-boot looks for the key set it enrolls
// automatically: only a directory named "auto" is enrolled without a
// menu choice (secure_boot_discover_keys in systemd's boot.c).
const EnrollDir = "/loader/keys/auto"

// LoaderConf is the loader.conf line that makes systemd-boot enroll
// EnrollDir in setup mode. "force" enrolls on real hardware too (after a
// 15 s countdown that a key press aborts); in a VM systemd-boot enrolls at
// once either way.
const LoaderConf = "secure-boot-enroll force\n"

// Variables are the Secure Boot variables of a key set, in the order
// systemd-boot enrolls them (PK last: writing it leaves setup mode).
var Variables = []string{"db", "KEK", "PK"}

// Tools are the host programs signing and key minting use, with the
// Debian packages that bring them.
var Tools = map[string]string{"sbsign": "sbsigntool", "sbverify": "sbsigntool", "faketime": "faketime",
	"cert-to-efi-sig-list": "efitools", "sign-efi-sig-list": "efitools"}

// CheckTools fails naming each missing program and its package.
func CheckTools(names ...string) error {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", n, Tools[n]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("secure boot: missing host programs: %s (make deps installs them)", strings.Join(missing, ", "))
	}
	return nil
}

// Keys is a loaded key directory: what a build signs with and enrolls.
type Keys struct {
	Dir    string
	DBKey  string // PEM private key of db
	DBCert string // PEM certificate of db
	// Auth maps a variable (PK, KEK, db) to its enrollment file.
	Auth map[string]string
}

// LoadKeys reads the key directory dir and checks, before a build writes
// anything, that it can sign and that what it enrolls trusts what it signs:
// db.key matches db.crt, and db.auth carries db.crt. Every problem is
// reported.
func LoadKeys(dir string) (*Keys, error) {
	if err := CheckTools("sbsign", "sbverify", "faketime"); err != nil {
		return nil, err
	}
	k := &Keys{Dir: dir, DBKey: filepath.Join(dir, "db.key"), DBCert: filepath.Join(dir, "db.crt"), Auth: map[string]string{}}
	var errs []error
	pair, err := tls.LoadX509KeyPair(k.DBCert, k.DBKey)
	if err != nil {
		errs = append(errs, fmt.Errorf("db.crt and db.key: %w", err))
	}
	for _, v := range Variables {
		k.Auth[v] = filepath.Join(dir, v+".auth")
		if fi, err := os.Stat(k.Auth[v]); err != nil {
			errs = append(errs, err)
		} else if fi.Size() < 64 {
			errs = append(errs, fmt.Errorf("%s: %d bytes is no authenticated variable", k.Auth[v], fi.Size()))
		}
	}
	if err == nil && len(pair.Certificate) > 0 {
		// An EFI signature list holds each X.509 certificate as DER,
		// verbatim: db.auth must contain db.crt's bytes.
		if auth, rerr := os.ReadFile(k.Auth["db"]); rerr == nil && !bytes.Contains(auth, pair.Certificate[0]) {
			errs = append(errs, fmt.Errorf("%s does not enroll db.crt: the image would be signed by a key the machine does not trust", k.Auth["db"]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("secure boot keys %s: %w", dir, err)
	}
	return k, nil
}

// Sign writes in, signed with db, to out and checks the result with
// sbverify. sbsign puts the signing time into the signature, so it runs
// with the clock held at epoch (libfaketime): the same inputs and key give
// the same bytes, as for every other part of the image. -f passes the time
// as libfaketime's spec verbatim, which without "@" freezes the clock;
// faketime's plain form starts the clock there and lets it run, so two
// signings a second apart differed (seen: a flaky TestSign under load).
func (k *Keys) Sign(ctx context.Context, in, out string, epoch time.Time) error {
	cmd := exec.CommandContext(ctx, "faketime", "-f", epoch.UTC().Format("2006-01-02 15:04:05"),
		"sbsign", "--key", k.DBKey, "--cert", k.DBCert, "--output", out, in)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("signing %s: %w: %s", filepath.Base(in), err, strings.TrimSpace(string(b)))
	}
	return Verify(ctx, out, k.DBCert)
}

// Verify checks that the PE binary at p carries a valid signature by
// cert (sbverify).
func Verify(ctx context.Context, p, cert string) error {
	if b, err := exec.CommandContext(ctx, "sbverify", "--cert", cert, p).CombinedOutput(); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w: %s", filepath.Base(p), cert, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// DBCertDER returns db.crt as DER, for callers that compare certificates.
func (k *Keys) DBCertDER() ([]byte, error) {
	b, err := os.ReadFile(k.DBCert)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", k.DBCert)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", k.DBCert, err)
	}
	return blk.Bytes, nil
}
