package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestPluginProtocol drives the plugin over a unix socket with the JSON
// dockerd sends, and reloads the policy while requests run.
func TestPluginProtocol(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.json")
	os.WriteFile(pol, []byte(policy), 0o644)
	p, err := NewPlugin(pol)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	p.Log = func(d Decision, user, method, uri string) {
		mu.Lock()
		logged = append(logged, user+" "+d.Action)
		mu.Unlock()
	}
	sock := filepath.Join(dir, "authz.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go p.Handler().Serve(l)
	defer l.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	ask := func(user, method, uri string) (bool, string) {
		body, _ := json.Marshal(map[string]any{"User": user, "RequestMethod": method, "RequestUri": uri})
		resp, err := client.Post("http://plugin/AuthZPlugin.AuthZReq", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Allow bool
			Msg   string
		}
		json.NewDecoder(resp.Body).Decode(&r)
		return r.Allow, r.Msg
	}
	if ok, _ := ask("alice", "POST", "/v1.45/containers/create"); !ok {
		t.Error("alice denied container_create")
	}
	if ok, msg := ask("bob", "POST", "/v1.45/containers/create"); ok || msg == "" {
		t.Errorf("bob: allow=%v msg=%q; want a denial with a reason", ok, msg)
	}
	// Reload under load: every request must be answered.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); ask("alice", "GET", "/containers/json") }()
	}
	os.WriteFile(pol, []byte(`{"name":"only-bob","users":["bob"],"actions":["*"]}`+"\n"), 0o644)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok, _ := ask("alice", "GET", "/containers/json"); ok {
		t.Error("alice still allowed after the reload removed her")
	}
	// An invalid policy is refused and the current one kept.
	os.WriteFile(pol, []byte("{broken\n"), 0o644)
	if err := p.Reload(); err == nil {
		t.Error("Reload accepted an invalid policy")
	}
	if ok, _ := ask("bob", "POST", "/containers/create"); !ok {
		t.Error("a failed reload changed the policy in force")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) < 24 {
		t.Errorf("logged %d decisions, want one per request", len(logged))
	}
}
