package authz

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestReload: a policy file that fails to load is refused as a whole: the
// policy in force keeps deciding (none of the broken file's good lines is
// taken), and the event names the file and, for a parse error, each
// problem's line and JSON path, which is what the journal then says. A
// good file is taken at once.
func TestReload(t *testing.T) {
	// bob's read-only rule first, then alice's unrestricted one: every
	// broken file below drops alice, so a partly taken file would show.
	const inForce = `{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}
{"name":"admins","users":["alice"],"actions":["*"]}
`
	for _, tc := range []struct {
		name string
		file string // "" removes the file
		want []string
	}{
		{"not JSON", `{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}` + "\n{broken\n",
			[]string{":2: $[1]: not a policy rule"}},
		{"unknown action", `{"name":"auditors","users":["bob"],"actions":["container_lisst"]}` + "\n",
			[]string{":1: $[0].actions[0]:", "container_lisst"}},
		{"two problems", "# comment\n" + `{"name":"a","users":["bob"],"actions":["*"]}` + "\n" + `{"name":"a","users":["bob"],"actions":["*"]}` + "\n",
			[]string{":3: $[1].name: rule name \"a\" is already used on line 2", ":3: $[1].users[0]:"}},
		{"no rules", "# nothing\n", []string{": $: policy has no rules"}},
		{"missing", "", []string{"reading policy: open ", "no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, pol := newTestPlugin(t, inForce)
			var events []ReloadEvent
			p.Event = func(e ReloadEvent) { events = append(events, e) }
			if tc.file == "" {
				os.Remove(pol)
			} else {
				os.WriteFile(pol, []byte(tc.file), 0o644)
			}
			err := p.Reload()
			if err == nil {
				t.Fatal("Reload took a broken policy")
			}
			if tc.file == "" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Reload of a missing file: %v; want fs.ErrNotExist wrapped", err)
			}
			if len(events) != 1 || events[0].Err == nil {
				t.Fatalf("events %+v; want one refusal", events)
			}
			msg := events[0].Message()
			for _, w := range append([]string{"policy " + pol + ": reload refused, the policy loaded before stays in force (2 rules): ", pol}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q\ndoes not say %q", msg, w)
				}
			}
			if r := p.AuthZReq(tlsReq("alice", "POST", "/v1.45/containers/create")); !r.Allow {
				t.Errorf("alice denied after a refused reload (%s): the old policy is no longer in force", r.Msg)
			}
			if r := p.AuthZReq(tlsReq("bob", "POST", "/v1.45/containers/create")); r.Allow {
				t.Error("bob allowed to create after a refused reload")
			}
			// Fixing the file and reloading again takes it.
			os.WriteFile(pol, []byte(`{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}`+"\n"), 0o644)
			if err := p.Reload(); err != nil {
				t.Fatalf("reload of a good file: %v", err)
			}
			if len(events) != 2 || events[1].Err != nil || events[1].Message() != "policy "+pol+": reloaded (1 rules)" {
				t.Errorf("events %+v; want the refusal, then the reload taken with 1 rule", events)
			}
			if r := p.AuthZReq(tlsReq("alice", "GET", "/v1.45/version")); r.Allow || !strings.Contains(r.Msg, `user "alice" is in no policy rule`) {
				t.Errorf("alice after the good reload: allow=%v %q; want denied, in no rule", r.Allow, r.Msg)
			}
		})
	}
}

// TestReloadUnderLoad swaps good and broken policies while requests run
// (go test -race): every request is decided by one whole policy, the
// first or the last good one, never by a broken file or none.
func TestReloadUnderLoad(t *testing.T) {
	first := `{"name":"admins","users":["alice"],"actions":["*"]}` + "\n"
	second := `{"name":"admins","users":["alice"],"actions":["docker_version"]}` + "\n"
	p, pol := newTestPlugin(t, first)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Both policies allow alice's version request.
				if r := p.AuthZReq(tlsReq("alice", "GET", "/v1.45/version")); !r.Allow {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		content := "{broken\n"
		if i%2 == 0 {
			content = []string{first, second}[i/2%2]
		}
		os.WriteFile(pol, []byte(content), 0o644)
		p.Reload()
	}
	close(stop)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d requests denied while policies that allow them were swapped", bad)
	}
}
