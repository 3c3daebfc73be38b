package authz

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/authorization"
)

// matrixPolicy has one user of each kind: alice is an admin ("*"), dave is
// unrestricted for containers only, carol is restricted with a bind
// allow-list (including /run, the parent of the Docker socket) and one
// extra capability, bob is read-only over every action.
const matrixPolicy = `{"name":"admins","users":["alice"],"actions":["*"]}
{"name":"operators","users":["dave"],"actions":["container_.*"],"unrestricted":true}
{"name":"runners","users":["carol"],"actions":["container_(create|start|wait|logs|inspect|list|update|exec_create|exec_start)","volume_create","image_build"],"binds":["/srv/data","/run"],"capAdd":["NET_ADMIN"]}
{"name":"auditors","users":["bob"],"actions":[".*"],"readonly":true}
`

// asker is one column of the matrix: who sends the request and how.
type asker struct {
	name  string
	in    CheckInput
	local bool
}

var askers = []asker{
	{name: "alice", in: CheckInput{User: "alice"}},
	{name: "dave", in: CheckInput{User: "dave"}},
	{name: "carol", in: CheckInput{User: "carol"}},
	{name: "bob", in: CheckInput{User: "bob"}},
	{name: "mallory", in: CheckInput{User: "mallory"}},
	{name: "emptyCN", in: CheckInput{User: ""}},
	{name: "local", in: CheckInput{LocalSocket: true}},
}

func create(hostConfig string) string {
	return `{"Image":"busybox","Cmd":["true"],"HostConfig":{` + hostConfig + `}}`
}

func volume(opts string) string {
	return `{"Name":"v1","Driver":"local","DriverOpts":{` + opts + `}}`
}

// Who is allowed, by column; every other column is denied.
const (
	everyone   = "alice dave carol bob local"
	containers = "alice dave carol local" // a restricted container request within carol's limits
	unlimited  = "alice dave local"       // a container request beyond carol's limits
	adminOnly  = "alice local"
	readers    = "alice bob local" // a read outside the container actions
	localOnly  = "local"
)

var matrix = []struct {
	name, method, uri, body string
	allow                   string
}{
	{"ping", "GET", "/_ping", "", readers},
	{"ping HEAD", "HEAD", "/v1.45/_ping", "", readers},
	{"info", "GET", "/v1.45/info", "", readers},
	{"info trailing slash", "GET", "/v1.45/info/", "", readers},
	{"list", "GET", "/v1.45/containers/json?all=1", "", everyone},
	{"list slash and query", "GET", "/v1.45/containers/json/?all=1&filters=%7B%7D", "", everyone},
	{"inspect unversioned", "GET", "/containers/c1/json", "", everyone},
	{"logs", "GET", "/v1.45/containers/c1/logs?follow=1&stdout=1", "", everyone},
	{"exec inspect", "GET", "/exec/e1/json", "", "alice dave bob local"},
	{"image list", "GET", "/v1.45/images/json", "", readers},
	{"create plain", "POST", "/v1.45/containers/create?name=web", create(``), containers},
	{"create trailing slash", "POST", "/v1.45/containers/create/", create(``), containers},
	{"create no HostConfig", "POST", "/containers/create", `{"Image":"busybox"}`, containers},
	{"privileged", "POST", "/v1.45/containers/create", create(`"Privileged":true`), unlimited},
	{"privileged lower-case key", "POST", "/v1.45/containers/create", `{"Image":"busybox","hostconfig":{"privileged":true}}`, unlimited},
	{"privileged duplicate key last wins", "POST", "/v1.45/containers/create", create(`"Privileged":false,"privileged":true`), unlimited},
	{"privileged top-level legacy", "POST", "/v1.45/containers/create", `{"Image":"busybox","Privileged":true}`, unlimited},
	{"bind in allow-list", "POST", "/v1.45/containers/create", create(`"Binds":["/srv/data/app:/data"]`), containers},
	{"bind allow-list root ro", "POST", "/v1.45/containers/create", create(`"Binds":["/srv/data:/data:ro"]`), containers},
	{"bind host root", "POST", "/v1.45/containers/create", create(`"Binds":["/:/host"]`), unlimited},
	{"bind prefix is not a parent", "POST", "/v1.45/containers/create", create(`"Binds":["/srv/database:/db"]`), unlimited},
	{"bind dot-dot out", "POST", "/v1.45/containers/create", create(`"Binds":["/srv/data/../../etc:/x"]`), unlimited},
	{"named volume", "POST", "/v1.45/containers/create", create(`"Binds":["vol1:/data"]`), containers},
	{"anonymous volume", "POST", "/v1.45/containers/create", create(`"Binds":["/data"]`), containers},
	{"docker.sock under allowed /run", "POST", "/v1.45/containers/create", create(`"Binds":["/run/docker.sock:/var/run/docker.sock"]`), unlimited},
	{"var/run docker.sock", "POST", "/v1.45/containers/create", create(`"Binds":["/var/run/docker.sock:/s"]`), unlimited},
	{"allowed /run holds the socket", "POST", "/v1.45/containers/create", create(`"Binds":["/run:/hostrun"]`), unlimited},
	{"allowed /run/user", "POST", "/v1.45/containers/create", create(`"Binds":["/run/user/1000:/r"]`), containers},
	{"mount bind outside", "POST", "/v1.45/containers/create", create(`"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]`), unlimited},
	{"mount bind inside", "POST", "/v1.45/containers/create", create(`"Mounts":[{"Type":"bind","Source":"/srv/data/x","Target":"/x"}]`), containers},
	{"mount volume binding host root", "POST", "/v1.45/containers/create", create(`"Mounts":[{"Type":"volume","Source":"v","Target":"/h","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]`), unlimited},
	{"mount tmpfs", "POST", "/v1.45/containers/create", create(`"Mounts":[{"Type":"tmpfs","Target":"/t"}]`), containers},
	{"volumes-from", "POST", "/v1.45/containers/create", create(`"VolumesFrom":["admin-box"]`), unlimited},
	{"volume driver plugin", "POST", "/v1.45/containers/create", create(`"VolumeDriver":"sshfs","Binds":["v:/v"]`), unlimited},
	{"pid host", "POST", "/v1.45/containers/create", create(`"PidMode":"host"`), unlimited},
	{"pid container", "POST", "/v1.45/containers/create", create(`"PidMode":"container:c1"`), unlimited},
	{"ipc host", "POST", "/v1.45/containers/create", create(`"IpcMode":"host"`), unlimited},
	{"ipc container", "POST", "/v1.45/containers/create", create(`"IpcMode":"container:c1"`), unlimited},
	{"ipc shareable", "POST", "/v1.45/containers/create", create(`"IpcMode":"shareable"`), containers},
	{"uts host", "POST", "/v1.45/containers/create", create(`"UTSMode":"host"`), unlimited},
	{"net host", "POST", "/v1.45/containers/create", create(`"NetworkMode":"host"`), unlimited},
	{"net container", "POST", "/v1.45/containers/create", create(`"NetworkMode":"container:c1"`), unlimited},
	{"net user network", "POST", "/v1.45/containers/create", create(`"NetworkMode":"backend"`), containers},
	{"net endpoint host", "POST", "/v1.45/containers/create", `{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`, unlimited},
	{"userns host", "POST", "/v1.45/containers/create", create(`"UsernsMode":"host"`), unlimited},
	{"cgroupns host", "POST", "/v1.45/containers/create", create(`"CgroupnsMode":"host"`), unlimited},
	{"cgroup parent", "POST", "/v1.45/containers/create", create(`"CgroupParent":"/system.slice"`), unlimited},
	{"cap ALL", "POST", "/v1.45/containers/create", create(`"CapAdd":["ALL"]`), unlimited},
	{"cap SYS_ADMIN", "POST", "/v1.45/containers/create", create(`"CapAdd":["SYS_ADMIN"]`), unlimited},
	{"cap allowed NET_ADMIN", "POST", "/v1.45/containers/create", create(`"CapAdd":["cap_net_admin"]`), containers},
	{"cap default as string", "POST", "/v1.45/containers/create", create(`"CapAdd":"NET_BIND_SERVICE"`), containers},
	{"devices", "POST", "/v1.45/containers/create", create(`"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]`), unlimited},
	{"device cgroup rules", "POST", "/v1.45/containers/create", create(`"DeviceCgroupRules":["b 8:* rmw"]`), unlimited},
	{"device requests", "POST", "/v1.45/containers/create", create(`"DeviceRequests":[{"Driver":"nvidia","Count":-1}]`), unlimited},
	{"seccomp unconfined", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["seccomp=unconfined"]`), unlimited},
	{"seccomp inline profile", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]`), unlimited},
	{"seccomp path", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["seccomp=/tmp/p.json"]`), unlimited},
	{"seccomp colon form", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["seccomp:unconfined"]`), unlimited},
	{"label disable", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["label=disable"]`), unlimited},
	{"label colon disable", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["label:disable"]`), unlimited},
	{"bare disable", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["disable"]`), unlimited},
	{"label type", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["label=type:spc_t"]`), unlimited},
	{"label level", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["label=level:s0:c1,c2"]`), unlimited},
	{"apparmor unconfined", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["apparmor=unconfined"]`), unlimited},
	{"no-new-privileges false", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["no-new-privileges=false"]`), unlimited},
	{"no-new-privileges on", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["no-new-privileges","no-new-privileges:true"]`), containers},
	{"writable cgroups", "POST", "/v1.45/containers/create", create(`"SecurityOpt":["writable-cgroups=true"]`), unlimited},
	{"security opt key case", "POST", "/v1.45/containers/create", `{"Image":"busybox","HostConfig":{"ſecurityOpt":["seccomp=unconfined"]}}`, unlimited},
	{"sysctls", "POST", "/v1.45/containers/create", create(`"Sysctls":{"net.ipv4.ip_forward":"1"}`), unlimited},
	{"runtime", "POST", "/v1.45/containers/create", create(`"Runtime":"runc"`), unlimited},
	{"annotations", "POST", "/v1.45/containers/create", create(`"Annotations":{"org.systemd.property.DeviceAllow":"'/dev/sda rwm'"}`), unlimited},
	{"systempaths unconfined", "POST", "/v1.45/containers/create", create(`"MaskedPaths":[],"ReadonlyPaths":[]`), unlimited},
	{"unknown field set", "POST", "/v1.45/containers/create", create(`"Capabilities":["CAP_SYS_ADMIN"]`), unlimited},
	{"unknown field empty", "POST", "/v1.45/containers/create", create(`"Capabilities":null,"FutureThing":false`), containers},
	{"create missing body", "POST", "/v1.45/containers/create", "", unlimited},
	{"create undecodable body", "POST", "/v1.45/containers/create", `{"Image":"busybox","HostConfig":{"Privileged":"yes"}}`, unlimited},
	{"create not an object", "POST", "/v1.45/containers/create", `["busybox"]`, unlimited},
	{"create trailing content", "POST", "/v1.45/containers/create", `{"Image":"busybox"} {"HostConfig":{"Privileged":true}}`, unlimited},
	{"update memory", "POST", "/v1.45/containers/c1/update", `{"Memory":268435456}`, containers},
	{"update devices", "POST", "/v1.45/containers/c1/update", `{"Devices":[{"PathOnHost":"/dev/mem","PathInContainer":"/dev/mem","CgroupPermissions":"rwm"}]}`, unlimited},
	{"update missing body", "POST", "/v1.45/containers/c1/update", "", unlimited},
	{"start", "POST", "/v1.45/containers/c1/start", "", containers},
	{"exec plain", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["ls"],"AttachStdout":true}`, containers},
	{"exec as uid 1000", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["ls"],"User":"1000:1000"}`, containers},
	{"exec privileged", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["sh"],"Privileged":true}`, unlimited},
	{"exec root", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["sh"],"User":"root"}`, unlimited},
	{"exec uid 0", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["sh"],"User":"0"}`, unlimited},
	{"exec 0:0", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["sh"],"user":"0:0"}`, unlimited},
	{"exec 00", "POST", "/v1.45/containers/c1/exec", `{"Cmd":["sh"],"User":"00"}`, unlimited},
	{"exec missing body", "POST", "/v1.45/containers/c1/exec", "", unlimited},
	{"exec undecodable", "POST", "/v1.45/containers/c1/exec", `{"Cmd":"sh",`, unlimited},
	{"exec start", "POST", "/v1.45/exec/e1/start", `{"Detach":false,"Tty":true}`, containers},
	{"attach ws stdin", "GET", "/v1.45/containers/c1/attach/ws?stdin=1&stream=1", "", "alice dave local"},
	{"attach ws stdout only", "GET", "/containers/c1/attach/ws?stdout=1", "", "alice dave local"},
	{"attach POST", "POST", "/v1.45/containers/c1/attach?stdin=1&stream=1", "", "alice dave local"},
	{"export", "GET", "/v1.45/containers/c1/export", "", "alice dave local"},
	{"archive GET", "GET", "/v1.45/containers/c1/archive?path=/etc/shadow", "", "alice dave local"},
	{"archive HEAD", "HEAD", "/v1.45/containers/c1/archive?path=/etc/shadow", "", "alice dave local"},
	{"image save", "GET", "/v1.45/images/get?names=busybox", "", adminOnly},
	{"image save by name", "GET", "/v1.45/images/busybox/get", "", adminOnly},
	{"image delete", "DELETE", "/v1.45/images/busybox:latest", "", adminOnly},
	{"swarm unlock key", "GET", "/v1.45/swarm/unlockkey", "", adminOnly},
	{"swarm join tokens", "GET", "/v1.45/swarm", "", adminOnly},
	{"secrets", "GET", "/v1.45/secrets", "", adminOnly},
	{"services", "GET", "/v1.45/services", "", readers},
	{"volume create", "POST", "/v1.45/volumes/create", `{"Name":"v1"}`, "alice carol local"},
	{"volume bind host root", "POST", "/v1.45/volumes/create", volume(`"type":"none","o":"bind","device":"/"`), adminOnly},
	{"volume bind allowed", "POST", "/v1.45/volumes/create", volume(`"type":"none","o":"bind","device":"/srv/data/v1"`), "alice carol local"},
	{"volume block device", "POST", "/v1.45/volumes/create", volume(`"type":"ext4","device":"/dev/sda1"`), adminOnly},
	{"volume tmpfs", "POST", "/v1.45/volumes/create", volume(`"type":"tmpfs","device":"tmpfs","o":"size=64m"`), "alice carol local"},
	{"volume missing body", "POST", "/v1.45/volumes/create", "", adminOnly},
	{"build", "POST", "/v1.45/build?t=app&q=1", "", "alice carol local"},
	{"build host network", "POST", "/v1.45/build?t=app&networkmode=host", "", adminOnly},
	{"plugin pull", "POST", "/v1.45/plugins/pull?remote=vieux/sshfs", "", adminOnly},
	{"unknown endpoint", "GET", "/v1.45/no/such/endpoint", "", localOnly},
	{"unknown method", "PATCH", "/v1.45/info", "", localOnly},
	{"unclean path", "GET", "/containers//json", "", localOnly},
}

// matrixPlugin is the plugin serving matrixPolicy, with host paths taken
// as written so that the answers do not depend on this machine's /srv.
func matrixPlugin(t *testing.T) (*Plugin, *Policy) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(matrixPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlugin(path)
	if err != nil {
		t.Fatal(err)
	}
	p.policy.resolve = func(s string) (string, error) { return s, nil }
	p.Log = nil
	return p, p.policy
}

// TestMatrix decides every request of the matrix for every kind of user,
// through `authz check`'s input (CheckInput.Request, Policy.Authorize) and
// through the plugin protocol (AuthZReq over its socket), and asserts both
// give the expected answer.
func TestMatrix(t *testing.T) {
	if len(matrix) < 40 {
		t.Fatalf("matrix has %d rows, want at least 40", len(matrix))
	}
	plugin, pol := matrixPlugin(t)
	ask := servePlugin(t, plugin)
	for _, row := range matrix {
		t.Run(row.name, func(t *testing.T) {
			allowed := strings.Fields(row.allow)
			for _, a := range askers {
				in := a.in
				in.Method, in.URI = row.method, row.uri
				if row.body != "" {
					in.Body = []byte(row.body)
				}
				req, err := in.Request()
				if err != nil {
					t.Fatalf("%s: CheckInput.Request: %v", a.name, err)
				}
				want := slices.Contains(allowed, a.name)
				d := pol.Authorize(req)
				if d.Allow != want {
					t.Errorf("%s %s %s as %s: check allow=%v (%s), want %v", row.method, row.uri, row.body, a.name, d.Allow, d.Reason, want)
				}
				if ok, msg := ask(req); ok != d.Allow {
					t.Errorf("%s %s as %s: plugin allow=%v (%s), check allow=%v (%s): they disagree", row.method, row.uri, a.name, ok, msg, d.Allow, d.Reason)
				}
				if !d.Allow && d.Reason == "" {
					t.Errorf("%s: denied without a reason", a.name)
				}
			}
		})
	}
}

// TestIdentity: a TLS request is decided by its CN alone; only a request
// with neither user nor method is the local socket.
func TestIdentity(t *testing.T) {
	_, pol := matrixPlugin(t)
	for _, tc := range []struct {
		name, user, authn string
		allow             bool
		reason            string
	}{
		{"local socket", "", "", true, "local unix socket"},
		{"empty CN over TLS", "", "TLS", false, "empty user"},
		{"CN with newline", "al\nice", "TLS", false, "control characters"},
		{"CN with trailing space", "alice ", "TLS", false, "leading or trailing space"},
		{"user without method", "alice", "", false, `authentication method "" is not TLS`},
		{"other method", "alice", "krb", false, `authentication method "krb" is not TLS`},
		{"admin over TLS", "alice", "TLS", true, `rule "admins" allows`},
		{"unknown CN", "mallory", "TLS", false, `user "mallory" is in no policy rule`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pol.Authorize(authorization.Request{User: tc.user, UserAuthNMethod: tc.authn, RequestMethod: "POST", RequestURI: "/v1.45/containers/create", RequestBody: []byte(create(`"Privileged":true`))})
			if d.Allow != tc.allow || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Authorize = allow %v (%s), want allow %v with %q", d.Allow, d.Reason, tc.allow, tc.reason)
			}
		})
	}
}

// TestReasons: a denial names the rule and what exceeded it.
func TestReasons(t *testing.T) {
	_, pol := matrixPlugin(t)
	for _, tc := range []struct{ name, method, uri, body, user, want string }{
		{"bind", "POST", "/containers/create", create(`"Binds":["/:/host"]`), "carol", `rule "runners" limits container_create: HostConfig.Binds[0]: host path "/" is outside rule "runners"'s binds`},
		{"socket", "POST", "/containers/create", create(`"Binds":["/run/docker.sock:/s"]`), "carol", `reaches /run/docker.sock`},
		{"two problems", "POST", "/containers/create", create(`"Privileged":true,"PidMode":"host"`), "carol", `HostConfig.Privileged: a privileged container is root on the node; HostConfig.PidMode "host"`},
		{"legacy", "POST", "/containers/create", `{"Image":"x","Privileged":true}`, "carol", `(top level).Privileged`},
		{"missing body", "POST", "/containers/create", "", "carol", "did not receive the request body"},
		{"unknown field", "POST", "/containers/create", create(`"Capabilities":["CAP_SYS_ADMIN"]`), "carol", "HostConfig.Capabilities, a field this plugin does not know"},
		{"read-only attach", "GET", "/containers/c1/attach/ws?stdin=1", "", "bob", `rule "auditors": the rule is read-only and container_attach_websocket is not read-safe: attaching`},
		{"read-only unlock key", "GET", "/swarm/unlockkey", "", "bob", "the unlock key decrypts"},
		{"not granted", "POST", "/containers/c1/kill", "", "carol", `rule "runners" does not allow container_kill`},
		{"unknown", "GET", "/nope", "", "alice", "unknown API request GET /nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pol.Authorize(authorization.Request{User: tc.user, UserAuthNMethod: AuthNTLS, RequestMethod: tc.method, RequestURI: tc.uri, RequestBody: []byte(tc.body)})
			if d.Allow || !strings.Contains(d.Reason, tc.want) {
				t.Errorf("Authorize = allow %v, reason %q; want a denial containing %q", d.Allow, d.Reason, tc.want)
			}
		})
	}
}

// TestSymlinkBind: a symlink inside an allowed directory that leads out of
// it (planted by a container that has the directory bound) is refused, on
// the real file system.
func TestSymlinkBind(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "ok"), 0o755)
	os.Symlink("/etc", filepath.Join(data, "escape"))
	os.Symlink(filepath.Join(data, "ok"), filepath.Join(data, "inside"))
	pol, err := Parse("p", []byte(`{"name":"r","users":["carol"],"actions":["container_create"],"binds":["`+data+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		allow     bool
	}{
		{"dir", filepath.Join(data, "ok"), true},
		{"not yet there", filepath.Join(data, "new", "sub"), true},
		{"symlink inside", filepath.Join(data, "inside"), true},
		{"symlink out", filepath.Join(data, "escape"), false},
		{"below symlink out", filepath.Join(data, "escape", "shadow"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pol.Authorize(authorization.Request{User: "carol", UserAuthNMethod: AuthNTLS, RequestMethod: "POST", RequestURI: "/containers/create", RequestBody: []byte(create(`"Binds":["` + tc.src + `:/x"]`))})
			if d.Allow != tc.allow {
				t.Errorf("bind %s: allow %v (%s), want %v", tc.src, d.Allow, d.Reason, tc.allow)
			}
		})
	}
}
