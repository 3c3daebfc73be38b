package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestAuthzCheck runs `nodecfg authz check` and `validate --policy` as a
// user would and checks the exit codes (0 allow, 3 deny, 2 usage, 1 bad
// policy). The decisions themselves are internal/authz's TestMatrix, which
// runs every request through both this command's input and the plugin.
func TestAuthzCheck(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.json")
	os.WriteFile(pol, []byte(`{"name":"admins","users":["alice"],"actions":["*"]}
{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}
{"name":"runners","users":["carol"],"actions":["container_(create|start|logs)"],"binds":["/srv/data"]}
`), 0o644)
	priv := filepath.Join(dir, "privileged.json")
	os.WriteFile(priv, []byte(`{"Image":"busybox","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`), 0o644)
	plain := filepath.Join(dir, "plain.json")
	os.WriteFile(plain, []byte(`{"Image":"busybox","HostConfig":{"Binds":["/srv/data/app:/app"]}}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"x","users":["y"],"actions":["container_list)|(.*"]}`), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"read-only logs by action", []string{"--user", "bob", "--action", "container_logs"}, exitOK},
		{"read-only logs by URI", []string{"--user", "bob", "--method", "GET", "--uri", "/v1.45/containers/c1/logs?stdout=1"}, exitOK},
		{"read-only attach stdin", []string{"--user", "bob", "--method", "GET", "--uri", "/v1.45/containers/c1/attach/ws?stdin=1"}, exitDenied},
		{"restricted plain create", []string{"--user", "carol", "--action", "container_create", "--body", plain}, exitOK},
		{"restricted privileged create", []string{"--user", "carol", "--action", "container_create", "--body", priv}, exitDenied},
		{"restricted create without body", []string{"--user", "carol", "--action", "container_create"}, exitDenied},
		{"admin privileged create", []string{"--user", "alice", "--method", "POST", "--uri", "/v1.45/containers/create", "--body", priv}, exitOK},
		{"empty CN", []string{"--user", "", "--action", "docker_ping"}, exitDenied},
		{"local socket", []string{"--tls=false", "--action", "container_create", "--body", priv}, exitOK},
		{"local socket with a user", []string{"--tls=false", "--user", "bob", "--action", "docker_ping"}, exitUsage},
		{"unknown action", []string{"--user", "bob", "--action", "container_frob"}, exitUsage},
		{"method disagrees with action", []string{"--user", "bob", "--action", "container_logs", "--method", "POST"}, exitUsage},
		{"no request", []string{"--user", "bob"}, exitUsage},
		{"missing body file", []string{"--user", "carol", "--action", "container_create", "--body", filepath.Join(dir, "none.json")}, exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"authz", "check", "--policy", pol}, tc.args...)
			if got := run(context.Background(), args); got != tc.want {
				t.Errorf("nodecfg %q exited %d, want %d", args, got, tc.want)
			}
		})
	}
	t.Run("validate good policy", func(t *testing.T) {
		if got := run(context.Background(), []string{"validate", "--policy", pol}); got != exitOK {
			t.Errorf("exited %d, want %d", got, exitOK)
		}
	})
	t.Run("validate un-anchoring policy", func(t *testing.T) {
		if got := run(context.Background(), []string{"validate", "--policy", bad}); got != exitFailed {
			t.Errorf("exited %d, want %d", got, exitFailed)
		}
	})
}
