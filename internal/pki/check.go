package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// ServerCheck is what CheckServer needs to know about the node.
type ServerCheck struct {
	CA, Cert, Key []byte   // PEM
	Names         []string // host names clients use; each must be a SAN
	IPs           []net.IP // addresses clients use; each must be a SAN
	Now           time.Time
	// WarnWithin makes a certificate expiring this soon a warning.
	WarnWithin time.Duration
}

// CheckServer verifies a node's server TLS material before it is written:
// the key matches the certificate, the chain verifies to the CA for
// serverAuth, the SANs cover every name and address, nothing has expired,
// every key is strong enough (CheckKey), every certificate is valid for at
// least MinValidity, and the server certificate cannot sign others. It returns every problem (errs) and near-expiry warnings.
func CheckServer(c ServerCheck) (warnings []string, errs []error) {
	ca, err := ParseOnlyCert(c.CA)
	if err != nil {
		return nil, []error{fmt.Errorf("CA certificate: %w", err)}
	}
	cert, err := ParseCert(c.Cert)
	if err != nil {
		return nil, []error{fmt.Errorf("server certificate: %w", err)}
	}
	key, err := ParseKey(c.Key)
	if err != nil {
		errs = append(errs, fmt.Errorf("server key: %w", err))
	} else if !publicKeysEqual(key.Public(), cert.PublicKey) {
		errs = append(errs, errors.New("server key does not match the server certificate"))
	}
	if !ca.IsCA {
		errs = append(errs, errors.New("CA certificate is not a CA (basicConstraints CA:FALSE)"))
	}
	for _, e := range checkCert(ca) {
		errs = append(errs, fmt.Errorf("CA certificate: %w", e))
	}
	for _, e := range append(checkCert(cert), checkLeaf(cert)...) {
		errs = append(errs, fmt.Errorf("server certificate: %w", e))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: c.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		errs = append(errs, fmt.Errorf("server certificate does not verify against the CA for serverAuth: %w", err))
	}
	for _, n := range c.Names {
		if err := cert.VerifyHostname(n); err != nil {
			errs = append(errs, fmt.Errorf("server certificate has no SAN for host name %q (has DNS %v)", n, cert.DNSNames))
		}
	}
	for _, ip := range c.IPs {
		if ip.IsUnspecified() {
			continue
		}
		if err := cert.VerifyHostname(ip.String()); err != nil {
			errs = append(errs, fmt.Errorf("server certificate has no SAN for address %s (has IPs %v)", ip, cert.IPAddresses))
		}
	}
	for _, x := range []struct {
		what string
		c    *x509.Certificate
	}{{"CA certificate", ca}, {"server certificate", cert}} {
		switch {
		case c.Now.After(x.c.NotAfter):
			errs = append(errs, fmt.Errorf("%s expired on %s", x.what, x.c.NotAfter.Format(time.DateOnly)))
		case c.Now.Before(x.c.NotBefore):
			errs = append(errs, fmt.Errorf("%s is not valid before %s", x.what, x.c.NotBefore.Format(time.RFC3339)))
		case c.WarnWithin > 0 && c.Now.Add(c.WarnWithin).After(x.c.NotAfter):
			warnings = append(warnings, fmt.Sprintf("%s expires on %s, within %s", x.what, x.c.NotAfter.Format(time.DateOnly), c.WarnWithin))
		}
	}
	return warnings, errs
}

func publicKeysEqual(a, b any) bool {
	ab, err1 := x509.MarshalPKIXPublicKey(a)
	bb, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}
