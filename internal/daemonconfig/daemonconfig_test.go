package daemonconfig

import (
	"strings"
	"testing"
)

const good = `{
  "hosts": ["unix:///run/docker.sock", "tcp://0.0.0.0:2376"],
  "tlsverify": true, "tlscacert": "/etc/docker/tls/ca.pem", "tlscert": "/etc/docker/tls/cert.pem", "tlskey": "/etc/docker/tls/key.pem",
  "authorization-plugins": ["bulwark-authz"],
  "icc": false, "no-new-privileges": true, "live-restore": true, "userland-proxy": false,
  "log-driver": "journald", "log-opts": {"tag": "{{.Name}}"}, "selinux-enabled": true,
  "seccomp-profile": "/usr/share/bulwark/seccomp/default.json", "max-concurrent-downloads": 3,
  "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}]
}`

func TestCheckAccepts(t *testing.T) {
	c, err := Parse("daemon.json", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("daemon.json", c, []string{"--containerd=/run/containerd/containerd.sock"}); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCheckRejects(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		flags          []string
		want           string
	}{
		{"unknown key", `"icc": false`, `"icc": false, "tlsverfy": true`, nil, `$.tlsverfy: dockerd has no option "tlsverfy" (did you mean "tlsverify"?)`},
		{"wrong type bool", `"icc": false`, `"icc": "no"`, nil, "$.icc: must be true or false"},
		{"wrong type int", `"max-concurrent-downloads": 3`, `"max-concurrent-downloads": 3.5`, nil, "$.max-concurrent-downloads: must be an integer"},
		{"wrong type list", `"log-driver": "journald"`, `"log-driver": ["journald"]`, nil, "$.log-driver: must be a string"},
		{"string map", `{"tag": "{{.Name}}"}`, `{"tag": 1}`, nil, "$.log-opts: must be an object of strings"},
		{"tcp without tlsverify", `"tlsverify": true`, `"tlsverify": false`, nil, "without \"tlsverify\": true"},
		{"tcp without key", `"tlskey": "/etc/docker/tls/key.pem",`, ``, nil, `needs "tlskey"`},
		{"tcp without authz", `"authorization-plugins": ["bulwark-authz"],`, ``, nil, "without an authorization plugin"},
		{"flag conflict", `"icc": false`, `"icc": false`, []string{"-H", "fd://"}, "also set by the docker unit's -H flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(good, tc.old, tc.new, 1)
			c, err := Parse("daemon.json", []byte(in))
			if err == nil {
				err = Check("daemon.json", c, tc.flags)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "[]", "null", "{} {}", `{"a":`} {
		if _, err := Parse("daemon.json", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}

func TestMerge(t *testing.T) {
	base := Config{"icc": false, "log-driver": "journald"}
	got := Merge(base, Config{"log-driver": "local", "debug": true})
	if got["icc"] != false || got["log-driver"] != "local" || got["debug"] != true || base["log-driver"] != "journald" {
		t.Errorf("Merge = %v (base now %v)", got, base)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"hosts":["tcp://x"],"tlsverify":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse("f", in)
		if err != nil {
			return
		}
		if Check("f", c, nil) == nil {
			if hosts, _ := stringList(c["hosts"]); len(hosts) > 0 {
				for _, h := range hosts {
					if strings.HasPrefix(h, "tcp://") && c["tlsverify"] != true {
						t.Fatalf("accepted %s without tlsverify", in)
					}
				}
			}
		}
	})
}

func TestCheckUsernsRange(t *testing.T) {
	for _, tc := range []struct {
		uid, gid, offset int64
		ok               bool
	}{
		{100000, 100000, 65535, true},
		{0, 0, 1, true},
		{4294901760, 4294901760, 65535, true},
		{-1, 0, 100, false},
		{0, -5, 100, false},
		{100000, 100000, 0, false},
		{100000, 100000, 65536, true},
		{100000, 100000, 65537, false},
		{4294967295, 0, 10, false},
		{0, 4294967290, 10, false},
	} {
		errs := CheckUsernsRange(tc.uid, tc.gid, tc.offset)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("CheckUsernsRange(%d, %d, %d) = %v, want ok=%v", tc.uid, tc.gid, tc.offset, errs, tc.ok)
		}
	}
}
