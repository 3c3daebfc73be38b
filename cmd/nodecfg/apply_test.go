package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/nodecfg/apply"
)

// TestApplyCommandStaysInRoot runs `nodecfg apply --root` as first boot
// would, on configs of the review's findings, and on a good one.
func TestApplyCommandStaysInRoot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config func(outside string) string
		code   int
	}{
		{"config link at a home", func(outside string) string {
			return `{"ignition":{"version":"3.3.0"},"storage":{"links":[{"path":"/home/alice","target":` + strconv.Quote(outside) + `}]},
				"passwd":{"users":[{"name":"alice","sshAuthorizedKeys":["ssh-ed25519 AAAA alice"]}]}}`
		}, exitFailed},
		{"second root by gecos", func(string) string {
			return `{"ignition":{"version":"3.3.0"},"passwd":{"users":[{"name":"alice","gecos":"x\nroot2::0:0::/root:/bin/bash"}]}}`
		}, exitFailed},
		{"a good config", func(string) string {
			return `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,node1%0A"}}]}}`
		}, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
			os.MkdirAll(outside, 0o755)
			floor := filepath.Join(root, dockerfloor.NodePath)
			os.MkdirAll(filepath.Dir(floor), 0o755)
			os.WriteFile(floor, dockerfloor.Embedded(), 0o644)
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
			cfg := filepath.Join(top, "outside", "config.ign")
			os.WriteFile(cfg, []byte(tc.config(outside)), 0o600)
			if code := run(context.Background(), []string{"apply", "--root", root, "--config", cfg}); code != tc.code {
				t.Errorf("exit %d; want %d", code, tc.code)
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 {
				t.Errorf("%d entries outside the root; want only the config", len(entries))
			}
			_, err := os.Stat(filepath.Join(root, apply.RecordPath))
			if recorded := err == nil; recorded != (tc.code == exitOK) {
				t.Errorf("record written: %v; want %v", recorded, tc.code == exitOK)
			}
		})
	}
}
