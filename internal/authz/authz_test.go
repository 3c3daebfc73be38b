package authz

import (
	"strings"
	"testing"
)

const policy = `# admins may do anything
{"name":"admins","users":["alice"],"actions":["*"],"readonly":false}
{"name":"auditors","users":["bob"],"actions":["container_.*","image_list","docker_.*"],"readonly":true}
{"name":"runners","users":["carol"],"actions":["container_create","container_start","container_list"]}
`

func TestParseAndDecide(t *testing.T) {
	p, err := Parse("policy.json", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, method, uri string
		allow             bool
		rule              string
	}{
		{"alice", "POST", "/v1.47/containers/create", true, "admins"},
		{"alice", "DELETE", "/v1.47/images/busybox:latest", true, "admins"},
		{"bob", "GET", "/v1.47/containers/json?all=1", true, "auditors"},
		{"bob", "POST", "/v1.47/containers/create", false, "auditors"},
		{"bob", "GET", "/v1.47/images/json", true, "auditors"},
		{"bob", "GET", "/v1.47/volumes", false, "auditors"},
		{"carol", "POST", "/containers/abc/start", true, "runners"},
		{"carol", "POST", "/containers/abc/exec", false, "runners"},
		{"mallory", "GET", "/containers/json", false, ""},
		{"", "POST", "/containers/create", true, ""},
		{"alice", "GET", "/no/such/endpoint", false, "admins"},
	} {
		t.Run(tc.user+" "+tc.method+" "+tc.uri, func(t *testing.T) {
			d := p.Decide(tc.user, tc.method, Action(tc.method, tc.uri))
			if d.Allow != tc.allow || d.Rule != tc.rule {
				t.Errorf("Decide = %+v, want allow=%v rule=%q", d, tc.allow, tc.rule)
			}
		})
	}
}

func TestAction(t *testing.T) {
	for _, tc := range []struct{ method, uri, want string }{
		{"POST", "/v1.47/containers/create?name=x", "container_create"},
		{"POST", "/containers/prune", "container_prune"},
		{"POST", "/v1.41/containers/0123abc/exec", "container_exec_create"},
		{"POST", "/exec/e1/start", "container_exec_start"},
		{"POST", "/v1.47/images/create?fromImage=busybox", "image_pull"},
		{"GET", "/v1.47/images/docker.io/library/busybox:latest/json", "image_inspect"},
		{"HEAD", "/_ping", "docker_ping"},
		{"GET", "/info", "docker_info"},
		{"PATCH", "/info", ""},
	} {
		if got := Action(tc.method, tc.uri); got != tc.want {
			t.Errorf("Action(%s %s) = %q, want %q", tc.method, tc.uri, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"not json", `{"name":`, []string{"policy.json:1: $[0]: not a policy rule"}},
		{"unknown field", `{"name":"a","users":["x"],"actions":["*"],"admin":true}`, []string{"unknown field"}},
		{"duplicate name", "{\"name\":\"a\",\"users\":[\"x\"],\"actions\":[\"*\"]}\n{\"name\":\"a\",\"users\":[\"y\"],\"actions\":[\"*\"]}", []string{`:2: $[1].name: rule name "a" is already used on line 1`}},
		{"user twice", "{\"name\":\"a\",\"users\":[\"x\"],\"actions\":[\"*\"]}\n{\"name\":\"b\",\"users\":[\"x\"],\"actions\":[\"*\"]}", []string{`$[1].users[0]: user "x" is already in rule "a"`}},
		{"bad regexp", `{"name":"a","users":["x"],"actions":["container_("]}`, []string{"$[0].actions[0]", "does not compile"}},
		{"matches nothing", `{"name":"a","users":["x"],"actions":["contianer_create"]}`, []string{`"contianer_create" matches no Docker API action`}},
		{"no users", `{"name":"a","users":[],"actions":["*"]}`, []string{"$[0].users: must list at least one user"}},
		{"no actions", `{"name":"a","users":["x"]}`, []string{"$[0].actions: must list"}},
		{"empty", "# nothing\n", []string{"policy has no rules"}},
		{"two objects", `{"name":"a","users":["x"],"actions":["*"]} {}`, []string{"more than one JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("policy.json", []byte(tc.in))
			if err == nil {
				t.Fatal("Parse accepted a bad policy")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(policy))
	f.Add([]byte(`{"name":"a","users":["x"],"actions":["(a|b"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Parse("f", in)
		if err == nil {
			for _, r := range p.Rules {
				if len(r.Users) == 0 || len(r.patterns) != len(r.Actions) {
					t.Fatalf("accepted rule %+v", r)
				}
			}
		}
	})
}
