package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecureBootCmd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", nil, exitUsage, "usage: osbuild secureboot keys"},
		{"unknown subcommand", []string{"sign"}, exitUsage, "usage: osbuild secureboot keys"},
		{"no --out", []string{"keys"}, exitUsage, "usage: osbuild secureboot keys"},
		{"stray argument", []string{"keys", "--out", t.TempDir(), "extra"}, exitUsage, "usage: osbuild secureboot keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := secureBootCmd(context.Background(), &stdout, &stderr, tc.args)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d, stderr with %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
	t.Run("mints a set", func(t *testing.T) {
		if _, err := exec.LookPath("sign-efi-sig-list"); err != nil && os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") == "" {
			t.Skip("efitools not installed")
		}
		out := filepath.Join(t.TempDir(), "keys")
		var stdout, stderr bytes.Buffer
		if code := secureBootCmd(context.Background(), &stdout, &stderr, []string{"keys", "--out", out, "--name", "Test", "--years", "1"}); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		for _, f := range []string{"PK.key", "PK.crt", "PK.auth", "KEK.auth", "db.key", "db.crt", "db.auth"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Error(err)
			}
		}
		if code := secureBootCmd(context.Background(), &stdout, &stderr, []string{"keys", "--out", out}); code != exitFailed || !strings.Contains(stderr.String(), "not overwriting") {
			t.Errorf("minting over a key set: exit %d, %s", code, stderr.String())
		}
	})
}
