package authz

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind bodyKind
		in   string
		err  string
		ok   func(*body) bool
	}{
		{"create", createBody, create(`"Privileged":true`), "", func(b *body) bool { return b.create.HostConfig.Privileged && b.create.Image == "busybox" }},
		{"keys fold like encoding/json", createBody, `{"image":"x","HOSTCONFIG":{"pidmode":"host"}}`, "", func(b *body) bool { return b.create.HostConfig.PidMode == "host" }},
		{"duplicate HostConfig keys merge", createBody, `{"HostConfig":{"Privileged":true},"hostconfig":{"Memory":1}}`, "", func(b *body) bool { return b.create.HostConfig.Privileged && b.create.HostConfig.Memory == 1 }},
		{"null HostConfig last wins", createBody, `{"HostConfig":{"Privileged":true},"HostConfig":null}`, "", func(b *body) bool { return b.create.HostConfig == nil }},
		{"legacy top level", createBody, `{"Image":"x","Binds":["/:/h"]}`, "", func(b *body) bool { return slices.Equal(b.legacy.Binds, []string{"/:/h"}) }},
		{"CapAdd as a string", createBody, create(`"CapAdd":"SYS_ADMIN"`), "", func(b *body) bool { return slices.Equal(b.create.HostConfig.CapAdd, []string{"SYS_ADMIN"}) }},
		{"update", updateBody, `{"memory":1,"RestartPolicy":{"Name":"always"}}`, "", func(b *body) bool { return b.update.Memory == 1 }},
		{"exec", execBody, `{"user":"root","privileged":true}`, "", func(b *body) bool { return b.exec.User == "root" && b.exec.Privileged }},
		{"volume", volumeBody, `{"driveropts":{"o":"bind"}}`, "", func(b *body) bool { return b.volume.DriverOpts["o"] == "bind" }},
		{"empty", createBody, "", "did not receive the request body", nil},
		{"white space", execBody, " \n", "did not receive the request body", nil},
		{"array", createBody, `[{}]`, "not a JSON object", nil},
		{"null", createBody, `null`, "not a JSON object", nil},
		{"wrong type", createBody, create(`"Privileged":1`), "does not decode", nil},
		{"truncated", createBody, `{"Image":"x","HostConfig":{`, "does not decode", nil},
		{"trailing value", execBody, `{} {"Privileged":true}`, "content after the JSON object", nil},
		{"unknown top-level key", createBody, `{"Image":"x","Privileges":["all"]}`, "sets Privileges, a field this plugin does not know", nil},
		{"unknown HostConfig key", createBody, create(`"NewIsolation":"none"`), "sets HostConfig.NewIsolation", nil},
		{"unknown key in second HostConfig", createBody, `{"HostConfig":{},"hostConfig":{"Bogus":1}}`, "sets hostConfig.Bogus", nil},
		{"unknown exec key", execBody, `{"Cmd":["sh"],"Caps":["ALL"]}`, "sets Caps", nil},
		{"unknown update key", updateBody, `{"Privileged":true}`, "sets Privileged", nil},
		{"unknown empty keys pass", createBody, create(`"Future":null,"Other":[],"More":{},"Zero":0,"No":false,"Blank":""`), "", func(b *body) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := decodeBody(tc.kind, []byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("decodeBody error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeBody: %v", err)
			}
			if !tc.ok(b) {
				t.Errorf("decodeBody = %+v, not what dockerd would decode", b)
			}
		})
	}
}

// TestFieldNames: the known keys include promoted fields of embedded
// structs, under their JSON names; and no Config key is a HostConfig key of
// another type, which would make the legacy top-level read fail on a
// valid create.
func TestFieldNames(t *testing.T) {
	create := fieldNames(reflect.TypeFor[container.CreateRequest]())
	for _, want := range []string{"Image", "Env", "HostConfig", "NetworkingConfig"} {
		if !slices.Contains(create, want) {
			t.Errorf("CreateRequest keys %q lack %q", create, want)
		}
	}
	hc := fieldNames(reflect.TypeFor[container.HostConfig]())
	for _, want := range []string{"Privileged", "CpuShares", "Devices", "Mounts"} {
		if !slices.Contains(hc, want) {
			t.Errorf("HostConfig keys %q lack %q", hc, want)
		}
	}
	for _, k := range create {
		if knownKey(k, hc) {
			t.Errorf("%q is a key of both Config and HostConfig", k)
		}
	}
}

// FuzzBody: no input makes the decoder panic, an accepted body is decoded
// into its kind's type, and checking it against a restricted rule does not
// panic either.
func FuzzBody(f *testing.F) {
	for _, s := range []string{create(`"Privileged":true,"Binds":["/srv/data:/d"]`), `{"User":"0"}`, `{"Memory":1}`, volume(`"o":"bind","device":"/"`), `{"HostConfig":{"ſecurityOpt":["label:disable"]}}`, "", "null", `{"a":1} x`} {
		for k := createBody; k <= volumeBody; k++ {
			f.Add(int(k), []byte(s))
		}
	}
	pol, err := Parse("p", []byte(`{"name":"r","users":["carol"],"actions":["container_.*","volume_create"],"binds":["/srv/data"],"capAdd":["NET_ADMIN"]}`))
	if err != nil {
		f.Fatal(err)
	}
	pol.resolve = func(s string) (string, error) { return s, nil }
	f.Fuzz(func(t *testing.T, kind int, in []byte) {
		k := bodyKind(kind%4 + 1)
		b, err := decodeBody(k, in)
		if err != nil {
			return
		}
		switch {
		case k == createBody && (b.create == nil || b.legacy == nil),
			k == updateBody && b.update == nil,
			k == execBody && b.exec == nil,
			k == volumeBody && b.volume == nil:
			t.Fatalf("decodeBody(%d) accepted %q without a value", k, in)
		}
		action := map[bodyKind]string{createBody: "container_create", updateBody: "container_update", execBody: "container_exec_create", volumeBody: "volume_create"}[k]
		req := tlsReq("carol", "POST", "/x")
		req.RequestBody = in
		pol.checkRequest(&pol.Rules[0], action, req)
	})
}
