package dockerfloor

import (
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/daemonconfig"
)

func floor(t *testing.T) daemonconfig.Config {
	t.Helper()
	f, err := Parse("floor", Embedded())
	if err != nil {
		t.Fatalf("the embedded floor does not parse: %v", err)
	}
	return f
}

func node(t *testing.T, js string) daemonconfig.Config {
	t.Helper()
	c, err := daemonconfig.Parse("node", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsKeys make a TCP listener acceptable.
const tlsKeys = `"tlsverify": true, "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": "/etc/docker/tls/server-cert.pem", "tlskey": "/etc/docker/tls/server-key.pem", "authorization-plugins": ["bulwark-authz"]`

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  string
		allow []string
		want  string // error substring; "" = accepted
	}{
		{"empty node keeps the floor", `{}`, nil, ""},
		{"unrelated settings", `{"log-level": "debug", "debug": true}`, nil, ""},
		{"the floor's own values", `{"icc": false, "selinux-enabled": true, "seccomp-profile": "/usr/share/bulwark/seccomp/default.json"}`, nil, ""},
		{"selinux off", `{"selinux-enabled": false}`, nil, "$.selinux-enabled: weakens the node's floor"},
		{"nnp off", `{"no-new-privileges": false}`, nil, "$.no-new-privileges: weakens"},
		{"seccomp replaced", `{"seccomp-profile": "unconfined"}`, nil, "$.seccomp-profile: weakens the node's floor: seccomp profile \"unconfined\" replaces"},
		{"seccomp emptied", `{"seccomp-profile": ""}`, nil, "$.seccomp-profile: weakens"},
		{"icc on", `{"icc": true}`, nil, "$.icc: weakens"},
		{"runc", `{"default-runtime": "runc"}`, nil, "$.default-runtime: weakens"},
		{"runtime path swapped", `{"runtimes": {"bulwark": {"path": "/usr/bin/runc"}}}`, nil, "$.runtimes: weakens"},
		{"userland proxy", `{"userland-proxy": true}`, nil, "$.userland-proxy: weakens"},
		{"userns remap off", `{"userns-remap": ""}`, nil, "$.userns-remap: weakens the node's floor: user-namespace remap \"\" replaces the floor's \"default\""},
		{"userns remap to another user", `{"userns-remap": "root"}`, nil, "$.userns-remap: weakens"},
		{"userns remap off by name", `{"userns-remap": ""}`, []string{"userns-remap"}, ""},
		{"allowed by name", `{"icc": true}`, []string{"icc"}, ""},
		{"allowed another key only", `{"icc": true}`, []string{"userland-proxy"}, "$.icc: weakens"},
		{"unknown leave", `{}`, []string{"hosts"}, `"hosts" is not a floor key`},
		{"bare TCP address", `{"hosts": ["0.0.0.0:2375"]}`, nil, "tcp://0.0.0.0:2375 without \"tlsverify\""},
		{"port only", `{"hosts": [":2375"]}`, nil, "TCP listener tcp://localhost:2375"},
		{"leading space", `{"hosts": [" tcp://0.0.0.0:2375"]}`, nil, "TCP listener tcp://0.0.0.0:2375"},
		{"tcp without plugin", `{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true, "tlscacert": "a", "tlscert": "b", "tlskey": "c"}`, nil, "without an authorization plugin"},
		{"tcp with everything", `{"hosts": ["unix:///run/docker.sock", "tcp://0.0.0.0:2376"], ` + tlsKeys + `}`, nil, ""},
		{"bare address with TLS defaults to the TLS port", `{"hosts": ["0.0.0.0"], ` + tlsKeys + `}`, nil, ""},
		{"fd listener", `{"hosts": ["fd://"]}`, nil, "neither a unix socket nor TCP"},
		{"unparseable", `{"hosts": ["ssh://x"]}`, nil, "dockerd cannot parse"},
		{"weakening cannot be allowed for hosts", `{"hosts": ["tcp://0.0.0.0:2375"]}`, []string{"icc"}, "an unauthenticated root API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Apply("node.json", floor(t), node(t, tc.node), tc.allow)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "node.json") {
					t.Fatalf("Apply error = %v; want one naming node.json and saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			f := floor(t)
			for _, k := range Keys() {
				if _, set := node(t, tc.node)[k]; !set && !equal(res.Config[k], f[k]) {
					t.Errorf("%s = %v after the merge; the floor's is %v", k, res.Config[k], f[k])
				}
			}
			if len(tc.allow) > 0 && len(res.Weakened) == 0 && tc.node != `{}` {
				t.Errorf("an allowed weakening is not reported")
			}
		})
	}
}

func equal(a, b any) bool { return strings.TrimSpace(show(a)) == strings.TrimSpace(show(b)) }

func TestParseRefusesAHollowFloor(t *testing.T) {
	if _, err := Parse("floor.json", []byte(`{"icc": false}`)); err == nil || !strings.Contains(err.Error(), "the floor must set") {
		t.Errorf("Parse of a floor without its keys = %v", err)
	}
}

func TestEmbeddedFloorIsHardened(t *testing.T) {
	f := floor(t)
	for k, want := range map[string]any{"selinux-enabled": true, "no-new-privileges": true, "icc": false, "userland-proxy": false, "default-runtime": "bulwark", "userns-remap": "default"} {
		if f[k] != want {
			t.Errorf("floor %s = %v; want %v", k, f[k], want)
		}
	}
	if p, _ := f["seccomp-profile"].(string); !strings.HasPrefix(p, "/usr/share/bulwark/seccomp/") {
		t.Errorf("floor seccomp-profile = %q; want Bulwark's profile in /usr", p)
	}
}
