package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/pki"
	"github.com/bulwark/bulwark/internal/qemu"
)

func TestMarkerFields(t *testing.T) {
	tests := []struct {
		line, marker string
		want         map[string]string
	}{
		{"[  OK  ] x BULWARK-BENCH-MULTI-USER uptime=71.42", markerMultiUser, map[string]string{"uptime": "71.42"}},
		{"BULWARK-BENCH-RUNNING state=degraded uptime=80.1 failed=a.service,b.service", markerRunning,
			map[string]string{"state": "degraded", "uptime": "80.1", "failed": "a.service,b.service"}},
		{"BULWARK-BENCH-RUNNING state=running uptime=80.1 failed=", markerRunning, map[string]string{"state": "running", "uptime": "80.1", "failed": ""}},
		{"no marker here", markerRunning, map[string]string{}},
	}
	for _, tc := range tests {
		got := markerFields(tc.line, tc.marker)
		if len(got) != len(tc.want) {
			t.Errorf("markerFields(%q) = %v; want %v", tc.line, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("markerFields(%q)[%s] = %q; want %q", tc.line, k, got[k], v)
			}
		}
	}
}

func TestMarkerList(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"x BULWARK-BENCH-BLAME 16.503s nodecfg-firstboot.service;1min 2.1s docker.service;  812ms  lxcfs.service",
			[]string{"16.503s nodecfg-firstboot.service", "1min 2.1s docker.service", "812ms lxcfs.service"}},
		{"BULWARK-BENCH-BLAME ", nil},
		{"no marker", nil},
	}
	for _, tc := range tests {
		if got := markerList(tc.line, markerBlame); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("markerList(%q) = %q; want %q", tc.line, got, tc.want)
		}
	}
}

func TestBenchCredentials(t *testing.T) {
	c := benchCredentials()
	if len(c) != 2 || c[0].Name != "systemd.extra-unit.bulwark-bench.service" || c[1].Name != "systemd.unit-dropin.multi-user.target" {
		t.Fatalf("credentials %v", c)
	}
	unit := string(c[0].Value)
	for _, want := range []string{"After=multi-user.target", "Type=exec", markerMultiUser, markerRunning, markerAnalyze, markerBlame, markerChain, markerCPU,
		"is-system-running --wait", "systemd-analyze blame", "critical-chain", "StandardOutput=file:/dev/virtio-ports/" + qemu.ReportPort} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
}

// TestPollTLS serves /_ping over mutual TLS with the example node's kind
// of certificates, starting late, and checks the poller reports it.
func TestPollTLS(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("bench CA", pki.ECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.NewServer(ca, "node", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, pki.ECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := pki.NewClient(ca, "alice", pki.ECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "client-alice.pem": alice.CertPEM, "client-alice-key.pem": alice.KeyPEM} {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	b := &bench{o: &Options{PKI: dir}}
	tc, err := b.tlsClient()
	if err != nil {
		t.Fatal(err)
	}
	port, err := qemu.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	// The server records when it first answered and how many pings it
	// served, so the poller is judged against the server's own progress,
	// not against a wall-clock limit.
	var mu sync.Mutex
	var answeredAt time.Time
	served := 0
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" && len(r.TLS.PeerCertificates) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "alice" {
			mu.Lock()
			served++
			if answeredAt.IsZero() {
				answeredAt = time.Now()
			}
			mu.Unlock()
			w.Write([]byte("OK"))
			return
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	got := make(chan time.Duration, 1)
	go pollTLS(ctx, port, tc, start, got)
	time.Sleep(600 * time.Millisecond) // dockerd is not up yet
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = l
	s.StartTLS()
	defer s.Close()
	select {
	case d := <-got:
		mu.Lock()
		defer mu.Unlock()
		if answered := answeredAt.Sub(start); answeredAt.IsZero() || d < answered {
			t.Errorf("poller reported %s; want it at or after the server's first answer (%s)", d, answered)
		}
		if served != 1 {
			t.Errorf("server answered %d pings; want 1 (the poller reports the first answer and stops)", served)
		}
	case <-ctx.Done():
		t.Fatal("the poller never saw the TLS answer")
	}
}

func TestBootTimeout(t *testing.T) {
	if bootTimeout("x86_64", false) < 5*time.Minute || bootTimeout("aarch64", false) <= bootTimeout("x86_64", false) || bootTimeout("x86_64", true) >= bootTimeout("x86_64", false) {
		t.Error("boot timeouts must cover the measured TCG boots, longer for aarch64, shorter with KVM")
	}
}

// TestCPUScript runs the CPU marker's script under dash with a fake
// systemctl printing blocks the way systemd 257 does (CPUUsageNSec before
// Id, "[not set]" for a unit without accounting) and a unit list that
// starts with "-.mount", which once made systemctl show fail outright.
func TestCPUScript(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Skip("no dash")
	}
	dir := t.TempDir()
	fake := `#!/bin/sh
case "$1" in
list-units) printf -- '-.mount loaded active mounted Root\na.service loaded active running A\nb.service loaded inactive dead B\nc.service loaded inactive dead C\n';;
show) shift 5; [ "$1" = "--" ] || { echo "option-like unit name: $1" >&2; exit 1; }
  printf 'CPUUsageNSec=500000000\nId=c.service\n\nCPUUsageNSec=[not set]\nId=b.service\n\nCPUUsageNSec=15438175000\nId=a.service\n';;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dash", "-c", cpuScript)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		t.Fatalf("want totals, PID1, kernel threads and two units, got:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "user=") || !strings.HasSuffix(lines[1], "s PID1") || !strings.HasSuffix(lines[2], "s kernel-threads") {
		t.Errorf("totals:\n%s", out)
	}
	if lines[3] != "15.44s a.service" || lines[4] != "0.50s c.service" {
		t.Errorf("units, busiest first, want 15.44s a.service then 0.50s c.service:\n%s", out)
	}
}
