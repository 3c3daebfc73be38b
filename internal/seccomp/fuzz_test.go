package seccomp

import (
	"bytes"
	"os"
	"testing"
)

func seeds(f *testing.F) {
	f.Helper()
	for _, name := range []string{"testdata/default.json", "testdata/strict.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(profile(`{"names": ["chmod"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 3072, "op": "SCMP_CMP_MASKED_EQ"}]},
		{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_KILL", "includes": {"caps": ["CAP_SYS_ADMIN"], "minKernel": "5.4"}}`)))
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mknod", "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]}`))
	f.Add([]byte(`{"a": [1, {"b": null}], "a": "dup"}`))
}

// FuzzLoad checks that decoding and validating arbitrary bytes never
// panics, and that a profile that decodes survives a Marshal/Parse round
// trip unchanged.
func FuzzLoad(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.json", data)
		if err != nil {
			return
		}
		Validate(p, Arches())
		b, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := Parse("f.json", b)
		if err != nil {
			t.Fatalf("re-parsing the marshalled profile: %v\n%s", err, b)
		}
		c, err := q.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, c) {
			t.Fatalf("round trip changed the profile:\n%s\n%s", b, c)
		}
	})
}

// FuzzLXC checks that whatever WriteLXC accepts comes out as text LXC
// parses, one line per resolved rule with the same comparisons.
func FuzzLXC(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.json", data)
		if err != nil {
			return
		}
		for _, arch := range Arches() {
			var b bytes.Buffer
			if err := WriteLXC(&b, p, Target{Arch: arch}); err != nil {
				continue
			}
			checkLXCRoundTrip(t, p, Target{Arch: arch}, b.Bytes())
		}
	})
}
