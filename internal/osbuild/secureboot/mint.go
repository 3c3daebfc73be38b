package secureboot

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// MintKeys makes a new key set in dir (which must not hold one): RSA-2048
// PK, KEK and db (the size every UEFI implementation verifies), self-signed
// X.509 certificates named "<name> PK" and so on, valid for validity, and
// the enrollment files PK.auth (signed by PK), KEK.auth (by PK) and db.auth
// (by KEK), made by efitools with one owner GUID, written to dir/GUID.
// Private keys are written 0600; keep PK.key and KEK.key offline, the
// build needs only db.key.
func MintKeys(ctx context.Context, dir, name string, validity time.Duration) error {
	if err := CheckTools("cert-to-efi-sig-list", "sign-efi-sig-list"); err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, "/\n") {
		return fmt.Errorf("secure boot keys: name %q", name)
	}
	if _, err := os.Stat(filepath.Join(dir, "PK.key")); err == nil {
		return fmt.Errorf("secure boot keys: %s already holds a key set; not overwriting it", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var guid [16]byte
	if _, err := rand.Read(guid[:]); err != nil {
		return err
	}
	guid[6] = guid[6]&0x0f | 0x40 // version 4
	guid[8] = guid[8]&0x3f | 0x80
	g := fmt.Sprintf("%x-%x-%x-%x-%x", guid[0:4], guid[4:6], guid[6:8], guid[8:10], guid[10:])
	if err := os.WriteFile(filepath.Join(dir, "GUID"), []byte(g+"\n"), 0o644); err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, v := range []string{"PK", "KEK", "db"} {
		if err := mintCert(dir, v, name+" "+v, now, validity); err != nil {
			return err
		}
	}
	// The signer of each variable: PK signs itself and KEK, KEK signs db.
	signer := map[string]string{"PK": "PK", "KEK": "PK", "db": "KEK"}
	for _, v := range []string{"PK", "KEK", "db"} {
		esl := filepath.Join(dir, v+".esl")
		if err := run(ctx, "cert-to-efi-sig-list", "-g", g, filepath.Join(dir, v+".crt"), esl); err != nil {
			return err
		}
		s := signer[v]
		if err := run(ctx, "sign-efi-sig-list", "-g", g, "-k", filepath.Join(dir, s+".key"), "-c", filepath.Join(dir, s+".crt"),
			v, esl, filepath.Join(dir, v+".auth")); err != nil {
			return err
		}
		os.Remove(esl)
	}
	return nil
}

func mintCert(dir, file, cn string, now time.Time, validity time.Duration) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	ski := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		SubjectKeyId: ski[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, file+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, file+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func run(ctx context.Context, name string, args ...string) error {
	if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(b)))
	}
	return nil
}
