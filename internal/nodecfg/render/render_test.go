package render

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/pki"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const specTmpl = `apiVersion: bulwark.dev/v1alpha1
kind: NodeSpec
hostname: node1
users:
  - name: ops
    groups: [adm]
    sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0ZkSH2bDbjnP3o5U5g0GVqfGsGdW4Dk8ljQ5V6jbqO ops@example"]
docker:
  settings: {log-level: warn}
TLS
authz:
  rules:
    - {name: admins, users: [alice], actions: ["*"]}
    - {name: auditors, users: [bob], actions: [".*"], readonly: true}
files:
  - {path: /etc/motd, mode: "0644", contents: "hardened\n"}
units:
  - name: hello.service
    enabled: true
    contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
`

const tlsBlock = `  tls:
    listen: [tcp://0.0.0.0:2376]
    ca: ca.pem
    cert: server.pem
    key: server-key.pem
    addresses: [10.0.2.15]`

func writeSpec(t *testing.T, body string, mintTLS bool) *nodespec.Spec {
	t.Helper()
	dir := t.TempDir()
	if mintTLS {
		ca, _ := pki.NewCA("ca", pki.ECDSA, 24*time.Hour*400, now)
		srv, _ := pki.NewServer(ca, "node1", nil, []net.IP{net.ParseIP("10.0.2.15")}, pki.ECDSA, 24*time.Hour*90, now)
		os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o644)
		os.WriteFile(filepath.Join(dir, "server.pem"), srv.CertPEM, 0o644)
		os.WriteFile(filepath.Join(dir, "server-key.pem"), srv.KeyPEM, 0o600)
	}
	p := filepath.Join(dir, "node1.yaml")
	os.WriteFile(p, []byte(body), 0o644)
	s, err := nodespec.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func files(c types.Config) map[string]types.File {
	m := map[string]types.File{}
	for _, f := range c.Storage.Files {
		m[f.Path] = f
	}
	return m
}

func contents(t *testing.T, f types.File) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*f.Contents.Source, "data:;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderGoldenWithoutTLS(t *testing.T) {
	body := strings.Replace(specTmpl, "TLS\n", "", 1)
	res, err := Render(writeSpec(t, body, false), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "node1-notls.ign")
	if *update {
		os.WriteFile(golden, res.JSON, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(res.JSON) != string(want) {
		t.Errorf("rendered config differs from %s:\n%s", golden, res.JSON)
	}
}

func TestRenderTLS(t *testing.T) {
	body := strings.Replace(specTmpl, "TLS", tlsBlock, 1)
	res, err := Render(writeSpec(t, body, true), Options{Now: now, WarnWithin: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fs := files(res.Config)
	for path, mode := range map[string]int{CAPath: 0o444, CertPath: 0o444, KeyPath: 0o400, DaemonJSON: 0o644, PolicyPath: 0o644} {
		f, ok := fs[path]
		if !ok {
			t.Errorf("no %s in the config", path)
			continue
		}
		if *f.Mode != mode {
			t.Errorf("%s mode %o, want %o", path, *f.Mode, mode)
		}
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(contents(t, fs[DaemonJSON])), &d); err != nil {
		t.Fatal(err)
	}
	if d["tlsverify"] != true || d["log-level"] != "warn" || d["tlskey"] != KeyPath {
		t.Errorf("daemon.json = %v", d)
	}
	// The floor is the node's, merged there: the config carries only the
	// node's own settings.
	if _, ok := d["seccomp-profile"]; ok {
		t.Errorf("the config's daemon.json carries the floor (seccomp-profile): %v", d)
	}
	if !strings.Contains(res.Floor, "built-in floor sha256:") {
		t.Errorf("Floor = %q; want it to name the built-in floor", res.Floor)
	}
	hosts := d["hosts"].([]any)
	if len(hosts) != 2 || hosts[0] != UnixSocket || hosts[1] != "tcp://0.0.0.0:2376" {
		t.Errorf("hosts = %v", hosts)
	}
	if plugins := d["authorization-plugins"].([]any); len(plugins) != 1 || plugins[0] != AuthzPlugin {
		t.Errorf("authorization-plugins = %v", plugins)
	}
	if !strings.Contains(contents(t, fs[PolicyPath]), `"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true`) {
		t.Errorf("policy = %s", contents(t, fs[PolicyPath]))
	}
}

func TestRenderRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(body string) string
		after  func(s *nodespec.Spec)
		opts   func(o *Options)
		want   string
	}{
		{"wrong CA", nil, func(s *nodespec.Spec) {
			other, _ := pki.NewCA("other", pki.ECDSA, time.Hour*24*400, now)
			os.WriteFile(s.Path("ca.pem"), other.CertPEM, 0o644)
		}, nil, "does not verify against the CA"},
		{"key mismatch", nil, func(s *nodespec.Spec) {
			ca, _ := pki.NewCA("x", pki.ECDSA, time.Hour, now)
			os.WriteFile(s.Path("server-key.pem"), ca.KeyPEM, 0o600)
		}, nil, "key does not match"},
		{"address not in SANs", func(b string) string { return strings.Replace(b, "[10.0.2.15]", "[10.0.2.16]", 1) }, nil, nil, "no SAN for address 10.0.2.16"},
		{"expired", nil, nil, func(o *Options) { o.Now = now.Add(200 * 24 * time.Hour) }, "expired"},
		{"bad policy action", func(b string) string { return strings.Replace(b, `actions: ["*"]`, `actions: ["contaner_create"]`, 1) }, nil, nil, "matches no Docker API action"},
		{"user in two rules", func(b string) string { return strings.Replace(b, "users: [bob]", "users: [alice]", 1) }, nil, nil, `user "alice" is already in rule "admins"`},
		{"unknown daemon key", func(b string) string { return strings.Replace(b, "{log-level: warn}", "{log-levle: warn}", 1) }, nil, nil, `dockerd has no option "log-levle"`},
		{"unit flag conflict", nil, nil, func(o *Options) { o.UnitFlags = []string{"-H", "fd://"} }, "also set by the docker unit's -H flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(specTmpl, "TLS", tlsBlock, 1)
			if tc.change != nil {
				body = tc.change(body)
			}
			s := writeSpec(t, body, true)
			if tc.after != nil {
				tc.after(s)
			}
			o := Options{Now: now}
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err := Render(s, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

func TestRenderUsernsRemap(t *testing.T) {
	body := strings.Replace(specTmpl, "TLS", tlsBlock+"\n  usernsRemap: {uid: 200000, gid: 300000, offset: 65535}", 1)
	res, err := Render(writeSpec(t, body, true), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	fs := files(res.Config)
	if got := contents(t, fs["/etc/subuid"]); got != "dockremap:200000:65535\n" {
		t.Errorf("/etc/subuid = %q", got)
	}
	if got := contents(t, fs["/etc/subgid"]); got != "dockremap:300000:65535\n" {
		t.Errorf("/etc/subgid = %q", got)
	}
	if !strings.Contains(contents(t, fs[DaemonJSON]), `"userns-remap": "default"`) {
		t.Errorf("daemon.json lacks userns-remap: %s", contents(t, fs[DaemonJSON]))
	}
}

// TestRenderUsernsAndTrustDefaults: without a word in the node spec the
// node keeps the floor's remap and the image's ranges and content trust
// (nothing rendered); naming userns-remap in docker.weaken turns the remap
// off, and docker.contentTrust: false replaces the profile file.
func TestRenderUsernsAndTrustDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, docker  string
		wantRemap     string // the rendered daemon.json's userns-remap; "-" = unset
		wantTrustFile bool
		wantErr       string
	}{
		{"defaults", "", "-", false, ""},
		{"remap off by name", "\n  weaken: [userns-remap]", "", false, ""},
		{"content trust off", "\n  contentTrust: false", "-", true, ""},
		{"content trust on, said", "\n  contentTrust: true", "-", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(specTmpl, "TLS", tlsBlock+tc.docker, 1)
			res, err := Render(writeSpec(t, body, true), Options{Now: now})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Render error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fs := files(res.Config)
			var d map[string]any
			if err := json.Unmarshal([]byte(contents(t, fs[DaemonJSON])), &d); err != nil {
				t.Fatal(err)
			}
			got, set := d["userns-remap"]
			if tc.wantRemap == "-" && set || tc.wantRemap != "-" && got != tc.wantRemap {
				t.Errorf("daemon.json userns-remap = %v (set %v), want %q", got, set, tc.wantRemap)
			}
			if _, ok := fs["/etc/subuid"]; ok {
				t.Errorf("/etc/subuid rendered; the image's should stay")
			}
			f, ok := fs[nodepaths.ContentTrustProfile]
			if ok != tc.wantTrustFile {
				t.Fatalf("%s rendered: %v, want %v", nodepaths.ContentTrustProfile, ok, tc.wantTrustFile)
			}
			if ok && strings.Contains(contents(t, f), "DOCKER_CONTENT_TRUST=") {
				t.Errorf("%s = %q, want a file that sets nothing", nodepaths.ContentTrustProfile, contents(t, f))
			}
		})
	}
}

// TestRenderFloor: each floor key set weaker is refused at its path unless
// docker.weaken names it, which turns it into a warning and a record in the
// config; a setting at or above the floor needs no leave.
func TestRenderFloor(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		key            string // "" = no weakening
	}{
		{"selinux off", "{selinux-enabled: false}", "selinux-enabled"},
		{"no-new-privileges off", "{no-new-privileges: false}", "no-new-privileges"},
		{"another seccomp profile", "{seccomp-profile: /etc/docker/mine.json}", "seccomp-profile"},
		{"unconfined seccomp", "{seccomp-profile: unconfined}", "seccomp-profile"},
		{"icc on", "{icc: true}", "icc"},
		{"plain runc", "{default-runtime: runc}", "default-runtime"},
		{"runtime redirected", "{runtimes: {bulwark: {path: /tmp/runc}}}", "runtimes"},
		{"userland proxy", "{userland-proxy: true}", "userland-proxy"},
		{"same as the floor", "{icc: false, selinux-enabled: true}", ""},
		{"an unrelated key", "{log-level: debug}", ""},
	} {
		for _, optIn := range []bool{false, true} {
			if tc.key == "" && optIn {
				continue
			}
			t.Run(fmt.Sprintf("%s/weaken=%v", tc.name, optIn), func(t *testing.T) {
				body := strings.Replace(specTmpl, "TLS", tlsBlock, 1)
				body = strings.Replace(body, "{log-level: warn}", tc.settings, 1)
				if optIn {
					body = strings.Replace(body, "docker:\n", "docker:\n  weaken: ["+tc.key+"]\n", 1)
				}
				res, err := Render(writeSpec(t, body, true), Options{Now: now})
				switch {
				case tc.key == "":
					if err != nil {
						t.Fatalf("Render: %v", err)
					}
				case !optIn:
					if err == nil || !strings.Contains(err.Error(), "$."+tc.key+": weakens the node's floor") || !strings.Contains(err.Error(), "node1.yaml") {
						t.Fatalf("Render error = %v; want the file and $.%s named as weakening the floor", err, tc.key)
					}
				default:
					if err != nil {
						t.Fatalf("Render with docker.weaken [%s]: %v", tc.key, err)
					}
					if !strings.Contains(strings.Join(res.Warnings, "\n"), "docker.weaken: "+tc.key+":") {
						t.Errorf("warnings %q do not name %s", res.Warnings, tc.key)
					}
					if got := contents(t, files(res.Config)[dockerfloor.WeakenPath]); got != `["`+tc.key+`"]`+"\n" {
						t.Errorf("%s = %q; want the leave recorded for the node", dockerfloor.WeakenPath, got)
					}
				}
			})
		}
	}
}

// TestRenderElsewhere renders from a directory with no repository around
// it: the floor is the built-in one, so the check is the same anywhere.
func TestRenderElsewhere(t *testing.T) {
	body := strings.Replace(specTmpl, "TLS", tlsBlock, 1)
	body = strings.Replace(body, "{log-level: warn}", "{selinux-enabled: false}", 1)
	s := writeSpec(t, body, true)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(s, Options{Now: now}); err == nil || !strings.Contains(err.Error(), "$.selinux-enabled") {
		t.Fatalf("Render from an empty directory = %v; want the floor enforced", err)
	}
}

// TestRenderAuthzLimits: a node spec's authz limits reach the policy the
// plugin reads, and a bad one is refused with its path.
func TestRenderAuthzLimits(t *testing.T) {
	body := strings.Replace(specTmpl, "TLS", tlsBlock, 1)
	body = strings.Replace(body, `    - {name: auditors, users: [bob], actions: [".*"], readonly: true}`,
		`    - {name: builders, users: [bob], actions: [container_create], binds: [/srv/data], capAdd: [NET_ADMIN]}`, 1)
	res, err := Render(writeSpec(t, body, true), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := contents(t, files(res.Config)[PolicyPath]); !strings.Contains(got, `"binds":["/srv/data"],"capAdd":["NET_ADMIN"]`) {
		t.Errorf("policy = %s; want the rule's binds and capAdd", got)
	}
	bad := strings.Replace(body, "binds: [/srv/data]", "binds: [/]", 1)
	if _, err := Render(writeSpec(t, bad, true), Options{Now: now}); err == nil || !strings.Contains(err.Error(), "$[1].binds[0]") {
		t.Errorf("Render with binds [/] = %v; want the path named", err)
	}
}

// TestRenderUpdate: an update source becomes one drop-in per transfer
// definition of the image (the definitions themselves stay in /usr), and a
// schedule becomes the enabled timer with its calendar replaced.
func TestRenderUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, update string
		wantTimer    bool
		wantTries    string // the tries drop-in's TriesLeft= line, "" for none
	}{
		{"none", "", false, ""},
		{"source only", "update: {url: http://10.0.2.2:8080/v2}\n", false, ""},
		{"scheduled", "update: {url: \"http://10.0.2.2:8080/v2/\", schedule: daily}\n", true, ""},
		{"one try", "update: {url: http://10.0.2.2:8080/v2, tries: 1}\n", false, "\n[Target]\nTriesLeft=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Render(writeSpec(t, strings.Replace(specTmpl, "TLS", tlsBlock, 1)+tc.update, true), Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			fs := files(res.Config)
			for _, tr := range sysupdate.Transfers() {
				f, ok := fs[sysupdate.DropinPath(tr)]
				if ok != (tc.update != "") {
					t.Fatalf("%s rendered: %v", sysupdate.DropinPath(tr), ok)
				}
				if ok && !strings.Contains(contents(t, f), "\n[Source]\nPath=http://10.0.2.2:8080/v2/\n") {
					t.Errorf("%s = %q", sysupdate.DropinPath(tr), contents(t, f))
				}
			}
			tries, ok := fs[sysupdate.TriesPath]
			if ok != (tc.wantTries != "") {
				t.Fatalf("%s rendered: %v, want %v", sysupdate.TriesPath, ok, tc.wantTries != "")
			}
			if ok && !strings.Contains(contents(t, tries), tc.wantTries) {
				t.Errorf("%s = %q, want it to hold %q", sysupdate.TriesPath, contents(t, tries), tc.wantTries)
			}
			var timer *types.Unit
			for i, u := range res.Config.Systemd.Units {
				if u.Name == sysupdate.Timer {
					timer = &res.Config.Systemd.Units[i]
				}
			}
			if (timer != nil) != tc.wantTimer {
				t.Fatalf("timer rendered: %v, want %v", timer != nil, tc.wantTimer)
			}
			if timer != nil && (timer.Enabled == nil || !*timer.Enabled || len(timer.Dropins) != 1 ||
				!strings.Contains(*timer.Dropins[0].Contents, "\nOnCalendar=\nOnCalendar=daily\n")) {
				t.Errorf("timer %+v", *timer)
			}
		})
	}
}
