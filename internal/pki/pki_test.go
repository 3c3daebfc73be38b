package pki

import (
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
