//go:build guest

package guest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSSHHostKeys: the first boot made this node's own ed25519 and ECDSA
// host keys (bulwark-ssh-keygen@.service), private to root and labelled
// for sshd, made no RSA key, and sshd serves exactly those two, as a
// client sees them (ssh-keyscan against the running daemon).
func TestSSHHostKeys(t *testing.T) {
	for _, typ := range []string{"ed25519", "ecdsa"} {
		key := "/etc/ssh/ssh_host_" + typ + "_key"
		fi, err := os.Stat(key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			t.Fatalf("%s: no stat_t", key)
		}
		if fi.Mode().Perm() != 0o600 || st.Uid != 0 {
			t.Errorf("%s: mode %v uid %d, want 0600 and root", key, fi.Mode().Perm(), st.Uid)
		}
		buf := make([]byte, 256)
		n, err := unix.Getxattr(key, "security.selinux", buf)
		if err != nil {
			t.Errorf("%s: label: %v", key, err)
		} else if l := strings.TrimRight(string(buf[:n]), "\x00"); !strings.Contains(l, ":sshd_key_t:") {
			t.Errorf("%s: label %s, want type sshd_key_t", key, l)
		}
		out, err := exec.Command("ssh-keygen", "-l", "-f", key+".pub").CombinedOutput()
		if err != nil || !strings.Contains(strings.ToLower(string(out)), "("+typ+")") {
			t.Errorf("ssh-keygen -l %s.pub: %v: %s", key, err, out)
		}
	}
	if _, err := os.Stat("/etc/ssh/ssh_host_rsa_key"); err == nil {
		t.Error("/etc/ssh/ssh_host_rsa_key exists; the node makes no RSA host key")
	}
	out, err := exec.Command("ssh-keyscan", "-T", "20", "-t", "rsa,ecdsa,ed25519", "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan 127.0.0.1: %v: %s", err, out)
	}
	var served []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			served = append(served, f[1])
		}
	}
	slices.Sort(served)
	if !slices.Equal(served, []string{"ecdsa-sha2-nistp256", "ssh-ed25519"}) {
		t.Errorf("sshd serves host keys %v, want ssh-ed25519 and ecdsa-sha2-nistp256 only", served)
	}
}
