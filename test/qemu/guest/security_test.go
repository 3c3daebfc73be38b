//go:build guest

package guest

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/osbuild/labels"
)

var (
	selinuxMode  = flag.String("selinux-mode", "enforcing", "SELinux mode the image must boot in")
	busybox      = flag.String("busybox", "busybox", "static busybox for the guest arch (on the check disk)")
	strictSeccmp = flag.String("strict-seccomp", "/usr/share/bulwark/seccomp/strict.json", "the image's strict seccomp profile")
	auditRules   = flag.String("audit-rules", "", "file with the rules auditctl -l must list, one per line")
)

const testImage = "bulwark-busybox:test"

// docker runs the docker CLI as root over the unix socket.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// importBusybox makes a one-binary image from the static busybox, with the
// applets the checks use as links, through `docker import` (no registry).
func importBusybox(t *testing.T) {
	t.Helper()
	t.Log("importing the busybox image")
	if out, err := docker(t, "image", "inspect", testImage); err == nil {
		return
	} else if !strings.Contains(out, "No such image") {
		t.Logf("image inspect: %s", out)
	}
	bb, err := os.ReadFile(*busybox)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "tmp/", "proc/", "sys/", "dev/", "etc/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, a := range []string{"sh", "cat", "chmod", "echo", "free", "grep", "head", "id", "sleep", "stat", "touch", "tr", "unshare"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "import", "-", testImage)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
}

var keyRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// runIn runs script in a new container and returns its output as key=value
// pairs (lines "key=value"); other lines are kept under "".
func runIn(t *testing.T, opts []string, script string) map[string]string {
	t.Helper()
	args := append(append([]string{"run", "--rm"}, opts...), testImage, "/bin/sh", "-c", script)
	start := time.Now()
	out, err := docker(t, args...)
	t.Logf("docker %s (%s):\n%s", strings.Join(args[:len(args)-1], " "), time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && keyRE.MatchString(k) {
			kv[k] = v
		} else {
			kv[""] += l + "\n"
		}
	}
	return kv
}

func TestSELinuxMode(t *testing.T) {
	b, err := os.ReadFile("/sys/fs/selinux/enforce")
	if err != nil {
		t.Fatalf("SELinux not active: %v", err)
	}
	got := map[string]string{"1": "enforcing", "0": "permissive"}[strings.TrimSpace(string(b))]
	if got != *selinuxMode {
		t.Errorf("SELinux is %s, want %s", got, *selinuxMode)
	}
	out, _ := exec.Command("getenforce").CombinedOutput()
	t.Logf("getenforce: %s", bytes.TrimSpace(out))
}

// TestPolicyVersion checks that the image ships its compiled SELinux
// policy at the version the running kernel loads and at no other: with a
// newer file only, libselinux converts it in PID 1 at every boot (about
// half a second of an emulated boot, before anything else runs).
func TestPolicyVersion(t *testing.T) {
	b, err := os.ReadFile("/sys/fs/selinux/policyvers")
	if err != nil {
		t.Fatalf("SELinux not active: %v", err)
	}
	kernel := strings.TrimSpace(string(b))
	cfg, err := os.ReadFile("/etc/selinux/config")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := labels.ParseConfig(cfg)
	if err != nil {
		t.Fatalf("/etc/selinux/config: %v:\n%s", err, cfg)
	}
	files, err := filepath.Glob(filepath.Join("/etc/selinux", policy, "policy", "policy.*"))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("/etc/selinux", policy, "policy", "policy."+kernel)
	if len(files) != 1 || files[0] != want {
		t.Errorf("compiled policies %v; want %s alone (the kernel loads version %s)", files, want, kernel)
	}
}

// labelRE is a confined container's label: container_t (svirt_lxc_net_t is
// its old alias) with an MCS pair of its own. spc_t, which a container gets
// when SELinux labelling is off, does not match.
var labelRE = regexp.MustCompile(`^system_u:system_r:(container_t|svirt_lxc_net_t):s0:(c\d+),(c\d+)$`)

// floorSeccomp is the floor's seccomp profile; docker info names it.
const floorSeccomp = "/usr/share/bulwark/seccomp/default.json"

// TestContainerConfinement runs two containers with the image's defaults:
// seccomp filter mode, a blocked syscall, a container SELinux domain with
// distinct MCS pairs, and lxcfs's view of a 256 MiB memory limit.
func TestContainerConfinement(t *testing.T) {
	importBusybox(t)
	info, _ := docker(t, "info", "--format", "{{json .SecurityOptions}} {{.DefaultRuntime}}")
	t.Logf("docker info: %s", info)
	if !strings.Contains(info, "name=selinux") || !strings.Contains(info, "name=seccomp,profile="+floorSeccomp) || !strings.HasSuffix(strings.TrimSpace(info), " bulwark") {
		t.Errorf("docker info: %s; want name=selinux, name=seccomp,profile=%s and the bulwark runtime (the floor)", info, floorSeccomp)
	}
	script := `echo "seccomp=$(grep ^Seccomp: /proc/self/status)"
echo "nnp=$(grep ^NoNewPrivs: /proc/self/status)"
echo "label=$(cat /proc/self/attr/current | tr -d '\0')"
echo "unshare_out=$(unshare -U true 2>&1)"; unshare -U true 2>/dev/null; echo "unshare_rc=$?"
echo "memtotal=$(grep ^MemTotal: /proc/meminfo)"
echo "free=$(free -k | grep ^Mem:)"`
	a := runIn(t, []string{"-m", "256m"}, script)
	b := runIn(t, nil, `echo "label=$(cat /proc/self/attr/current | tr -d '\0')"`)

	if f := strings.Fields(a["seccomp"]); len(f) != 2 || f[1] != "2" {
		t.Errorf("container /proc/self/status %q, want Seccomp: 2 (filter)", a["seccomp"])
	}
	if f := strings.Fields(a["nnp"]); len(f) != 2 || f[1] != "1" {
		t.Errorf("container /proc/self/status %q, want NoNewPrivs: 1 (the floor's no-new-privileges)", a["nnp"])
	}
	if a["unshare_rc"] == "0" || !strings.Contains(a["unshare_out"], "Operation not permitted") {
		t.Errorf("unshare(CLONE_NEWUSER) in a container: rc %s %q, want EPERM from the seccomp profile", a["unshare_rc"], a["unshare_out"])
	}
	ma, mb := labelRE.FindStringSubmatch(a["label"]), labelRE.FindStringSubmatch(b["label"])
	switch {
	case ma == nil || mb == nil:
		t.Errorf("container labels %q and %q, want container_t with an MCS pair", a["label"], b["label"])
	case ma[2]+ma[3] == mb[2]+mb[3]:
		t.Errorf("two containers share the MCS pair %s,%s", ma[2], ma[3])
	}
	if f := strings.Fields(a["memtotal"]); len(f) < 2 || f[1] != "262144" {
		t.Errorf("container with -m 256m: /proc/meminfo %q, want MemTotal: 262144 kB (lxcfs)", a["memtotal"])
	}
	// busybox's free asks sysinfo(2), which lxcfs cannot virtualise (procps's
	// free reads /proc/meminfo and would agree with the line above).
	t.Logf("busybox free (sysinfo, not lxcfs): %s", a["free"])
}

// TestStrictSeccompProfile: the opt-in profile refuses setuid and setgid
// modes through chmod, through open with O_CREAT (busybox cpio extracting
// a setuid file from an archive the shell writes) and through mknod (a
// setuid FIFO), while plain modes work.
func TestStrictSeccompProfile(t *testing.T) {
	importBusybox(t)
	// The archive is cpio's "newc" format: a header of hex fields (ino,
	// mode 0104755, uid, gid, nlink, mtime, size, dev and rdev numbers,
	// name size, check), the name padded to four bytes, and the trailer.
	script := `touch /tmp/f && chmod 644 /tmp/f && echo plain=ok
echo "suid_out=$(chmod u+s /tmp/f 2>&1)"; chmod u+s /tmp/f 2>/dev/null; echo "suid_rc=$?"
chmod g+s /tmp/f 2>/dev/null; echo "sgid_rc=$?"
echo "mode=$(stat -c %a /tmp/f)"
h() { printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' 1 $1 0 0 1 0 0 0 0 0 0 $2 0; }
{ h 0x89ED 5; printf 'suid\0\0'; h 0 11; printf 'TRAILER!!!\0\0\0'; } >/tmp/suid.cpio
cd /tmp && busybox cpio -i </tmp/suid.cpio 2>/tmp/err; echo "cpio_rc=$?"; echo "cpio_err=$(head -n1 /tmp/err)"
echo "cpio_mode=$(stat -c %a /tmp/suid 2>/dev/null)"
busybox mknod -m 4755 /tmp/fifo p 2>/tmp/err; echo "mknod_rc=$?"; echo "mknod_err=$(cat /tmp/err)"
echo "fifo_mode=$(stat -c %a /tmp/fifo 2>/dev/null)"
busybox mknod -m 640 /tmp/plainfifo p && echo "plainfifo=$(stat -c %a /tmp/plainfifo)"`
	strict := runIn(t, []string{"--security-opt", "seccomp=" + *strictSeccmp}, script)
	if strict["plain"] != "ok" || strict["mode"] != "644" {
		t.Errorf("strict profile: plain chmod 644: %q, mode %q; want ok, 644", strict["plain"], strict["mode"])
	}
	if strict["suid_rc"] == "0" || strict["sgid_rc"] == "0" || !strings.Contains(strict["suid_out"], "Operation not permitted") {
		t.Errorf("strict profile: chmod u+s rc %s (%q), g+s rc %s; want both refused with EPERM", strict["suid_rc"], strict["suid_out"], strict["sgid_rc"])
	}
	if strict["cpio_rc"] == "0" || !strings.Contains(strict["cpio_err"], "Operation not permitted") || strict["cpio_mode"] != "" {
		t.Errorf("strict profile: cpio of a setuid file rc %s (%q), mode %q; want open(O_CREAT, 0104755) refused with EPERM and no file", strict["cpio_rc"], strict["cpio_err"], strict["cpio_mode"])
	}
	if strict["mknod_rc"] == "0" || !strings.Contains(strict["mknod_err"], "Operation not permitted") {
		t.Errorf("strict profile: mknod -m 4755 p rc %s (%q); want refused with EPERM", strict["mknod_rc"], strict["mknod_err"])
	}
	if strict["plainfifo"] != "640" {
		t.Errorf("strict profile: mknod -m 640 p: mode %q; want 640", strict["plainfifo"])
	}
	// The same script under the default profile sets the bits: the
	// refusals above are the strict profile's doing, not the filesystem's.
	def := runIn(t, nil, script)
	if def["suid_rc"] != "0" || def["mode"] != "6644" {
		t.Errorf("default profile: chmod u+s rc %s, mode %q; want 0 and 6644", def["suid_rc"], def["mode"])
	}
	if def["cpio_rc"] != "0" || def["cpio_mode"] != "4755" {
		t.Errorf("default profile: cpio of a setuid file rc %s (%q), mode %q; want 0 and 4755", def["cpio_rc"], def["cpio_err"], def["cpio_mode"])
	}
	if def["mknod_rc"] != "0" || def["fifo_mode"] != "4755" {
		t.Errorf("default profile: mknod -m 4755 p rc %s (%q), mode %q; want 0 and 4755", def["mknod_rc"], def["mknod_err"], def["fifo_mode"])
	}
}

// TestLxcfsSurvivesReload: a running container keeps its lxcfs views
// across `systemctl reload lxcfs`.
func TestLxcfsSurvivesReload(t *testing.T) {
	importBusybox(t)
	name := "bulwark-lxcfs-reload"
	docker(t, "rm", "-f", name)
	if out, err := docker(t, "run", "-d", "--name", name, "-m", "128m", testImage, "sleep", "600"); err != nil {
		t.Fatalf("docker run -d: %v\n%s", err, out)
	}
	defer docker(t, "rm", "-f", name)
	memtotal := func() string {
		out, err := docker(t, "exec", name, "grep", "^MemTotal:", "/proc/meminfo")
		if err != nil {
			return fmt.Sprintf("error %v: %s", err, out)
		}
		return strings.Join(strings.Fields(out), " ")
	}
	if got := memtotal(); got != "MemTotal: 131072 kB" {
		t.Fatalf("before reload: %q, want MemTotal: 131072 kB", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "systemctl", "reload", "lxcfs.service").CombinedOutput(); err != nil {
		t.Fatalf("systemctl reload lxcfs: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second)
	if got := memtotal(); got != "MemTotal: 131072 kB" {
		t.Errorf("after reload: %q, want MemTotal: 131072 kB", got)
	}
}

// TestAuditRules: auditd loaded every rule of the image, and running the
// docker CLI leaves a record with the docker key.
func TestAuditRules(t *testing.T) {
	if *auditRules == "" {
		t.Fatal("-audit-rules not given")
	}
	want, err := os.ReadFile(*auditRules)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("auditctl", "-l").CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl -l: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	n := 0
	for _, l := range strings.Split(string(want), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		n++
		if !have[l] {
			t.Errorf("auditctl -l lacks %q", l)
		}
	}
	t.Logf("auditctl -l lists all %d expected rules", n)
	before := countDockerRecords(t)
	if out, err := docker(t, "ps"); err != nil {
		t.Fatalf("docker ps: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for countDockerRecords(t) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no new audit record with key=\"docker\" and comm=\"docker\" after docker ps (had %d)", before)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func countDockerRecords(t *testing.T) int {
	b, err := os.ReadFile("/var/log/audit/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `key="docker"`) && strings.Contains(l, `comm="docker"`) {
			n++
		}
	}
	return n
}

// TestDockerFileModes checks owners and modes against the CIS Docker
// Benchmark, section 3.
func TestDockerFileModes(t *testing.T) {
	docker(t, "version") // make sure the socket exists
	gid := groupID(t, "docker")
	// With the remap on, dockerd gives its root to the remapped root's
	// group (0710), so that group can reach its own subtree and no other.
	var rootGID uint32
	if info, _ := docker(t, "info", "--format", "{{json .SecurityOptions}}"); strings.Contains(info, "name=userns") {
		g, _ := remapRange(t, "/etc/subgid")
		rootGID = uint32(g)
	}
	tests := []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{"/usr/lib/systemd/system/docker.service", 0o644, 0, 0}, // 3.1, 3.2
		{"/usr/lib/systemd/system/containerd.service", 0o644, 0, 0},
		{"/etc/docker", 0o755, 0, 0},                     // 3.5, 3.6
		{"/etc/docker/daemon.json", 0o644, 0, 0},         // 3.17, 3.18
		{"/etc/docker/tls/ca.pem", 0o444, 0, 0},          // 3.11, 3.12
		{"/etc/docker/tls/server-cert.pem", 0o444, 0, 0}, // 3.13, 3.14
		{"/etc/docker/tls/server-key.pem", 0o400, 0, 0},  // 3.15, 3.16
		{"/run/docker.sock", 0o660, 0, gid},              // 3.15/3.16 (docker.sock)
		{"/var/lib/docker", 0o710, 0, rootGID},
		{"/run/containerd/containerd.sock", 0o660, 0, 0},
	}
	for _, tc := range tests {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: %o %d:%d, want %o %d:%d", tc.path, fi.Mode().Perm(), st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
		}
	}
}

func groupID(t *testing.T, name string) uint32 {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] == name {
			var id uint32
			fmt.Sscan(f[2], &id)
			return id
		}
	}
	t.Fatalf("no group %s", name)
	return 0
}
