package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/go-plugins-helpers/authorization"
)

// servePlugin serves p on a unix socket and returns a function that asks
// it about a request, with the JSON dockerd sends.
func servePlugin(t *testing.T, p *Plugin) func(r authorization.Request) (bool, string) {
	t.Helper()
	client := pluginClient(t, p)
	return func(r authorization.Request) (bool, string) {
		body, _ := json.Marshal(r)
		resp, err := client.Post("http://plugin/AuthZPlugin.AuthZReq", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out authorization.Response
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Allow, out.Msg
	}
}

// newTestPlugin writes content as a policy file and loads a plugin from
// it, with decisions and reload events kept out of the journal.
func newTestPlugin(t *testing.T, content string) (*Plugin, string) {
	t.Helper()
	pol := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(pol, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlugin(pol)
	if err != nil {
		t.Fatal(err)
	}
	p.Log, p.Event = nil, nil
	return p, pol
}

// pluginClient serves p on a unix socket for the test's life and returns
// an HTTP client that reaches it, as dockerd does.
func pluginClient(t *testing.T, p *Plugin) *http.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "authz.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go p.Handler().Serve(l)
	t.Cleanup(func() { l.Close() })
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
}

func tlsReq(user, method, uri string) authorization.Request {
	return authorization.Request{User: user, UserAuthNMethod: AuthNTLS, RequestMethod: method, RequestURI: uri}
}

// TestPluginProtocol drives the plugin over a unix socket with the JSON
// dockerd sends, and reloads the policy while requests run.
func TestPluginProtocol(t *testing.T) {
	p, pol := newTestPlugin(t, policy)
	var mu sync.Mutex
	var logged []Decision
	p.Log = func(d Decision) {
		mu.Lock()
		logged = append(logged, d)
		mu.Unlock()
	}
	ask := servePlugin(t, p)
	if ok, msg := ask(tlsReq("alice", "POST", "/v1.45/containers/create")); !ok {
		t.Errorf("alice denied container_create: %s", msg)
	}
	if ok, msg := ask(tlsReq("bob", "POST", "/v1.45/containers/create")); ok || msg == "" {
		t.Errorf("bob: allow=%v msg=%q; want a denial with a reason", ok, msg)
	}
	// Reload under load: every request must be answered.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); ask(tlsReq("alice", "GET", "/containers/json")) }()
	}
	os.WriteFile(pol, []byte(`{"name":"only-bob","users":["bob"],"actions":["*"]}`+"\n"), 0o644)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok, _ := ask(tlsReq("alice", "GET", "/containers/json")); ok {
		t.Error("alice still allowed after the reload removed her")
	}
	// An invalid policy is refused and the current one kept.
	os.WriteFile(pol, []byte("{broken\n"), 0o644)
	if err := p.Reload(); err == nil {
		t.Error("Reload accepted an invalid policy")
	}
	if ok, _ := ask(tlsReq("bob", "POST", "/containers/create")); !ok {
		t.Error("a failed reload changed the policy in force")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) < 24 {
		t.Errorf("logged %d decisions, want one per request", len(logged))
	}
	// The log carries who asked, how, what for, the rule and the reason.
	d := logged[1]
	if d.User != "bob" || d.AuthN != AuthNTLS || d.Method != "POST" || d.URI != "/v1.45/containers/create" || d.Action != "container_create" || d.Rule != "auditors" || d.Allow || d.Reason == "" {
		t.Errorf("logged %+v, want bob's denied container_create with rule and reason", d)
	}
}

// TestPluginUndecodableCall: a call whose body is not a JSON request is
// never allowed. Seen from dockerd when it resends a call whose body a
// dying plugin had already read: its retry sends the spent, empty body.
// The protocol helper then answers 400 and still calls AuthZReq, with an
// empty request, which must be denied, not taken for the local socket.
func TestPluginUndecodableCall(t *testing.T) {
	p, _ := newTestPlugin(t, policy)
	var mu sync.Mutex
	var logged []Decision
	p.Log = func(d Decision) { mu.Lock(); logged = append(logged, d); mu.Unlock() }
	client := pluginClient(t, p)
	for _, tc := range []struct{ name, body string }{{"empty", ""}, {"truncated", "{"}, {"not JSON", "not json"}, {"empty object", "{}"}} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			logged = nil
			mu.Unlock()
			resp, err := client.Post("http://plugin/AuthZPlugin.AuthZReq", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// The answer's last line is the response the plugin encoded.
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			var out authorization.Response
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
				t.Fatalf("answer %d %q: %v", resp.StatusCode, b, err)
			}
			if out.Allow {
				t.Errorf("answer %d %q allows the undecodable call %q", resp.StatusCode, b, tc.body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(logged) != 1 || logged[0].Allow || !strings.Contains(logged[0].Reason, "not a request dockerd sends") {
				t.Errorf("logged %+v; want one denial of a request dockerd never sends", logged)
			}
		})
	}
}
