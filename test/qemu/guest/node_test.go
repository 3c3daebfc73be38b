//go:build guest

package guest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

var (
	wantDigest    = flag.String("nodecfg-digest", "", "digest of the Ignition config nodecfg must have applied")
	baseDaemonSHA = flag.String("base-daemon-sha256", "", "sha256 of the image's base /etc/docker/daemon.json")
	hostWait      = flag.Duration("host-wait", 10*time.Minute, "how long TestWaitForHost waits for the host")
	wantHostname  = flag.String("hostname", "", "the hostname the node config sets")
)

// TestHostname: the config's hostname is the running one from the first
// boot on, not only after a reboot (PID 1 read /etc/hostname before
// nodecfg wrote it), and the journal's first nodecfg line already ran
// under it is not required: what counts is that services started after
// first boot (docker, sshd, this check) see it.
func TestHostname(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if h != *wantHostname {
		t.Errorf("running hostname %q; want %q from the node config", h, *wantHostname)
	}
	b, _ := os.ReadFile("/etc/hostname")
	if strings.TrimSpace(string(b)) != *wantHostname {
		t.Errorf("/etc/hostname %q; want %q", b, *wantHostname)
	}
}

// TestNodecfgApplied checks the first-boot record and the modes of the
// TLS material nodecfg wrote.
func TestNodecfgApplied(t *testing.T) {
	b, err := os.ReadFile("/var/lib/bulwark/nodecfg/applied.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Digest, Source string }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Digest != *wantDigest || !strings.HasPrefix(rec.Source, "fw_cfg") {
		t.Errorf("applied %s from %s, want %s from fw_cfg", rec.Digest, rec.Source, *wantDigest)
	}
	for p, mode := range map[string]os.FileMode{"/etc/docker/tls/server-key.pem": 0o400, "/etc/docker/tls/server-cert.pem": 0o444, "/etc/docker/tls/ca.pem": 0o444} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", p, fi.Mode().Perm(), mode)
		}
	}
}

// TestDockerUnixSocket checks that root still reaches dockerd on the local
// socket, which carries no TLS user and is allowed by the policy.
func TestDockerUnixSocket(t *testing.T) {
	c, err := net.DialTimeout("unix", "/run/docker.sock", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Errorf("GET /_ping on /run/docker.sock: %q, %v", status, err)
	}
}

// TestWaitForHost holds the guest up until the host has run its checks
// against it and connects to port 7777 to release it. It answers
// "released": QEMU's user network accepts the host's connection before it
// reaches the guest, so only the answer tells the host it got through.
func TestWaitForHost(t *testing.T) {
	l, err := net.Listen("tcp", ":7777")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(*hostWait))
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("the host never released the guest: %v", err)
	}
	c.Write([]byte(releasedLine))
	c.Close()
}

// releasedLine is the guest's answer to the host's release.
const releasedLine = "released\n"

// TestDockerNotRunning: with a rejected config dockerd must not serve.
func TestDockerNotRunning(t *testing.T) {
	if c, err := net.DialTimeout("unix", "/run/docker.sock", 5*time.Second); err == nil {
		c.Close()
		t.Error("dockerd answers on /run/docker.sock although the node config was rejected")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:2376", 5*time.Second); err == nil {
		c.Close()
		t.Error("something listens on :2376 although the node config was rejected")
	}
}

// TestNoNodeFilesWritten: a rejected config leaves nothing behind.
func TestNoNodeFilesWritten(t *testing.T) {
	for _, p := range []string{"/etc/docker/tls/server-key.pem", "/etc/bulwark/authz/policy.json", "/var/lib/bulwark/nodecfg/applied.json"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after a rejected config", p)
		}
	}
	// The image's base daemon.json stays exactly as built: nothing of the
	// node's was merged into it, not even partly.
	b, err := os.ReadFile("/etc/docker/daemon.json")
	if err != nil {
		t.Fatalf("the image's base daemon.json: %v", err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != *baseDaemonSHA {
		t.Errorf("/etc/docker/daemon.json changed after a rejected config (sha256 %s, the image's is %s):\n%s", got, *baseDaemonSHA, b)
	}
}

// TestApplyTiming measures `nodecfg apply` of the node's own config into a
// fresh temp root, several times, and reports median, min and max. It is a
// measurement, logged for the closing note and `make bench`, not a limit.
func TestApplyTiming(t *testing.T) {
	raw, err := os.ReadFile("/sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := dir + "/config.ign"
	os.WriteFile(cfg, raw, 0o600)
	var runs []time.Duration
	for i := 0; i < 7; i++ {
		root, _ := os.MkdirTemp(dir, "root")
		// A root like the image's as far as apply reads it: the floor.
		floor, err := os.ReadFile("/usr/share/bulwark/docker/daemon.json")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(root+"/usr/share/bulwark/docker", 0o755)
		os.WriteFile(root+"/usr/share/bulwark/docker/daemon.json", floor, 0o644)
		start := time.Now()
		out, err := exec.Command("/usr/bin/nodecfg", "apply", "--root", root, "--config", cfg).CombinedOutput()
		runs = append(runs, time.Since(start))
		if err != nil {
			t.Fatalf("nodecfg apply: %v\n%s", err, out)
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
	t.Logf("nodecfg apply (%d runs, fresh temp root each): median %s, min %s, max %s",
		len(runs), runs[len(runs)/2].Round(time.Millisecond), runs[0].Round(time.Millisecond), runs[len(runs)-1].Round(time.Millisecond))
}

var secondBoot = flag.Bool("second-boot", false, "this is the node's second boot")

// TestNodecfgRanOnce: on a second boot nodecfg must find its record and
// apply nothing; on the first it must have applied.
func TestNodecfgRanOnce(t *testing.T) {
	b, err := os.ReadFile("/var/lib/bulwark/nodecfg/applied.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Applied time.Time }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	boot := bootTime(t)
	// The record is written once, when the config is applied: on the first
	// boot it is from this boot, on the second it must still be the first's.
	if *secondBoot && !rec.Applied.Before(boot) {
		t.Errorf("second boot: nodecfg applied the config again at %v (this boot began %v)", rec.Applied, boot)
	}
	if !*secondBoot && rec.Applied.Before(boot) {
		t.Errorf("first boot: the record (%v) predates this boot (%v)", rec.Applied, boot)
	}
	t.Logf("config applied %v; this boot began %v", rec.Applied.UTC(), boot.UTC())
}

// bootTime is when the running kernel booted (btime in /proc/stat). The
// check reads the record rather than the journal: journalctl started from a
// unit enters systemd_journal_init_t, a domain made for --flush that may not
// read the journal, and an admin's journalctl never runs there.
func bootTime(t *testing.T) time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var sec int64
		if _, err := fmt.Sscanf(l, "btime %d", &sec); err == nil {
			return time.Unix(sec, 0)
		}
	}
	t.Fatal("no btime in /proc/stat")
	return time.Time{}
}
