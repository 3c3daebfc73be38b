//go:build qemu

package qemu_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bulwark/bulwark/internal/nodecfg/render"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/pki"
)

// nodePKI is the TLS material of the node test: a CA with the server and
// alice's and bob's certificates, and a second CA with its own "alice".
type nodePKI struct {
	ca, srv, alice, bob, carol, other, mallory *pki.Pair
	// nobody is from the node's CA, with a SAN and no CN: over TLS it must
	// be denied, never taken for the local socket.
	nobody *pki.Pair
}

const nodeHostname = "bulwark-node"

// The /proc/self/uid_map a container sees: with the floor's userns-remap
// and the image's /etc/subuid (overlays/docker/etc/subuid: dockremap,
// 100000, 65536 ids), and with --userns=host, the host's whole range.
const (
	remappedUIDMap = "0 100000 65536"
	hostUIDMap     = "0 0 4294967295"
)

// nodePolicy is the authz policy both node tests use: alice may do
// anything, bob may read, carol may create and run containers but only
// within the default limits (no privileged, no host paths, ...).
var nodePolicy = []string{
	`{"name":"admins","users":["alice"],"actions":["*"]}`,
	`{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}`,
	`{"name":"builders","users":["carol"],"actions":["docker_ping","docker_version","container_create","container_start","container_wait","container_logs","container_inspect","container_delete"]}`,
}

const nodeSpecYAML = `apiVersion: bulwark.dev/v1alpha1
kind: NodeSpec
hostname: bulwark-node
docker:
  settings: {log-level: info}
  tls:
    listen: [tcp://0.0.0.0:2376]
    ca: ca.pem
    cert: server.pem
    key: server-key.pem
    names: [localhost]
    addresses: [127.0.0.1, 10.0.2.15]
authz:
  rules:
    - {name: admins, users: [alice], actions: ["*"]}
    - {name: auditors, users: [bob], actions: [".*"], readonly: true}
    - {name: builders, users: [carol], actions: [docker_ping, docker_version, container_create, container_start, container_wait, container_logs, container_inspect, container_delete]}
`

// mintNodePKI makes the node test's certificates.
func mintNodePKI(t testing.TB, now time.Time) *nodePKI {
	var p nodePKI
	must := func(x *pki.Pair, err error) *pki.Pair {
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	p.ca = must(pki.NewCA("Bulwark test CA", pki.ECDSA, 48*time.Hour, now))
	p.srv = must(pki.NewServer(p.ca, "bulwark-node", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.15")}, pki.ECDSA, 48*time.Hour, now))
	p.alice = must(pki.NewClient(p.ca, "alice", pki.ECDSA, 48*time.Hour, now))
	p.bob = must(pki.NewClient(p.ca, "bob", pki.ECDSA, 48*time.Hour, now))
	p.other = must(pki.NewCA("Some other CA", pki.ECDSA, 48*time.Hour, now))
	p.mallory = must(pki.NewClient(p.other, "alice", pki.ECDSA, 48*time.Hour, now))
	p.carol = must(pki.NewClient(p.ca, "carol", pki.ECDSA, 48*time.Hour, now))
	p.nobody = noCNClient(t, p.ca, now)
	return &p
}

// noCNClient is a client certificate from ca with a DNS SAN and an empty
// subject: what a CA that issues SAN-only certificates hands out.
func noCNClient(t testing.TB, ca *pki.Pair, now time.Time) *pki.Pair {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), DNSNames: []string{"nobody.example"},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &pki.Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), Key: key}
}

// setupNode mints certificates, renders the node spec with nodecfg's
// renderer (which carries no floor in the config: the node adds it) and
// hands the config to the VM through fw_cfg.
func setupNode(t testing.TB, e *env, r *run) { setupNodeSpec(t, e, r, nodeSpecYAML) }

// setupNodeSpec is setupNode with the node spec spec.
func setupNodeSpec(t testing.TB, e *env, r *run, spec string) {
	now := time.Now()
	p := mintNodePKI(t, now)
	dir := filepath.Join(r.dir, "node")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "ca.pem"), p.ca.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "server.pem"), p.srv.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "server-key.pem"), p.srv.KeyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "node.yaml"), []byte(spec), 0o644)
	s, err := nodespec.Load(filepath.Join(dir, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(s, render.Options{Now: now, UnitFlags: []string{"--containerd=/run/containerd/containerd.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	useConfig(t, r, filepath.Join(dir, "node.ign"), res.JSON, p)
	// The guest's authz load and fault checks talk to dockerd over TLS
	// on loopback as alice (policy: unrestricted).
	for name, data := range map[string][]byte{authzCheckCA: p.ca.CertPEM, authzCheckCert: p.alice.CertPEM, authzCheckKey: p.alice.KeyPEM} {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r.checkFiles[name] = f
	}
}

// Names on the check disk of the CA and the client certificate the guest's
// authz checks use.
const (
	authzCheckCA   = "authz-ca.pem"
	authzCheckCert = "authz-alice.pem"
	authzCheckKey  = "authz-alice-key.pem"
)

func useConfig(t testing.TB, r *run, ign string, raw []byte, p *nodePKI) {
	if err := os.WriteFile(ign, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r.ignition = ign
	r.extra["digest"] = "sha256:" + sha256File(ign)
	r.forwards[2376] = freePort(t)
	r.forwards[7777] = freePort(t)
	r.pki = p
}

// releaseGuest ends the guest's TestWaitForHost: it connects to the
// guest's port 7777 until the guest answers (test/qemu/guest's
// releasedLine). Retried: QEMU's user network accepts a connection for a
// port the guest does not listen on yet, then drops it.
func releaseGuest(t testing.TB, r *run) {
	addr := fmt.Sprintf("127.0.0.1:%d", r.forwards[7777])
	var last error
	for i := 0; i < 60; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "released\n" {
				return
			}
			err = fmt.Errorf("no answer (%q, %v)", line, rerr)
		}
		last = err
		time.Sleep(2 * time.Second)
	}
	t.Errorf("releasing the guest: %v", last)
}

// setupHandWrittenNode writes the node's Ignition config by hand, as a
// person or another tool would, with no nodecfg involved: its daemon.json
// has the listeners and TLS keys and nothing of the floor.
func setupHandWrittenNode(t testing.TB, e *env, r *run) {
	p := mintNodePKI(t, time.Now())
	file := func(path string, mode int, data []byte) string {
		return fmt.Sprintf(`{"path":%q,"overwrite":true,"mode":%d,"contents":{"source":"data:;base64,%s"}}`, path, mode, base64.StdEncoding.EncodeToString(data))
	}
	daemon := `{"hosts": ["unix:///run/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": true,
 "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": "/etc/docker/tls/server-cert.pem", "tlskey": "/etc/docker/tls/server-key.pem",
 "authorization-plugins": ["bulwark-authz"]}`
	files := []string{
		file("/etc/hostname", 0o644, []byte(nodeHostname+"\n")),
		file("/etc/docker/daemon.json", 0o644, []byte(daemon)),
		file("/etc/docker/tls/ca.pem", 0o444, p.ca.CertPEM),
		file("/etc/docker/tls/server-cert.pem", 0o444, p.srv.CertPEM),
		file("/etc/docker/tls/server-key.pem", 0o400, p.srv.KeyPEM),
		file("/etc/bulwark/authz/policy.json", 0o644, []byte(strings.Join(nodePolicy, "\n")+"\n")),
	}
	raw := `{"ignition": {"version": "3.3.0"}, "storage": {"files": [` + strings.Join(files, ",\n") + `]}}`
	dir := filepath.Join(r.dir, "node")
	os.MkdirAll(dir, 0o700)
	useConfig(t, r, filepath.Join(dir, "handwritten.ign"), []byte(raw), p)
}

func tlsConfig(t testing.TB, ca, client *pki.Pair) *tls.Config {
	cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func dockerClient(t testing.TB, addr string, tc *tls.Config) *client.Client {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Minute}
	c, err := client.NewClientWithOpts(client.WithHost("tcp://"+addr), client.WithHTTPClient(hc), client.WithScheme("https"), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkNodeFromHost is the outside view of a configured node: alice runs a
// container over TLS, bob may look but not create, a certificate from
// another CA and a plain TCP client get nothing. It then releases the guest.
func checkNodeFromHost(t testing.TB, e *env, r *run) {
	p := r.pki
	addr := fmt.Sprintf("127.0.0.1:%d", r.forwards[2376])
	defer releaseGuest(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	alice := dockerClient(t, addr, tlsConfig(t, p.ca, p.alice))
	var err error
	for i := 0; i < 30; i++ { // dockerd may still be starting
		if _, err = alice.Ping(ctx); err == nil {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err != nil {
		t.Fatalf("alice: docker ping over TLS: %v", err)
	}
	// A container image made from the static guest check binary: no registry.
	var tarball bytes.Buffer
	bin, err := os.ReadFile(e.guestBin)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "check", Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0)})
	tw.Write(bin)
	tw.Close()
	rc, err := alice.ImageImport(ctx, image.ImportSource{Source: &tarball, SourceName: "-"}, "bulwark/check:test", image.ImportOptions{})
	if err != nil {
		t.Fatalf("alice: image import: %v", err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	// A plain create over TLS gets the floor: the check inside proves it.
	created, err := alice.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test",
		Cmd: []string{"/check", "-test.run", "^TestInContainer$", "-test.v"},
		Env: []string{"BULWARK_IN_CONTAINER=1", "BULWARK_MEMTOTAL=262144", "BULWARK_UID_MAP=" + remappedUIDMap}},
		&container.HostConfig{Resources: container.Resources{Memory: 256 << 20}}, nil, nil, "")
	if err != nil {
		t.Fatalf("alice: container create: %v", err)
	}
	runToEnd(ctx, t, alice, "alice", created.ID)
	t.Logf("host: alice created and ran container %.12s over TLS; inside it: container_t, NoNewPrivs, Bulwark's seccomp profile, lxcfs, uid_map %s", created.ID, remappedUIDMap)
	// An unrestricted rule may still leave the remap for a rootful workload.
	hostNS, err := alice.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test",
		Cmd: []string{"/check", "-test.run", "^TestInContainer$", "-test.v"},
		Env: []string{"BULWARK_IN_CONTAINER=1", "BULWARK_UID_MAP=" + hostUIDMap}},
		&container.HostConfig{UsernsMode: "host"}, nil, nil, "")
	if err != nil {
		t.Fatalf("alice: container create --userns=host: %v", err)
	}
	runToEnd(ctx, t, alice, "alice", hostNS.ID)
	t.Logf("host: alice ran container %.12s with --userns=host: uid_map %s", hostNS.ID, hostUIDMap)

	// carol's rule grants creating containers, within the default limits.
	carol := dockerClient(t, addr, tlsConfig(t, p.ca, p.carol))
	plain, err := carol.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test", Cmd: []string{"/check", "-test.run", "^$"}}, nil, nil, nil, "")
	if err != nil {
		t.Errorf("carol: plain container create: %v; want it allowed", err)
	} else {
		runToEnd(ctx, t, carol, "carol", plain.ID)
	}
	for _, hc := range []struct {
		what string
		hc   *container.HostConfig
	}{
		{"privileged", &container.HostConfig{Privileged: true}},
		{"the host's / bound", &container.HostConfig{Binds: []string{"/:/host"}}},
		{"the host's pid namespace", &container.HostConfig{PidMode: "host"}},
		{"the host's user namespace", &container.HostConfig{UsernsMode: "host"}},
		{"seccomp=unconfined", &container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}},
	} {
		// Denied for what the body asks, not for anything else (a ping the
		// rule lacks would deny too and prove nothing).
		_, err := carol.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test", Cmd: []string{"/check"}}, hc.hc, nil, nil, "")
		if err == nil || !strings.Contains(err.Error(), `rule "builders" limits container_create`) {
			t.Errorf("carol: create with %s: %v; want authorization denied by the rule's limits", hc.what, err)
		} else {
			t.Logf("host: carol's create with %s denied: %v", hc.what, err)
		}
	}
	nobody := dockerClient(t, addr, tlsConfig(t, p.ca, p.nobody))
	if _, err := nobody.ServerVersion(ctx); err == nil || !strings.Contains(err.Error(), "TLS client certificate: empty user") {
		t.Errorf("a certificate without a CN: GET /version: %v; want authorization denied", err)
	} else {
		t.Logf("host: certificate without a CN denied: %v", err)
	}

	bob := dockerClient(t, addr, tlsConfig(t, p.ca, p.bob))
	list, err := bob.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil || len(list) == 0 {
		t.Errorf("bob (read-only): container list = %d containers, %v", len(list), err)
	}
	_, err = bob.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test", Cmd: []string{"/check"}}, nil, nil, nil, "")
	if err == nil || !strings.Contains(err.Error(), "authorization denied") {
		t.Errorf("bob: container create: %v, want authorization denied", err)
	} else {
		t.Logf("host: bob denied as he should be: %v", err)
	}

	mallory := dockerClient(t, addr, tlsConfig(t, p.ca, p.mallory))
	if _, err := mallory.Ping(ctx); err == nil {
		t.Error("a client certificate from another CA was accepted")
	} else {
		t.Logf("host: certificate from another CA refused: %v", err)
	}

	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte("GET /_ping HTTP/1.0\r\n\r\n"))
	got, _ := io.ReadAll(c)
	c.Close()
	if bytes.Contains(got, []byte("HTTP/1")) && bytes.Contains(got, []byte("OK")) {
		t.Errorf("plain TCP client got an HTTP answer: %q", got)
	}
}

// runToEnd starts a container, waits for it and fails the test with its
// output unless it exits 0.
func runToEnd(ctx context.Context, t testing.TB, c *client.Client, who, id string) {
	if err := c.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("%s: container start: %v", who, err)
	}
	waitC, errC := c.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			var out bytes.Buffer
			if rc, err := c.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
				io.Copy(&out, rc)
				rc.Close()
			}
			t.Errorf("%s's container exited %d:\n%s", who, w.StatusCode, out.String())
		}
	case err := <-errC:
		t.Errorf("%s: container wait: %v", who, err)
	}
}

// setupBadNode renders a good config and then swaps in another CA's
// certificate, as a botched provisioning would: nodecfg must refuse it.
func setupBadNode(t testing.TB, e *env, r *run) {
	setupNode(t, e, r)
	raw, err := os.ReadFile(r.ignition)
	if err != nil {
		t.Fatal(err)
	}
	good := "data:;base64," + base64.StdEncoding.EncodeToString(r.pki.ca.CertPEM)
	bad := "data:;base64," + base64.StdEncoding.EncodeToString(r.pki.other.CertPEM)
	if !bytes.Contains(raw, []byte(good)) {
		t.Fatal("rendered config does not carry the CA as expected")
	}
	os.WriteFile(r.ignition, bytes.Replace(raw, []byte(good), []byte(bad), 1), 0o600)
}

// expectFailedClosed: the first-boot unit failed, docker is not running,
// nothing of the config was written, and the console says why.
func expectFailedClosed(t testing.TB, res *result) {
	if res.state != "degraded" || !strings.Contains(res.failed, "nodecfg-firstboot.service") {
		t.Errorf("state %q, failed units %q; want degraded with nodecfg-firstboot.service failed", res.state, res.failed)
	}
	if res.checkExit != "0" {
		t.Errorf("guest checks exited %q:\n    %s", res.checkExit, strings.Join(res.checkOut, "\n    "))
	}
	why := false
	for _, l := range res.console {
		why = why || strings.Contains(l, "does not verify against the CA")
	}
	if !why {
		t.Error("the console does not say why the config was rejected")
	}
}
