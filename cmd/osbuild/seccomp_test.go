package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/seccomp"
)

const seccompPolicies = "../../policies/seccomp"

func TestSeccompCmd(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
  {"names": ["chmdo"], "action": "SCMP_ACT_ALLOW"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	warn := filepath.Join(dir, "warn.json")
	if err := os.WriteFile(warn, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
  {"names": ["fchmodat"], "action": "SCMP_ACT_ALLOW"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(dir, "gen")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		wantOutput string // file that must exist afterwards
	}{
		{"no command", nil, exitUsage, nil, []string{"usage: osbuild seccomp"}, ""},
		{"unknown command", []string{"frob"}, exitUsage, nil, []string{`unknown command "frob"`}, ""},
		{"generate", []string{"generate", "--policies", seccompPolicies, "--out", gen}, exitOK,
			[]string{filepath.Join(gen, "default.json"), filepath.Join(gen, "strict.json")}, nil, filepath.Join(gen, "strict.json")},
		{"generate without out", []string{"generate"}, exitUsage, nil, []string{"expected --out DIR"}, ""},
		{"validate errors", []string{"validate", bad, "--arch", "x86_64"}, exitFailed,
			[]string{bad + `:2: $.syscalls[0].names[0]: "chmdo" is not a system call`}, []string{"1 of 1 profiles have errors"}, ""},
		{"validate warnings pass", []string{"validate", warn}, exitOK,
			[]string{warn + `:2: $.syscalls[0].names[0]: warning: aarch64, x86_64: fchmodat is allowed but fchmod`}, nil, ""},
		{"validate bad arch", []string{"validate", "--arch", "amd64", warn}, exitUsage, nil, []string{`unknown architecture "amd64"`}, ""},
		{"validate missing file", []string{"validate", filepath.Join(dir, "nope.json")}, exitFailed, []string{"no such file"}, nil, ""},
		{"lxc", []string{"lxc", "--arch", "aarch64", filepath.Join(gen, "strict.json")}, exitOK,
			[]string{"2\nallowlist errno 1\n", "[arm64]\n", "fchmodat allow [2,0x0,SCMP_CMP_MASKED_EQ,0xc00]\n",
				"openat allow [2,0x0,SCMP_CMP_MASKED_EQ,0x400040]\n", "openat allow [3,0x0,SCMP_CMP_MASKED_EQ,0xc00]\n",
				"mknodat allow [2,0x0,SCMP_CMP_MASKED_EQ,0x2c00]\n", "openat2 errno 38\n"}, nil, ""},
		{"lxc with a capability", []string{"lxc", "--arch", "x86_64", "--cap", "CAP_SYS_PTRACE", filepath.Join(gen, "default.json")}, exitOK,
			[]string{"\nptrace allow\n"}, nil, ""},
		{"lxc bad capability", []string{"lxc", "--arch", "x86_64", "--cap", "SYS_PTRACE", filepath.Join(gen, "default.json")}, exitFailed,
			nil, []string{"--cap SYS_PTRACE: not a capability"}, ""},
		{"lxc needs one arch", []string{"lxc", filepath.Join(gen, "default.json")}, exitUsage, nil, []string{"expected exactly one --arch"}, ""},
		{"lxc invalid profile", []string{"lxc", "--arch", "x86_64", bad}, exitFailed, nil, []string{`"chmdo" is not a system call`}, ""},
		{"bpf", []string{"bpf", "--arch", "aarch64", "-o", filepath.Join(dir, "strict.bpf"), filepath.Join(gen, "strict.json")}, exitOK,
			nil, nil, filepath.Join(dir, "strict.bpf")},
		{"bpf needs out", []string{"bpf", "--arch", "aarch64", filepath.Join(gen, "strict.json")}, exitUsage, nil, []string{"-o OUT is required"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := seccompCmd(context.Background(), &stdout, &stderr, tc.args)
			if code != tc.code {
				t.Errorf("exit code: got %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tc.wantOutput != "" {
				if fi, err := os.Stat(tc.wantOutput); err != nil || fi.Size() == 0 {
					t.Errorf("output %s: %v", tc.wantOutput, err)
				}
			}
		})
	}
}

// TestSeccompGenerateMatchesLibrary checks that the files written are the
// bytes seccomp.Generate returns, which the image build uses directly.
func TestSeccompGenerateMatchesLibrary(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := seccompCmd(context.Background(), &stdout, &stderr, []string{"generate", "--policies", seccompPolicies, "--out", out}); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, err := seccomp.Generate(seccompPolicies)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from seccomp.Generate", name)
		}
	}
}
