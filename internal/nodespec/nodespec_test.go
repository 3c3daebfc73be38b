package nodespec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `apiVersion: bulwark.dev/v1alpha1
kind: NodeSpec
hostname: node1
users:
  - {name: ops, sshAuthorizedKeys: ["ssh-ed25519 AAAA ops"]}
docker:
  settings: {debug: false}
  tls: {listen: ["tcp://0.0.0.0:2376"], ca: ca.pem, cert: c.pem, key: k.pem, addresses: [10.0.2.15]}
authz:
  rules: [{name: a, users: [alice], actions: ["*"]}]
files: [{path: /etc/motd, mode: "0644", contents: hi}]
units: [{name: x.service, enabled: true, contents: "[Service]\nExecStart=/bin/true\n"}]
update: {url: "https://updates.example.com/container-host/", schedule: "Sun *-*-* 03:00", tries: 2}
`

func load(t *testing.T, body string) error {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "c.pem", "k.pem"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	p := filepath.Join(dir, "node.yaml")
	os.WriteFile(p, []byte(body), 0o644)
	_, err := Load(p)
	return err
}

func TestLoad(t *testing.T) {
	if err := load(t, base); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"apiVersion", "bulwark.dev/v1alpha1", "v2", "$.apiVersion: unsupported"},
		{"kind", "kind: NodeSpec", "kind: ImageSpec", "$.kind"},
		{"hostname", "hostname: node1", "hostname: Node_1", "$.hostname"},
		{"unknown key", "hostname: node1", "hostname: node1\nhostnme: x", "$.hostnme: unknown key"},
		{"user name", "name: ops", "name: Ops!", "$.users[0].name"},
		{"ssh key", `"ssh-ed25519 AAAA ops"`, `"hello"`, "$.users[0].sshAuthorizedKeys[0]"},
		{"listen", `"tcp://0.0.0.0:2376"`, `"0.0.0.0:2376"`, "$.docker.tls.listen[0]"},
		{"missing cert", "cert: c.pem", "cert: nope.pem", "$.docker.tls.cert: cannot read"},
		{"address", "addresses: [10.0.2.15]", "addresses: [node1]", "$.docker.tls.addresses[0]"},
		{"no policy with TLS", `rules: [{name: a, users: [alice], actions: ["*"]}]`, "rules: []", "needs an authorization policy"},
		{"tls key in settings", "settings: {debug: false}", "settings: {tlsverify: false}", "$.docker.settings.tlsverify: is set by nodecfg"},
		{"relative file", "path: /etc/motd", "path: etc/motd", "$.files[0].path"},
		{"file on /usr", "path: /etc/motd", "path: /usr/bin/x", "read-only, verity-protected /usr"},
		{"mode", `mode: "0644"`, `mode: "rw"`, "$.files[0].mode"},
		{"unit name", "name: x.service", "name: x", "$.units[0].name"},
		{"userns offset", "settings: {debug: false}", "settings: {debug: false}\n  usernsRemap: {uid: 100000, gid: 100000, offset: 70000}", "$.docker.usernsRemap: offset 70000"},
		{"userns overflow", "settings: {debug: false}", "settings: {debug: false}\n  usernsRemap: {uid: 4294967295, gid: 0, offset: 10}", "exceeds 2^32-1"},
		{"userns in settings", "settings: {debug: false}", "settings: {userns-remap: default}", "$.docker.settings.userns-remap"},
		{"userns off and a range", "settings: {debug: false}", "settings: {debug: false}\n  weaken: [userns-remap]\n  usernsRemap: {uid: 200000, gid: 200000, offset: 65535}", "$.docker.weaken[0]: naming userns-remap turns the remap off"},
		{"update url scheme", "https://updates.example.com/container-host/", "ftp://updates.example.com/", "$.update.url"},
		{"update url relative", "https://updates.example.com/container-host/", "updates/", "$.update.url"},
		{"update url query", "https://updates.example.com/container-host/", "https://u.example.com/?a=b", "$.update.url"},
		{"update schedule newline", `schedule: "Sun *-*-* 03:00"`, `schedule: "daily\nExecStart=/bin/sh"`, "$.update.schedule"},
		{"update tries zero", `tries: 2`, `tries: 0`, "$.update.tries: 0: an update needs 1 to 16 boot tries"},
		{"update tries too many", `tries: 2`, `tries: 17`, "$.update.tries: 17"},
		{"update tries not a number", `tries: 2`, `tries: three`, "$.update.tries"},
		{"update unknown key", `schedule: "Sun *-*-* 03:00"`, `schedul: daily`, "$.update.schedul: unknown key"},
		{"content trust not a boolean", "settings: {debug: false}", "settings: {debug: false}\n  contentTrust: maybe", "contentTrust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(t, strings.Replace(base, tc.old, tc.new, 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "n.yaml")
		os.WriteFile(p, in, 0o644)
		s, err := Load(p)
		if err == nil && (s.Hostname == "" || s.Kind != "NodeSpec") {
			t.Fatalf("accepted %q", in)
		}
	})
}
