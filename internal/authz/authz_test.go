package authz

import (
	"regexp"
	"strings"
	"testing"
)

const policy = `# admins may do anything
{"name":"admins","users":["alice"],"actions":["*"],"readonly":false}
{"name":"auditors","users":["bob"],"actions":["container_.*","image_list","docker_.*"],"readonly":true}
{"name":"runners","users":["carol"],"actions":["container_create","container_start","container_list"]}
`

// TestParseAndDecide is the pre-limits table, through Authorize. Changed
// on purpose: the local socket is a request with no user and no
// authentication method (an empty CN over TLS is denied), and carol's
// create carries a body, since a restricted rule's create is decided on it.
func TestParseAndDecide(t *testing.T) {
	p, err := Parse("policy.json", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, method, uri, body string
		allow                   bool
		rule                    string
	}{
		{"alice", "POST", "/v1.47/containers/create", "", true, "admins"},
		{"alice", "DELETE", "/v1.47/images/busybox:latest", "", true, "admins"},
		{"bob", "GET", "/v1.47/containers/json?all=1", "", true, "auditors"},
		{"bob", "POST", "/v1.47/containers/create", "", false, "auditors"},
		{"bob", "GET", "/v1.47/images/json", "", true, "auditors"},
		{"bob", "GET", "/v1.47/volumes", "", false, "auditors"},
		{"carol", "POST", "/containers/create", `{"Image":"busybox"}`, true, "runners"},
		{"carol", "POST", "/containers/abc/start", "", true, "runners"},
		{"carol", "POST", "/containers/abc/exec", `{"Cmd":["sh"]}`, false, "runners"},
		{"mallory", "GET", "/containers/json", "", false, ""},
		{"", "POST", "/containers/create", "", false, ""},
		{"alice", "GET", "/no/such/endpoint", "", false, "admins"},
	} {
		t.Run(tc.user+" "+tc.method+" "+tc.uri, func(t *testing.T) {
			r := tlsReq(tc.user, tc.method, tc.uri)
			r.RequestBody = []byte(tc.body)
			d := p.Authorize(r)
			if d.Allow != tc.allow || d.Rule != tc.rule {
				t.Errorf("Authorize = %+v, want allow=%v rule=%q", d, tc.allow, tc.rule)
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
		{"GET", "/info/", "docker_info"},
		{"GET", "/v1.45/containers/json/?all=1", "container_list"},
		{"GET", "/v1.45", ""},
		{"GET", "/containers/c1/attach/ws?stdin=1&stream=1", "container_attach_websocket"},
		{"GET", "/swarm/unlockkey", "swarm_unlockkey"},
		{"GET", "/v1.45/swarm", "swarm_inspect"},
		{"GET", "/networks/", "network_list"},
		{"POST", "/plugins/vieux/sshfs:latest/set", "plugin_set"},
		{"GET", "/debug/pprof/heap", "docker_debug"},
		{"PATCH", "/info", ""},
		{"post", "/containers/create", ""},
		{"GET", "/containers//json", ""},
		{"GET", "/containers/c1/../json", ""},
		{"GET", "info", ""},
		{"GET", "", ""},
	} {
		t.Run(tc.method+" "+tc.uri, func(t *testing.T) {
			if got := Action(tc.method, tc.uri); got != tc.want {
				t.Errorf("Action(%s %s) = %q, want %q", tc.method, tc.uri, got, tc.want)
			}
		})
	}
}

// TestRouteOf: every action's route maps back to the action, which is what
// lets `authz check --action` decide on the request dockerd would see.
func TestRouteOf(t *testing.T) {
	for _, a := range Actions() {
		t.Run(a, func(t *testing.T) {
			m, uri, ok := RouteOf(a)
			if !ok {
				t.Fatal("no route")
			}
			if got := Action(m, uri); got != a {
				t.Errorf("Action(RouteOf(%s) = %s %s) = %q, want %q", a, m, uri, got, a)
			}
		})
	}
	if _, _, ok := RouteOf("container_frobnicate"); ok {
		t.Error("RouteOf found a route for an unknown action")
	}
}

// TestClasses keeps the action classes in step with the route table: each
// GET or HEAD action is read-safe or says why not, and the classes name
// real actions.
func TestClasses(t *testing.T) {
	known := map[string]bool{}
	for _, a := range Actions() {
		known[a] = true
	}
	for _, set := range []map[string]string{notReadSafe, unrestrictedOnly} {
		for a := range set {
			if !known[a] {
				t.Errorf("class names unknown action %q", a)
			}
		}
	}
	for a := range readSafe {
		if !known[a] {
			t.Errorf("readSafe names unknown action %q", a)
		}
	}
	for _, r := range routes {
		if (r.method == "GET" || r.method == "HEAD") && !readSafe[r.action] && notReadSafe[r.action] == "" {
			t.Errorf("%s %s (%s) is neither read-safe nor says why not", r.method, r.template, r.action)
		}
		if readSafe[r.action] && r.method != "GET" && r.method != "HEAD" {
			t.Errorf("read-safe %s is %s %s", r.action, r.method, r.template)
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
		{"empty user", `{"name":"a","users":[""],"actions":["*"]}`, []string{"$[0].users[0]: empty user"}},
		{"user with space", `{"name":"a","users":["bob "],"actions":["*"]}`, []string{"$[0].users[0]: user \"bob \" has leading or trailing space"}},
		{"user with control", `{"name":"a","users":["bo\nb"],"actions":["*"]}`, []string{"control characters"}},
		{"bad regexp", `{"name":"a","users":["x"],"actions":["container_("]}`, []string{"$[0].actions[0]", "does not compile"}},
		{"un-anchoring", `{"name":"a","users":["x"],"actions":["container_list)|(.*"]}`, []string{`policy.json:1: $[0].actions[0]: "container_list)|(.*" does not compile as one whole regular expression`}},
		{"matches nothing", `{"name":"a","users":["x"],"actions":["contianer_create"]}`, []string{`"contianer_create" matches no Docker API action`}},
		{"read-only write", `{"name":"a","users":["x"],"actions":["container_create"],"readonly":true}`, []string{`$[0].actions[0]: "container_create" can never fire in rule "a": the rule is read-only and container_create is not read-safe`}},
		{"read-only attach", `{"name":"a","users":["x"],"actions":["container_attach_websocket"],"readonly":true}`, []string{"can never fire", "stdin"}},
		{"restricted plugin pull", `{"name":"a","users":["x"],"actions":["plugin_pull"]}`, []string{`$[0].actions[0]: "plugin_pull" can never fire in rule "a": plugin_pull is only for unrestricted rules`}},
		{"read-only unrestricted", `{"name":"a","users":["x"],"actions":["container_list"],"readonly":true,"unrestricted":true}`, []string{"$[0].unrestricted: a rule cannot be both read-only and unrestricted"}},
		{"binds on unrestricted", `{"name":"a","users":["x"],"actions":["*"],"binds":["/srv"]}`, []string{"$[0].binds: has no effect: the rule is unrestricted"}},
		{"capAdd on read-only", `{"name":"a","users":["x"],"actions":["container_list"],"readonly":true,"capAdd":["NET_ADMIN"]}`, []string{"$[0].capAdd: has no effect: the rule is read-only"}},
		{"relative bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["srv/data"]}`, []string{`$[0].binds[0]: "srv/data" is not an absolute path`}},
		{"unclean bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["/srv/../etc"]}`, []string{`$[0].binds[0]: "/srv/../etc" is not a clean path (want "/etc")`}},
		{"trailing slash bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["/srv/"]}`, []string{`"/srv/" is not a clean path`}},
		{"root bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["/"]}`, []string{`$[0].binds[0]: "/" would let containers bind the whole host`}},
		{"socket bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["/var/run/docker.sock"]}`, []string{`$[0].binds[0]: "/var/run/docker.sock" is in /var/run/docker.sock`}},
		{"docker state bind", `{"name":"a","users":["x"],"actions":["container_create"],"binds":["/var/lib/docker/volumes"]}`, []string{`is in /var/lib/docker`}},
		{"unknown cap", `{"name":"a","users":["x"],"actions":["container_create"],"capAdd":["NET_ADMINN"]}`, []string{`$[0].capAdd[0]: "NET_ADMINN" is not a Linux capability`}},
		{"ALL cap", `{"name":"a","users":["x"],"actions":["container_create"],"capAdd":["all"]}`, []string{`$[0].capAdd[0]: "ALL" is never granted by a list`}},
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

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"example node", "{\"name\":\"admins\",\"users\":[\"alice\"],\"actions\":[\"*\"]}\n{\"name\":\"auditors\",\"users\":[\"bob\"],\"actions\":[\".*\"],\"readonly\":true}"},
		{"old auditors", policy},
		{"limits", `{"name":"r","users":["carol"],"actions":["container_.*"],"binds":["/srv/data","/run"],"capAdd":["net_admin","CAP_SYS_NICE"]}`},
		{"unrestricted", `{"name":"ops","users":["dave"],"actions":["plugin_.*","service_.*"],"unrestricted":true}`},
		{"case-folded keys", `{"Name":"r","USERS":["carol"],"actions":["container_list"],"CapAdd":["NET_ADMIN"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("policy.json", []byte(tc.in)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

// TestActionAnchoring: a pattern matches whole action names only, whatever
// it contains. The reference is the pattern alone, leftmost-longest: a
// whole-name match exists exactly when that match spans the name.
func TestActionAnchoring(t *testing.T) {
	for _, a := range []string{"container_list", "container_.*", "(?i)CONTAINER_LIST", `\Qcontainer_list`, "container_list|image_list", "container_(list|inspect)", "list", "a|container_list", `container_list\z`, "^container_list$"} {
		t.Run(a, func(t *testing.T) { assertAnchored(t, a) })
	}
	if _, err := compileAction("container_list)|(.*"); err == nil {
		t.Error("compileAction accepted the un-anchoring pattern container_list)|(.*")
	}
}

func assertAnchored(t *testing.T, a string) {
	t.Helper()
	re, err := compileAction(a)
	if err != nil {
		return
	}
	ref, err := regexp.Compile(a)
	if err != nil {
		t.Fatalf("compileAction accepted %q, which does not compile alone: %v", a, err)
	}
	ref.Longest()
	for _, act := range append(Actions(), "", "container_list_x", "x_container_list") {
		loc := ref.FindStringIndex(act)
		want := loc != nil && loc[0] == 0 && loc[1] == len(act)
		if got := re.MatchString(act); got != want {
			t.Errorf("pattern %q on %q: matched %v, want %v", a, act, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(policy))
	f.Add([]byte(`{"name":"a","users":["x"],"actions":["(a|b"]}`))
	f.Add([]byte(`{"name":"a","users":["x"],"actions":["container_list)|(.*"]}`))
	f.Add([]byte(`{"name":"a","users":["x"],"actions":["container_.*"],"binds":["/srv"],"capAdd":["NET_ADMIN"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Parse("f", in)
		if err != nil {
			return
		}
		for _, r := range p.Rules {
			if len(r.Users) == 0 || len(r.patterns) != len(r.Actions) {
				t.Fatalf("accepted rule %+v", r)
			}
			for _, a := range r.Actions {
				if a != "*" {
					assertAnchored(t, a)
				}
			}
			for _, b := range r.Binds {
				if b == "/" || !strings.HasPrefix(b, "/") {
					t.Fatalf("accepted bind %q", b)
				}
			}
		}
	})
}
