package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsRefuses: every name given to certs becomes a file name in
// --out, and a store with a CA certificate but no key is never given a
// new CA.
func TestCertsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		setup func(dir string)
		want  string
	}{
		{"client name with a path", []string{"--client", "../../evil"}, nil, "contains a path separator"},
		{"empty client name", []string{"--client", ""}, nil, "client name is empty"},
		{"client name with a newline", []string{"--client", "a\nb"}, nil, "control or unprintable"},
		{"host name with a path", []string{"--host", "../node1"}, nil, "host name"},
		{"host named like the CA", []string{"--host", "ca"}, nil, "would replace the CA's files"},
		{"zero days", []string{"--host", "node1", "--days", "0"}, nil, "shorter than the minimum"},
		{"bad address", []string{"--host", "node1", "--ip", "10.0.0.300"}, nil, "not an IP address"},
		{"CA certificate without its key", []string{"--host", "node1"}, func(dir string) {
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("the old CA"), 0o444)
		}, "refusing to make a new CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			out := filepath.Join(top, "pki")
			if tc.setup != nil {
				tc.setup(out)
			}
			err := certs(append([]string{"--out", out}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("certs error %v; want one containing %q", err, tc.want)
			}
			filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
				rel, _ := filepath.Rel(top, p)
				if rel != "." && rel != "pki" && !strings.HasPrefix(rel, "pki/") {
					t.Errorf("%s written outside --out", rel)
				}
				return nil
			})
			if tc.setup != nil {
				if b, _ := os.ReadFile(filepath.Join(out, "ca.pem")); string(b) != "the old CA" {
					t.Error("ca.pem was replaced")
				}
				if _, err := os.Stat(filepath.Join(out, "ca-key.pem")); err == nil {
					t.Error("a CA key was made beside the old CA")
				}
			} else if _, err := os.Stat(out); err == nil {
				t.Error("--out was created although the arguments were refused")
			}
		})
	}
}

func TestCertsMints(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pki")
	if err := certs([]string{"--out", out, "--host", "node1", "--ip", "10.0.0.5", "--client", "alice"}); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(out, "ca.pem"))
	if err := certs([]string{"--out", out, "--client", "bob"}); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(out, "ca.pem"))
	if string(ca1) != string(ca2) || len(ca1) == 0 {
		t.Error("a second run replaced the CA")
	}
	for _, f := range []string{"ca-key.pem", "node1.pem", "node1-key.pem", "client-alice.pem", "client-bob-key.pem"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
