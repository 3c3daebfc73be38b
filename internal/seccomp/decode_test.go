package seccomp

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"

	"github.com/bulwark/bulwark/internal/fielderr"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"empty", ``, []string{"p.json: $: empty document"}},
		{"syntax", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [,]\n}",
			[]string{"p.json:3: $: invalid character ',' looking for beginning of value"}},
		{"truncated", `{"defaultAction": "SCMP_ACT_ERRNO"`, []string{"p.json:1: $: unexpected end of JSON input"}},
		{"trailing", `{} {}`, []string{"p.json:1: $: trailing data after the JSON document"}},
		{"not an object", `[]`, []string{"p.json:1: $: must be an object, not a list"}},
		{"unknown keys", "{\n \"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"DefaultErrnoRet\": 1,\n \"syscalls\": [{\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\", \"arg\": []}]\n}",
			[]string{
				`p.json:3: $.DefaultErrnoRet: unknown key "DefaultErrnoRet" (did you mean "defaultErrnoRet"?)`,
				`p.json:4: $.syscalls[0].arg: unknown key "arg"`,
			}},
		{"duplicate key", "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\"syscalls\": [{\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\",\n\"action\": \"SCMP_ACT_KILL\"}]}",
			[]string{"p.json:3: $.syscalls[0].action: duplicate key: encoding/json would silently keep only the last one"}},
		{"wrong types", `{"defaultAction": 1, "defaultErrnoRet": "1", "syscalls": {"names": []}}`,
			[]string{
				"p.json:1: $.defaultAction: must be a string, not the number 1",
				`p.json:1: $.defaultErrnoRet: must be a number, not the string "1"`,
				"p.json:1: $.syscalls: must be a list, not an object",
			}},
		{"numbers", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1, "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1.5, "value": 18446744073709551616, "op": "SCMP_CMP_EQ"}]}]}`,
			[]string{
				"p.json:1: $.defaultErrnoRet: must be an integer from 0 to 18446744073709551615, not -1",
				"p.json:1: $.syscalls[0].args[0].index: must be an integer from 0 to 18446744073709551615, not 1.5",
				"p.json:1: $.syscalls[0].args[0].value: must be an integer from 0 to 18446744073709551615, not 18446744073709551616",
			}},
		{"null scalar", `{"defaultAction": null}`, []string{"p.json:1: $.defaultAction: must be a string, not null"}},
		{"kernel version", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}`,
			[]string{`p.json:1: $.syscalls[0].includes.minKernel: invalid kernel version: "4", expected "<kernel>.<major>"`}},
		{"deep", strings.Repeat("[", 100), []string{"p.json:1: $[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested deeper than 32 levels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.json", []byte(tc.data))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
			if len(fielderr.Paths(err)) != len(tc.want) {
				t.Errorf("errors do not carry paths: %#v", err)
			}
		})
	}
}

// TestParseAccepts checks what strict decoding must still take: nulls where
// Docker's own default.json has them, the legacy "name" key, and every
// field of the format.
func TestParseAccepts(t *testing.T) {
	data := `{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "flags": ["SECCOMP_FILTER_FLAG_LOG"],
  "listenerPath": "/run/agent.sock",
  "listenerMetadata": "x",
  "archMap": [{"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}],
  "syscalls": [
    {"name": "getpid", "action": "SCMP_ACT_ALLOW", "comment": "legacy form"},
    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "errnoRet": null, "args": null,
     "includes": {"caps": ["CAP_SYS_PTRACE"], "arches": ["amd64"], "minKernel": "4.8"},
     "excludes": {}}
  ]
}`
	p, err := Parse("p.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Seccomp.Syscalls[1].Includes.MinKernel.String(); got != "4.8" {
		t.Errorf("minKernel: got %q, want 4.8", got)
	}
	if got := p.line("$.syscalls[1].includes.caps[0]"); got != 11 {
		t.Errorf("line of includes.caps[0]: got %d, want 11", got)
	}
	if got := p.rules()[0].names; !slices.Equal(got, []string{"getpid"}) {
		t.Errorf("legacy name: got %v, want [getpid]", got)
	}
}

// TestRoundTrip checks that Marshal and Parse agree on Docker's profile,
// so generated files decode to exactly what was generated.
func TestRoundTrip(t *testing.T) {
	p := &Profile{File: "docker.json", Seccomp: mobyseccomp.DefaultProfile()}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse("docker.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Seccomp, q.Seccomp) {
		t.Error("profile changed in a Marshal/Parse round trip")
	}
	c, err := q.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, c) {
		t.Error("Marshal is not stable across a round trip")
	}
}
