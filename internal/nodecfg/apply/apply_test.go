package apply

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/nodecfg/render"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/pki"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const spec = `apiVersion: bulwark.dev/v1alpha1
kind: NodeSpec
hostname: node1
users:
  - {name: ops, groups: [adm], sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0ZkSH2bDbjnP3o5U5g0GVqfGsGdW4Dk8ljQ5V6jbqO ops"]}
docker:
  tls: {listen: ["tcp://0.0.0.0:2376"], ca: ca.pem, cert: srv.pem, key: srv-key.pem, addresses: [10.0.2.15]}
authz:
  rules: [{name: admins, users: [alice], actions: ["*"]}]
units:
  - {name: hello.service, enabled: true, contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}
  - {name: apt-daily.timer, mask: true}
`

// renderConfig renders spec with fresh certificates; ca is the CA to sign
// the server certificate with (nil: the one written as ca.pem).
func renderConfig(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	ca, _ := pki.NewCA("ca", pki.ECDSA, 400*24*time.Hour, now)
	srv, _ := pki.NewServer(ca, "node1", nil, []net.IP{net.ParseIP("10.0.2.15")}, pki.ECDSA, 90*24*time.Hour, now)
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "srv.pem"), srv.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "srv-key.pem"), srv.KeyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "node.yaml"), []byte(spec), 0o644)
	s, err := nodespec.Load(filepath.Join(dir, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(s, render.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return res.JSON
}

func newRoot(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"), 0o640)
	os.MkdirAll(filepath.Join(root, "usr/lib/systemd/system"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/apt-daily.timer"), []byte("[Timer]\n"), 0o644)
	return root
}

func TestApplyIntoRoot(t *testing.T) {
	raw := renderConfig(t)
	c, warn, err := Parse("node1.ign", raw, CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil || len(warn) > 0 {
		t.Fatalf("Parse: %v (warnings %v)", err, warn)
	}
	root := newRoot(t)
	did, err := Apply(context.Background(), c, Options{Root: root, Source: "test"})
	if err != nil || !did {
		t.Fatalf("Apply = %v, %v", did, err)
	}
	for path, mode := range map[string]os.FileMode{
		"etc/docker/daemon.json": 0o644, "etc/docker/tls/server-key.pem": 0o400, "etc/docker/tls/ca.pem": 0o444,
		"etc/bulwark/authz/policy.json": 0o644, "home/ops/.ssh/authorized_keys": 0o600, "etc/hostname": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", path, fi.Mode().Perm(), mode)
		}
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/hello.service")); l != "/etc/systemd/system/hello.service" {
		t.Errorf("hello.service enable link -> %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/systemd/system/apt-daily.timer")); l != "/dev/null" {
		t.Errorf("apt-daily.timer mask link -> %q", l)
	}
	pw, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	grp, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !strings.Contains(string(pw), "ops:x:1000:1000::/home/ops:/bin/bash") || !strings.Contains(string(grp), "adm:x:4:ops") || !strings.Contains(string(grp), "ops:x:1000:") {
		t.Errorf("accounts:\n%s\n%s", pw, grp)
	}
	// A second boot with the same config does nothing.
	if did, err := Apply(context.Background(), c, Options{Root: root, Source: "test"}); err != nil || did {
		t.Errorf("second Apply = %v, %v; want a no-op", did, err)
	}
	// A different config is refused.
	c2, _, err := Parse("other.ign", renderConfig(t), CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), c2, Options{Root: root}); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("Apply of another config: %v, want ErrAlreadyApplied", err)
	}
}

func TestFailedApplyLeavesNoRecordAndReruns(t *testing.T) {
	raw := strings.Replace(string(renderConfig(t)), `"name": "hello.service"`, `"name": "missing.service"`, 1)
	raw = strings.Replace(raw, `"contents": "[Service]`, `"x": "[Service]`, 1)
	c, _, err := Parse("n.ign", []byte(strings.Replace(raw, `"x": `, `"description": `, 1)), CheckOptions{Now: now, Floor: testFloor(t)})
	if err != nil {
		t.Fatalf("a unit without contents must parse: %v", err)
	}
	root := newRoot(t)
	unit := filepath.Join(root, "usr/lib/systemd/system/missing.service")
	for _, tc := range []struct {
		name, unit, want string
	}{
		{"no unit file", "", "$.systemd.units.0.name: enabling missing.service: no unit file in"},
		{"no [Install] section", "[Service]\nExecStart=/bin/true\n", "$.systemd.units.0.name: enabling missing.service: /usr/lib/systemd/system/missing.service has no [Install] section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unit != "" {
				os.WriteFile(unit, []byte(tc.unit), 0o644)
			}
			before := snapshot(t, root)
			if _, err := Apply(context.Background(), c, Options{Root: root}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply = %v; want an error containing %q", err, tc.want)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("a failed apply wrote (daemon.json, units, a record: the next boot would not finish the job):\n%s\nwas\n%s", after, before)
			}
		})
	}
	os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/missing.service"), []byte("[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"), 0o644)
	if did, err := Apply(context.Background(), c, Options{Root: root}); err != nil || !did {
		t.Fatalf("rerun after fixing: %v, %v", did, err)
	}
}

func TestParseRejects(t *testing.T) {
	good := string(renderConfig(t))
	otherCA, _ := pki.NewCA("other", pki.ECDSA, time.Hour*24, now)
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"not json", "{", "not a usable Ignition config"},
		{"old spec", `{"ignition":{"version":"2.2.0"}}`, "not a usable Ignition config"},
		{"disks", `{"ignition":{"version":"3.3.0"},"storage":{"disks":[{"device":"/dev/vda"}]}}`, "$.storage.disks: not supported"},
		{"luks", `{"ignition":{"version":"3.3.0"},"storage":{"luks":[{"name":"x","device":"/dev/vda1"}]}}`, "$.storage.luks: not supported"},
		{"kargs", `{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["quiet"]}}`, "$.kernelArguments.shouldExist: not supported"},
		{"remote source", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/x","contents":{"source":"https://example.com/x"}}]}}`, "$.storage.files.0.contents.source: source"},
		{"write to /usr", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/usr/bin/x","contents":{"source":"data:,x"}}]}}`, "read-only, verity-protected /usr"},
		{"bad daemon.json", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/docker/daemon.json","contents":{"source":"data:,%7B%22hosts%22%3A%5B%22tcp%3A%2F%2F0.0.0.0%3A2375%22%5D%7D"}}]}}`, "an unauthenticated root API"},
		{"userns subgid without subuid", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/subgid","contents":{"source":"data:,dockremap%3A100000%3A65536%0A"}}]}}`, "no /etc/subuid entry"},
		{"userns subuid without dockremap", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/subuid","contents":{"source":"data:,other%3A100000%3A65536%0A"}},{"path":"/etc/subgid","contents":{"source":"data:,dockremap%3A100000%3A65536%0A"}}]}}`, "/etc/subuid has no dockremap entry"},
		{"userns remap off without leave", `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/docker/daemon.json","contents":{"source":"data:,%7B%22userns-remap%22%3A%22%22%7D"}}]}}`, "$.userns-remap: weakens the node's floor"},
		{"wrong CA", strings.Replace(good, caSource(t, good), "data:;base64,"+b64(otherCA.CertPEM), 1), "does not verify against the CA"},
		{"another CA appended to ca.pem", strings.Replace(good, caSource(t, good), "data:;base64,"+b64(append(unb64(t, caSource(t, good)), otherCA.CertPEM...)), 1), "give exactly one CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("node.ign", []byte(tc.raw), CheckOptions{Now: now, Floor: testFloor(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
}
