package main

import (
	"context"
	"path/filepath"
	"testing"
)

// TestFlagsAnywhere: nodecfg reads flags before or after its positional
// argument, as osbuild does (internal/cliparse), and still refuses a stray
// argument.
func TestFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	out := filepath.Join(dir, "out.json")
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		// A missing spec is a failure, not a usage error: the arguments
		// were understood in either order.
		{"render flag first", []string{"render", "-o", out, missing}, exitFailed},
		{"render flag last", []string{"render", missing, "-o", out}, exitFailed},
		{"render two specs", []string{"render", missing, missing}, exitUsage},
		{"render nothing", []string{"render"}, exitUsage},
		{"apply stray argument", []string{"apply", "stray", "--root", dir}, exitUsage},
		{"authz check stray argument", []string{"authz", "check", "stray", "--policy", missing}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(context.Background(), tc.args); got != tc.code {
				t.Errorf("nodecfg %q exited %d, want %d", tc.args, got, tc.code)
			}
		})
	}
}
