package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.rules")
	if err := os.WriteFile(bad, []byte("-w /etc/docker -k docker\n-a always,exit -F arch=b64 -S open -k x\n-w rel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.rules")
	if err := os.WriteFile(good, []byte("-w /etc/docker -k docker\n-a always,exit -F arch=b64 -S execveat,execve -k x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyRoot := t.TempDir()
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		out, diag string
	}{
		{"no subcommand", nil, exitUsage, "", "usage: osbuild audit check"},
		{"unknown subcommand", []string{"lint"}, exitUsage, "", "usage:"},
		{"no arch", []string{"check", good}, exitUsage, "", "usage:"},
		{"no files", []string{"check", "--arch", "x86_64"}, exitUsage, "", "usage:"},
		{"bad flag", []string{"check", "--arch", "x86_64", "--bogus", good}, exitUsage, "", "bogus"},
		{"quiet success", []string{"check", "--arch", "x86_64", good}, exitOK, "", ""},
		{"listing, flags after files", []string{"check", good, "-v", "--arch", "aarch64"}, exitOK,
			"-w /etc/docker -p rwxa -k docker\n-a always,exit -F arch=b64 -S execve,execveat -F key=x\n", ""},
		{"syntax problem", []string{"check", "--arch", "x86_64", bad}, exitFailed, "", bad + ":3: -w: path \"rel\" is not absolute"},
		{"unknown arch", []string{"check", "--arch", "mips", good}, exitFailed, "", "unknown target architecture"},
		{"missing file", []string{"check", "--arch", "x86_64", filepath.Join(dir, "none.rules")}, exitFailed, "", "none.rules"},
		{"root lacks the paths", []string{"check", "--arch", "x86_64", "--root", emptyRoot, good}, exitFailed, "",
			good + ":1: /etc/docker does not exist in the image"},
		{"root is not a directory", []string{"check", "--arch", "x86_64", "--root", good, good}, exitFailed, "", "not a directory"},
		{"policy directory", []string{"check", "--arch", "aarch64", "-v", "../../policies/audit"}, exitOK,
			"-w /usr/bin/dockerd -p rwxa -k docker\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runAudit(&stdout, &stderr, tc.args)
			if code != tc.code {
				t.Errorf("got exit code %d, want %d\nstderr: %s", code, tc.code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tc.out) || (tc.out == "" && stdout.Len() > 0) {
				t.Errorf("got stdout:\n%s\nwant it to start with:\n%s", stdout.String(), tc.out)
			}
			if !strings.Contains(stderr.String(), tc.diag) {
				t.Errorf("got stderr:\n%s\nwant it to contain %q", stderr.String(), tc.diag)
			}
		})
	}
}

func TestAuditCheckReportsValidateAndCheckTogether(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "r.rules")
	if err := os.WriteFile(f, []byte("-w /nope -k a\n-a always,exit -F arch=b64 -S open -k b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runAudit(&stdout, &stderr, []string{"check", "--arch", "aarch64", "--root", t.TempDir(), f}); code != exitFailed {
		t.Fatalf("got exit code %d, want %d", code, exitFailed)
	}
	out := stderr.String()
	i, j := strings.Index(out, f+":1:"), strings.Index(out, f+":2:")
	if i < 0 || j < 0 || i > j {
		t.Errorf("got:\n%s\nwant line 1 (Check) before line 2 (Validate)", out)
	}
	if !strings.Contains(out, "2 problems") {
		t.Errorf("got:\n%s\nwant a count of the problems", out)
	}
}
