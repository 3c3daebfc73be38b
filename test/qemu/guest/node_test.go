//go:build guest

package guest

import (
	"bufio"
	"encoding/json"
	"flag"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

var (
	wantDigest = flag.String("nodecfg-digest", "", "digest of the Ignition config nodecfg must have applied")
	hostWait   = flag.Duration("host-wait", 10*time.Minute, "how long TestWaitForHost waits for the host")
)

// TestNodecfgApplied checks the first-boot record and the modes of the
// TLS material nodecfg wrote.
func TestNodecfgApplied(t *testing.T) {
	b, err := os.ReadFile("/var/lib/bulwark/nodecfg/applied.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Digest, Source string }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Digest != *wantDigest || !strings.HasPrefix(rec.Source, "fw_cfg") {
		t.Errorf("applied %s from %s, want %s from fw_cfg", rec.Digest, rec.Source, *wantDigest)
	}
	for p, mode := range map[string]os.FileMode{"/etc/docker/tls/server-key.pem": 0o400, "/etc/docker/tls/server-cert.pem": 0o444, "/etc/docker/tls/ca.pem": 0o444} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", p, fi.Mode().Perm(), mode)
		}
	}
}

// TestDockerUnixSocket checks that root still reaches dockerd on the local
// socket, which carries no TLS user and is allowed by the policy.
func TestDockerUnixSocket(t *testing.T) {
	c, err := net.DialTimeout("unix", "/run/docker.sock", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Errorf("GET /_ping on /run/docker.sock: %q, %v", status, err)
	}
}

// TestWaitForHost holds the guest up until the host has run its checks
// against it and connects to port 7777 to release it.
func TestWaitForHost(t *testing.T) {
	l, err := net.Listen("tcp", ":7777")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(*hostWait))
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("the host never released the guest: %v", err)
	}
	c.Close()
}
