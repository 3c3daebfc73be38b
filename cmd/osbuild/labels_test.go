package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabelsCmdUsage covers what needs no image; the lookups themselves
// are tested in internal/osbuild/labels and against a built image in
// test/image.
func TestLabelsCmdUsage(t *testing.T) {
	notDisk := filepath.Join(t.TempDir(), "zeros.raw")
	if err := os.WriteFile(notDisk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no arguments", nil, exitUsage, "expected IMAGE and at least one PATH"},
		{"no path", []string{"img.raw"}, exitUsage, "expected IMAGE and at least one PATH"},
		{"help", []string{"--help"}, exitOK, "usage: osbuild labels"},
		{"unknown flag", []string{"--frob", "img.raw", "/etc"}, exitUsage, "flag provided but not defined: -frob"},
		{"flag needs a value", []string{"img.raw", "/etc", "--expect-type"}, exitUsage, "flag needs an argument"},
		{"missing image", []string{"--json", filepath.Join(t.TempDir(), "nope.raw"), "/etc"}, exitFailed, "no such file"},
		{"not a GPT disk", []string{notDisk, "/etc"}, exitFailed, "osbuild labels: " + notDisk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := labelsCmd(context.Background(), &stdout, &stderr, tc.args)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr.String(), tc.stderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
		})
	}
}
