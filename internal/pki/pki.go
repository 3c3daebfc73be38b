// Package pki mints and checks the TLS material of a Docker node: a CA, a
// server certificate per host (DNS and IP SANs, serverAuth) and client
// certificates whose common name is the user the authz policy knows. It
// replaces the openssl recipes operators otherwise copy from Docker's docs,
// with modern defaults: ECDSA P-256 (or Ed25519, or RSA on request).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType selects the key algorithm.
type KeyType string

// Supported key types.
const (
	ECDSA   KeyType = "ecdsa-p256"
	Ed25519 KeyType = "ed25519"
	RSA     KeyType = "rsa-3072"
)

// Pair is a certificate and its private key, in PEM.
type Pair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	Key             crypto.Signer
}

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSA, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case RSA:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("unknown key type %q (known: %s, %s, %s)", t, ECDSA, Ed25519, RSA)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, key crypto.Signer) (*Pair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Cert:    cert, Key: key,
	}, nil
}

// NewCA makes a self-signed CA valid for validity.
func NewCA(name string, t KeyType, validity time.Duration, now time.Time) (*Pair, error) {
	key, err := newKey(t)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: name, Organization: []string{"Bulwark"}},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	return sign(tmpl, tmpl, key.Public(), key, key)
}

// NewServer makes a server certificate for a Docker host: serverAuth, with
// every DNS name and IP address it will be reached by as SANs.
func NewServer(ca *Pair, host string, dns []string, ips []net.IP, t KeyType, validity time.Duration, now time.Time) (*Pair, error) {
	return leaf(ca, t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: host},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    append([]string{host}, dns...), IPAddresses: ips,
	})
}

// NewClient makes a client certificate for user (its CN): clientAuth only.
func NewClient(ca *Pair, user string, t KeyType, validity time.Duration, now time.Time) (*Pair, error) {
	if user == "" {
		return nil, errors.New("client certificate needs a user name")
	}
	return leaf(ca, t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: user},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// leaf makes a key of type t and a certificate from tmpl signed by ca.
func leaf(ca *Pair, t KeyType, tmpl *x509.Certificate) (*Pair, error) {
	key, err := newKey(t)
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, err
	}
	return sign(tmpl, ca.Cert, key.Public(), ca.Key, key)
}

// ParseCert parses one PEM certificate.
func ParseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// ParseOnlyCert parses a PEM file that must hold exactly one certificate
// and nothing else. A CA file is one: dockerd trusts every certificate in
// its tlscacert bundle, so a second one appended (another CA's) would make
// that CA's client certificates users of this node while only the first
// was ever checked.
func ParseOnlyCert(b []byte) (*x509.Certificate, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	n := 1
	for r := rest; ; n++ {
		var extra *pem.Block
		if extra, r = pem.Decode(r); extra == nil {
			if len(bytes.TrimSpace(r)) > 0 {
				return nil, errors.New("trailing data after the certificate")
			}
			break
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("holds %d PEM blocks; give exactly one CA certificate (dockerd would trust every certificate in the file)", n)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// ParseKey parses a PEM private key (PKCS#8, PKCS#1 or SEC 1).
func ParseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key (PEM type %s)", blk.Type)
}
