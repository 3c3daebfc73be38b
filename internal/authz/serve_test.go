package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/authorization"
)

// TestServe runs the plugin server as `nodecfg authz serve` does: it
// answers on its socket, takes a new policy on SIGHUP, refuses to start on
// a broken policy, and removes its socket when it stops.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(pol, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, pol, dir) }()
	sock := Socket(dir)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	ask := func(r authorization.Request) (bool, error) {
		body, _ := json.Marshal(r)
		resp, err := client.Post("http://plugin/AuthZPlugin.AuthZReq", "application/json", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var out authorization.Response
		err = json.NewDecoder(resp.Body).Decode(&out)
		return out.Allow, err
	}
	alice := tlsReq("alice", "GET", "/v1.45/version")
	var allow bool
	var err error
	for range 200 { // until the socket answers
		if allow, err = ask(alice); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !allow {
		t.Fatalf("alice GET /version: allow=%v err=%v; want allowed", allow, err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: %v, mode %v; want 0600", sock, err, fi.Mode().Perm())
	}
	if allow, _ := ask(tlsReq("bob", "POST", "/v1.45/containers/create")); allow {
		t.Error("bob (read-only) allowed to create a container")
	}

	// A new policy without alice, taken on SIGHUP.
	if err := os.WriteFile(pol, []byte(`{"name":"auditors","users":["bob"],"actions":["docker_.*"],"readonly":true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if allow, err = ask(alice); err == nil && !allow {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if allow || err != nil {
		t.Errorf("after SIGHUP with a policy without alice: allow=%v err=%v; want denied", allow, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Serve returned: %v", err)
	}

	// A policy that does not load: no socket, an error naming the file.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json\n"), 0o644)
	bdir := filepath.Join(dir, "bad-plugins")
	if err := Serve(context.Background(), bad, bdir); err == nil || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Errorf("Serve with a broken policy: %v; want an error naming %s", err, bad)
	}
	if _, err := os.Stat(Socket(bdir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a broken policy left a socket: %v", err)
	}
}
