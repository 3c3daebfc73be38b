//go:build qemu

package qemu_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
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
	ca, srv, alice, bob, other, mallory *pki.Pair
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
`

// setupNode mints certificates, renders the node spec with nodecfg's
// renderer and hands the config to the VM through fw_cfg.
func setupNode(t *testing.T, e *env, r *run) {
	now := time.Now()
	var p nodePKI
	var err error
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
	dir := filepath.Join(r.dir, "node")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "ca.pem"), p.ca.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "server.pem"), p.srv.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "server-key.pem"), p.srv.KeyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "node.yaml"), []byte(nodeSpecYAML), 0o644)
	s, err := nodespec.Load(filepath.Join(dir, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := render.LoadBase(filepath.Join(e.repo, render.BaseDaemonJSON))
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(s, render.Options{Base: base, Now: now, UnitFlags: []string{"--containerd=/run/containerd/containerd.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	ign := filepath.Join(dir, "node.ign")
	os.WriteFile(ign, res.JSON, 0o600)
	r.ignition = ign
	r.extra["digest"] = "sha256:" + sha256File(ign)
	r.forwards[2376] = freePort(t)
	r.forwards[7777] = freePort(t)
	r.pki = &p
}

func tlsConfig(t *testing.T, ca, client *pki.Pair) *tls.Config {
	cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func dockerClient(t *testing.T, addr string, tc *tls.Config) *client.Client {
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
func checkNodeFromHost(t *testing.T, e *env, r *run) {
	p := r.pki
	addr := fmt.Sprintf("127.0.0.1:%d", r.forwards[2376])
	defer func() {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.forwards[7777]), 10*time.Second); err == nil {
			c.Close()
		} else {
			t.Errorf("releasing the guest: %v", err)
		}
	}()
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
	created, err := alice.ContainerCreate(ctx, &container.Config{Image: "bulwark/check:test", Cmd: []string{"/check", "-test.run", "^$"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("alice: container create: %v", err)
	}
	if err := alice.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("alice: container start: %v", err)
	}
	waitC, errC := alice.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Errorf("alice's container exited %d", w.StatusCode)
		}
	case err := <-errC:
		t.Errorf("alice: container wait: %v", err)
	}
	t.Logf("host: alice created and ran container %.12s over TLS", created.ID)

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

// setupBadNode renders a good config and then swaps in another CA's
// certificate, as a botched provisioning would: nodecfg must refuse it.
func setupBadNode(t *testing.T, e *env, r *run) {
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
func expectFailedClosed(t *testing.T, res *result) {
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
