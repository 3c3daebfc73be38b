package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyCmd covers the command's exit codes and what it names; the
// signature cases (a foreign key, a changed SHA256SUMS) are tested with
// real gpg keys in internal/signedsums.
func TestVerifyCmd(t *testing.T) {
	dir := t.TempDir()
	data := []byte("image bytes")
	os.WriteFile(filepath.Join(dir, "a.raw"), data, 0o644)
	sum := sha256.Sum256(data)
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  a.raw\n"), 0o644)
	changed := t.TempDir()
	os.WriteFile(filepath.Join(changed, "a.raw"), []byte("image bytez"), 0o644)
	os.WriteFile(filepath.Join(changed, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  a.raw\n"), 0o644)
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"unsigned refused", []string{dir}, exitCheck, "", "SHA256SUMS.gpg"},
		{"unsigned allowed", []string{"--unsigned", dir}, exitOK, "a.raw: OK", ""},
		{"changed byte named", []string{dir + "/../" + filepath.Base(changed), "--unsigned"}, exitCheck, "a.raw: FAILED: sha256", "a.raw"},
		{"no directory", nil, exitUsage, "", ""}, // parse prints the usage error to the process's stderr
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := verifyCmd(context.Background(), &stdout, &stderr, tc.args)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
