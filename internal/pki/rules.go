package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Minimums for every key and certificate nodecfg mints or lets a node use.
const (
	// MinRSABits: RSA below 2048 bits is factorable with public effort
	// (RSA-1024 is deprecated by NIST SP 800-131A since 2013).
	MinRSABits = 2048
	// MinValidity: a certificate valid for less than a day expires
	// between provisioning and the node's first boot, or soon after.
	MinValidity = 24 * time.Hour
	// maxNameLen is X.520's upper bound on a common name (ub-common-name).
	maxNameLen = 64
)

// CheckKey refuses public keys too weak to trust: RSA below MinRSABits,
// ECDSA on curves other than P-256, P-384 and P-521, and unknown types.
func CheckKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return fmt.Errorf("RSA key of %d bits; at least %d are required", n, MinRSABits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("ECDSA key on curve %s; use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// CheckValidity refuses validity periods shorter than MinValidity.
func CheckValidity(d time.Duration) error {
	if d < MinValidity {
		return fmt.Errorf("validity of %s is shorter than the minimum of %s", d, MinValidity)
	}
	return nil
}

// checkLeaf refuses a server or client certificate that could sign other
// certificates (CA:TRUE or keyCertSign): its key sits on a node, and with
// either a stolen key would mint certificates a lax client might accept.
func checkLeaf(c *x509.Certificate) []error {
	var errs []error
	if c.IsCA {
		errs = append(errs, errors.New("is a CA (basicConstraints CA:TRUE); a leaf must be CA:FALSE"))
	}
	if c.KeyUsage&x509.KeyUsageCertSign != 0 {
		errs = append(errs, errors.New("has keyCertSign in its key usage; a leaf must not sign certificates"))
	}
	return errs
}

// checkCert applies the rules every certificate shares: a strong key and a
// validity period of at least MinValidity.
func checkCert(c *x509.Certificate) []error {
	var errs []error
	if err := CheckKey(c.PublicKey); err != nil {
		errs = append(errs, err)
	}
	if err := CheckValidity(c.NotAfter.Sub(c.NotBefore)); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// CheckHostName refuses a server name that is not a DNS host name: the
// certs command names the server's files after it.
func CheckHostName(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host name %q: must be 1 to 253 characters", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host name %q: label %q is empty, longer than 63 or starts or ends with '-'", h, label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("host name %q: %q is not a letter, digit or '-'", h, r)
			}
		}
	}
	return nil
}

// CheckClientName refuses a client name that cannot be a certificate's
// common name and a file name at once: the authz policy matches users by
// CN, and the certs command names the client's files after it, so it must
// be printable, at most 64 characters, and no path (no '/', '\', "." or
// "..", nothing hidden).
func CheckClientName(n string) error {
	switch {
	case n == "":
		return errors.New("client name is empty")
	case len(n) > maxNameLen:
		return fmt.Errorf("client name %q: longer than %d bytes (X.520's limit for a common name)", n, maxNameLen)
	case !utf8.ValidString(n):
		return fmt.Errorf("client name %q: not UTF-8", n)
	case strings.ContainsAny(n, `/\`):
		return fmt.Errorf("client name %q: contains a path separator (its files are named after it)", n)
	case strings.HasPrefix(n, ".") || strings.HasPrefix(n, "-"):
		return fmt.Errorf("client name %q: starts with '.' or '-'", n)
	case strings.TrimSpace(n) != n:
		return fmt.Errorf("client name %q: leading or trailing white space", n)
	}
	for _, r := range n {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("client name %q: contains the control or unprintable character %U", n, r)
		}
	}
	return nil
}
