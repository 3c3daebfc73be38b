package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func mint(t *testing.T, kt KeyType) (*Pair, *Pair) {
	t.Helper()
	ca, err := NewCA("test CA", kt, 365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ca, "node1", []string{"node1.example"}, []net.IP{net.ParseIP("10.0.0.5")}, kt, 90*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca, srv
}

func TestCheckServerAccepts(t *testing.T) {
	for _, kt := range []KeyType{ECDSA, Ed25519, RSA} {
		t.Run(string(kt), func(t *testing.T) {
			ca, srv := mint(t, kt)
			warn, errs := CheckServer(ServerCheck{CA: ca.CertPEM, Cert: srv.CertPEM, Key: srv.KeyPEM,
				Names: []string{"node1", "node1.example"}, IPs: []net.IP{net.ParseIP("10.0.0.5"), net.IPv4zero}, Now: now, WarnWithin: 30 * 24 * time.Hour})
			if len(errs) > 0 || len(warn) > 0 {
				t.Fatalf("CheckServer: errs %v, warnings %v", errs, warn)
			}
		})
	}
}

func TestCheckServerRejects(t *testing.T) {
	ca, srv := mint(t, ECDSA)
	otherCA, otherSrv := mint(t, ECDSA)
	client, err := NewClient(ca, "alice", ECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	base := ServerCheck{CA: ca.CertPEM, Cert: srv.CertPEM, Key: srv.KeyPEM, Names: []string{"node1"}, Now: now}
	for _, tc := range []struct {
		name   string
		change func(c *ServerCheck)
		want   string
	}{
		{"wrong CA", func(c *ServerCheck) { c.CA = otherCA.CertPEM }, "does not verify against the CA"},
		{"key mismatch", func(c *ServerCheck) { c.Key = otherSrv.KeyPEM }, "key does not match"},
		{"missing DNS SAN", func(c *ServerCheck) { c.Names = []string{"node2"} }, `no SAN for host name "node2"`},
		{"missing IP SAN", func(c *ServerCheck) { c.IPs = []net.IP{net.ParseIP("10.0.0.6")} }, "no SAN for address 10.0.0.6"},
		{"expired", func(c *ServerCheck) { c.Now = now.Add(100 * 24 * time.Hour) }, "expired on"},
		{"client cert as server", func(c *ServerCheck) { c.Cert, c.Key = client.CertPEM, client.KeyPEM; c.Names = nil }, "serverAuth"},
		{"garbage key", func(c *ServerCheck) { c.Key = []byte("nope") }, "server key"},
		{"garbage cert", func(c *ServerCheck) { c.Cert = []byte("nope") }, "server certificate"},
		{"second CA appended", func(c *ServerCheck) { c.CA = append(append([]byte{}, ca.CertPEM...), otherCA.CertPEM...) }, "holds 2 PEM blocks; give exactly one CA certificate"},
		{"garbage after the CA", func(c *ServerCheck) { c.CA = append(append([]byte{}, ca.CertPEM...), "junk"...) }, "trailing data after the certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.change(&c)
			_, errs := CheckServer(c)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Errorf("errors %q do not mention %q", all, tc.want)
			}
		})
	}
	t.Run("expiring soon warns", func(t *testing.T) {
		c := base
		c.WarnWithin = 120 * 24 * time.Hour
		warn, errs := CheckServer(c)
		if len(errs) > 0 || len(warn) == 0 {
			t.Errorf("errs %v, warnings %v; want only a warning", errs, warn)
		}
	})
}

func TestClientCN(t *testing.T) {
	ca, _ := mint(t, ECDSA)
	c, err := NewClient(ca, "bob", ECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cert.Subject.CommonName != "bob" {
		t.Errorf("CN = %q", c.Cert.Subject.CommonName)
	}
	if _, err := NewClient(ca, "", ECDSA, time.Hour, now); err == nil {
		t.Error("NewClient accepted an empty user")
	}
	if _, err := newKey("dsa"); err == nil {
		t.Error("newKey accepted an unknown type")
	}
}

// mintWith signs tmpl with signer (self-signed when parent is nil) for a
// fresh key of the given generator: certificates nodecfg itself would
// never mint, as another tool might.
func mintWith(t *testing.T, tmpl, parent *x509.Certificate, parentKey crypto.Signer, key crypto.Signer) *Pair {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	p, err := sign(tmpl, parent, key.Public(), parentKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rsaKey(t *testing.T, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func caTemplate(validity time.Duration) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: "odd CA"}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
}

func serverTemplate(validity time.Duration) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: "node1"}, DNSNames: []string{"node1"}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true}
}

// TestCheckServerRefusesWeakMaterial: what another tool (openssl with old
// defaults, a copied recipe) might mint is refused at render and apply.
func TestCheckServerRefusesWeakMaterial(t *testing.T) {
	ecKey := func() crypto.Signer { k, _ := newKey(ECDSA); return k }
	good := mintWith(t, caTemplate(365*24*time.Hour), nil, nil, ecKey())
	rsa1024CA := mintWith(t, caTemplate(365*24*time.Hour), nil, nil, rsaKey(t, 1024))
	for _, tc := range []struct {
		name     string
		ca, srv  func() (*Pair, *Pair)
		want     string
		wantNone bool
	}{
		{name: "RSA-1024 CA", ca: func() (*Pair, *Pair) {
			return rsa1024CA, mintWith(t, serverTemplate(90*24*time.Hour), rsa1024CA.Cert, rsa1024CA.Key, ecKey())
		}, want: "CA certificate: RSA key of 1024 bits; at least 2048 are required"},
		{name: "RSA-1024 server key", ca: func() (*Pair, *Pair) {
			return good, mintWith(t, serverTemplate(90*24*time.Hour), good.Cert, good.Key, rsaKey(t, 1024))
		}, want: "server certificate: RSA key of 1024 bits"},
		{name: "server certificate is a CA", ca: func() (*Pair, *Pair) {
			tmpl := serverTemplate(90 * 24 * time.Hour)
			tmpl.IsCA = true
			return good, mintWith(t, tmpl, good.Cert, good.Key, ecKey())
		}, want: "server certificate: is a CA (basicConstraints CA:TRUE)"},
		{name: "server certificate may sign", ca: func() (*Pair, *Pair) {
			tmpl := serverTemplate(90 * 24 * time.Hour)
			tmpl.KeyUsage |= x509.KeyUsageCertSign
			return good, mintWith(t, tmpl, good.Cert, good.Key, ecKey())
		}, want: "server certificate: has keyCertSign"},
		{name: "server valid for an hour", ca: func() (*Pair, *Pair) {
			return good, mintWith(t, serverTemplate(time.Hour), good.Cert, good.Key, ecKey())
		}, want: "server certificate: validity of 1h1m0s is shorter than the minimum of 24h0m0s"},
		{name: "CA valid for an hour", ca: func() (*Pair, *Pair) {
			ca := mintWith(t, caTemplate(time.Hour), nil, nil, ecKey())
			return ca, mintWith(t, serverTemplate(time.Hour), ca.Cert, ca.Key, ecKey())
		}, want: "CA certificate: validity of 1h1m0s"},
		{name: "RSA-2048 everywhere is fine", ca: func() (*Pair, *Pair) {
			ca := mintWith(t, caTemplate(365*24*time.Hour), nil, nil, rsaKey(t, 2048))
			return ca, mintWith(t, serverTemplate(90*24*time.Hour), ca.Cert, ca.Key, rsaKey(t, 2048))
		}, wantNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, srv := tc.ca()
			_, errs := CheckServer(ServerCheck{CA: ca.CertPEM, Cert: srv.CertPEM, Key: srv.KeyPEM, Names: []string{"node1"}, Now: now})
			got := fmt.Sprint(errs)
			if tc.wantNone {
				if len(errs) > 0 {
					t.Errorf("errors %s; want none", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("errors %s; want one containing %q", got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"Bob Smith", true}, {"ci@example.com", true}, {"ops-1_x", true}, {"ünï", true},
		{"", false}, {"../alice", false}, {"a/b", false}, {`a\b`, false}, {".", false}, {"..", false}, {".hidden", false},
		{"-rf", false}, {"a\nb", false}, {"a\x00b", false}, {"tab\there", false}, {" alice", false}, {"\xff", false},
		{strings.Repeat("a", 65), false}, {"a\u200eb", false},
	} {
		t.Run(fmt.Sprintf("client %q", tc.name), func(t *testing.T) {
			if err := CheckClientName(tc.name); (err == nil) != tc.ok {
				t.Errorf("CheckClientName(%q) = %v; want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"node1", true}, {"node1.example.com", true}, {"N-1", true},
		{"", false}, {"../x", false}, {"a..b", false}, {"-a", false}, {"a_b", false}, {"a/b", false}, {strings.Repeat("a", 64), false},
	} {
		t.Run(fmt.Sprintf("host %q", tc.name), func(t *testing.T) {
			if err := CheckHostName(tc.name); (err == nil) != tc.ok {
				t.Errorf("CheckHostName(%q) = %v; want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}
