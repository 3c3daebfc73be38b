//go:build guest

package guest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/sysupdate"
)

// The update chain (harness: update_test.go) boots one disk several
// times: v1 refuses bad payloads and takes v2; v2 runs, is blessed and
// takes v3; v3 cannot start docker, so the node reboots itself until
// systemd-boot falls back to v2. The flags say which stage a boot is.
var (
	updateStage   = flag.String("update-stage", "", "update chain stage of this boot: v1, v2 or rollback")
	updateSource  = flag.String("update-source", "", "base URL of the host's update server (…/<dir>/ serves a release)")
	updateNext    = flag.String("update-next", "", "version the update started in this boot must install")
	wantVersion   = flag.String("want-version", "", "IMAGE_VERSION this boot must run")
	wantUsrHash   = flag.String("want-usrhash", "", "usrhash= this boot's command line must carry")
	badVersion    = flag.String("bad-version", "", "the version that cannot start docker (rollback stage)")
	badSources    = flag.String("bad-sources", "", "directories under -update-source whose payloads must be refused, each with what the refusal must say: dir:text;dir:text")
	updateImage   = flag.String("update-image", "", "the image's name (IMAGE_ID), which prefixes its UKIs on the ESP")
	updateTries   = flag.Int("update-tries", sysupdate.DefaultTries, "boot tries an update gets (the node spec's update.tries)")
	keeperDataDir = "/var/lib/bulwark-update-test"
)

// keeper is the container started on v1 whose data must outlive updates.
const keeper = "keeper"

// loaderEntrySelected is systemd-boot's variable naming the entry it
// booted (UTF-16LE after four bytes of attributes).
const loaderEntrySelected = "/sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// loaderBootCountPath is where systemd-boot says the booted entry's file
// with its boot counter is: set only for an entry under assessment.
const loaderBootCountPath = "/sys/firmware/efi/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

func efiString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4 || len(b)%2 != 0 {
		t.Fatalf("%s: %d bytes, not attributes and a UTF-16 string", path, len(b))
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 4; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// runningVersion is the booted image's version, read as nodecfg update
// status reads it.
func runningVersion(t *testing.T) string {
	t.Helper()
	v, err := sysupdate.RunningVersion(sysupdate.OSRelease)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cmdlineUsrHash(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "usrhash="); ok {
			return v
		}
	}
	t.Fatalf("no usrhash= on the command line: %s", b)
	return ""
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// espDir is where the ESP is mounted (systemd-gpt-auto-generator's
// automount), so sysupdate and systemd-bless-boot can reach it.
func espDir(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/efi", "/boot"} {
		if _, err := os.Stat(filepath.Join(d, "EFI/Linux")); err == nil {
			return d
		}
	}
	t.Fatal("the ESP is mounted neither at /efi nor at /boot")
	return ""
}

// ukis lists the image's UKIs on the ESP.
func ukis(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(espDir(t), "EFI/Linux"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// diskState hashes what a refused update must leave alone: the GPT
// (header and entries: every partition's label, UUID and place), the
// first MiB of the running /usr slot and its hash tree (the partitions
// labelled with the image's name; the idle slots are "_empty", free space
// sysupdate may write before it checks), and the ESP's UKIs. It also
// returns the partitions' labels, to say what changed.
func diskState(t *testing.T) (sum string, labels []string) {
	t.Helper()
	root, err := filepath.EvalSymlinks("/dev/disk/by-partlabel/ROOT")
	if err != nil {
		t.Fatal(err)
	}
	parent, err := filepath.EvalSymlinks("/sys/class/block/" + filepath.Base(root) + "/..")
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Base(parent)
	h := sha256.New()
	f, err := os.Open("/dev/" + disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// LBA 1 (the header) to 33 (128 entries of 128 bytes), 512-byte sectors.
	if _, err := io.Copy(h, io.NewSectionReader(f, 512, 33*512)); err != nil {
		t.Fatal(err)
	}
	parts, _ := filepath.Glob(filepath.Join(parent, disk+"*"))
	slices.Sort(parts)
	for _, p := range parts {
		ue, err := os.ReadFile(filepath.Join(p, "uevent"))
		if err != nil {
			continue
		}
		var name string
		for _, l := range strings.Split(string(ue), "\n") {
			if v, ok := strings.CutPrefix(l, "PARTNAME="); ok {
				name = v
			}
		}
		labels = append(labels, filepath.Base(p)+"="+name)
		if !strings.HasPrefix(name, *updateImage+"_") {
			continue
		}
		pf, err := os.Open("/dev/" + filepath.Base(p))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(h, io.NewSectionReader(pf, 0, 1<<20))
		pf.Close()
	}
	fmt.Fprintf(h, "%q", ukis(t))
	return hex.EncodeToString(h.Sum(nil)), labels
}

// runSysupdate runs systemd-sysupdate update in its unit, as an operator
// would (systemctl start), and returns its result and journal.
func runSysupdate(t *testing.T) (result, log string) {
	t.Helper()
	since := time.Now()
	// A unit not loaded yet has no failed state to reset: ignore that.
	exec.Command("systemctl", "reset-failed", "systemd-sysupdate.service").Run()
	systemctl(t, "start", "systemd-sysupdate.service")
	st := waitUnit(t, "systemd-sysupdate.service", "finished", 15*time.Minute, func(s unitState) bool {
		return s.active == "inactive" || s.active == "failed"
	})
	var msgs []string
	for _, e := range journalEntries(t, "systemd-sysupdate.service", since) {
		msgs = append(msgs, e["MESSAGE"])
	}
	out := strings.Join(msgs, "\n")
	t.Logf("systemd-sysupdate (%s, result %s):\n%s", time.Since(since).Round(time.Second), st.result, out)
	return st.result, out
}

// pointAt makes every transfer fetch from dir under the update source
// for this boot only (/run), over the node's own drop-in.
func pointAt(t *testing.T, dir string) func() {
	t.Helper()
	var made []string
	for _, tr := range sysupdate.Transfers() {
		d := "/run/sysupdate.d/" + tr + ".d"
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(d, "zz-test-source.conf")
		if err := os.WriteFile(f, []byte("[Source]\nPath="+strings.TrimSuffix(*updateSource, "/")+"/"+dir+"/\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		made = append(made, f)
	}
	return func() {
		for _, f := range made {
			os.Remove(f)
		}
	}
}

// TestUpdateRefused: payloads with a flipped byte or signed by a key the
// image does not trust are refused, and nothing on the disk changes.
func TestUpdateRefused(t *testing.T) {
	if *updateStage != "v1" {
		t.Skip("v1 stage only")
	}
	for _, src := range strings.Split(*badSources, ";") {
		dir, why, _ := strings.Cut(src, ":")
		t.Run(dir, func(t *testing.T) {
			before, labels := diskState(t)
			undo := pointAt(t, dir)
			defer undo()
			result, log := runSysupdate(t)
			if result == "success" {
				t.Errorf("systemd-sysupdate took the %s payload", dir)
			}
			if !strings.Contains(log, why) {
				t.Errorf("systemd-sysupdate's log does not say %q", why)
			}
			if after, now := diskState(t); after != before {
				t.Errorf("the disk changed (GPT, the running /usr slot or the ESP) after a refused update; partitions before %v, after %v", labels, now)
			}
		})
	}
}

// checkRunning checks the version and usrhash this boot runs, the state
// kept from v1 and that the booted entry is blessed.
func checkRunning(t *testing.T) {
	t.Helper()
	if v := runningVersion(t); v != *wantVersion {
		t.Errorf("running IMAGE_VERSION %s, want %s", v, *wantVersion)
	}
	if h := cmdlineUsrHash(t); h != *wantUsrHash {
		t.Errorf("running usrhash %s, want %s", h, *wantUsrHash)
	}
	want, err := os.ReadFile(filepath.Join(keeperDataDir, "daemon.json.sha256"))
	if err != nil {
		t.Fatalf("the digest v1 recorded in /var is gone: %v", err)
	}
	sum, err := manifest.FileDigest("/etc/docker/daemon.json")
	if err != nil {
		t.Fatal(err)
	}
	if sum != string(want) {
		t.Errorf("/etc/docker/daemon.json changed since v1")
	}
	var out string
	for i := 0; i < 60; i++ {
		if out, err = docker(t, "exec", keeper, "cat", "/data/mark"); err == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if strings.TrimSpace(out) != "written-on-v1" {
		t.Errorf("container %s's data: %q (%v), want written-on-v1", keeper, out, err)
	}
	entry := efiString(t, loaderEntrySelected)
	t.Logf("systemd-boot booted %s", entry)
	// An entry under assessment (systemd-boot set LoaderBootCountPath)
	// is blessed by systemd-bless-boot once boot-complete.target is
	// reached: it renames the entry without its counter. An entry blessed
	// before (v2 after the fallback) is not assessed again, and the unit
	// is never started.
	if _, err := os.Stat(loaderBootCountPath); err == nil {
		st := waitUnit(t, "systemd-bless-boot.service", "done blessing the boot", 5*time.Minute, func(s unitState) bool {
			return s.active == "active" || s.active == "failed"
		})
		if st.active != "active" {
			t.Errorf("systemd-bless-boot.service is %s/%s", st.active, st.result)
		}
	} else {
		t.Logf("%s is not under assessment (no LoaderBootCountPath): blessed before", entry)
	}
	blessed := *updateImage + "_" + *wantVersion + ".efi"
	if names := ukis(t); !slices.Contains(names, blessed) {
		t.Errorf("ESP /EFI/Linux has %v: no blessed %s", names, blessed)
	}
	out, err = run(t, "nodecfg", "update", "status")
	t.Logf("nodecfg update status:\n%s", out)
	if err != nil {
		t.Errorf("nodecfg update status: %v", err)
	}
}

// TestUpdateApplied: v2 runs (its usrhash), with v1's node config and
// container data, and its boot was blessed.
func TestUpdateApplied(t *testing.T) {
	if *updateStage != "v2" {
		t.Skip("v2 stage only")
	}
	checkRunning(t)
	// systemd-boot names the entry without its counter and says where the
	// counted file was when it booted it: one try spent of -update-tries.
	if e := efiString(t, loaderEntrySelected); e != *updateImage+"_"+*wantVersion+".efi" {
		t.Errorf("booted entry %s, want %s_%s.efi", e, *updateImage, *wantVersion)
	}
	// The node's health check ran and passed: it is what boot-complete.target
	// (and so the blessing) waits for.
	if st := waitUnit(t, "bulwark-health.service", "done", time.Minute, func(s unitState) bool { return s.active != "activating" }); st.active != "active" || st.result != "success" {
		t.Errorf("bulwark-health.service: %+v, want active and success", st)
	}
	want := fmt.Sprintf("%s_%s+%d-1.efi", *updateImage, *wantVersion, *updateTries-1)
	if p := efiString(t, loaderBootCountPath); !strings.HasSuffix(p, want) {
		t.Errorf("LoaderBootCountPath %q, want …%s (boot counting, first try)", p, want)
	}
}

// TestUpdateStart runs the update to -update-next from the node's own
// source (its node config's update.url) and checks what it wrote: the
// other slot now holds the new version and its UKI is on the ESP with
// -update-tries boot tries (the node's update.tries). On v1 it first leaves state that must outlive
// updates: a running container with data in a volume, and the digest of
// the node's daemon.json.
func TestUpdateStart(t *testing.T) {
	if *updateStage != "v1" && *updateStage != "v2" {
		t.Skip("v1 and v2 stages only")
	}
	if *updateStage == "v1" {
		importBusybox(t)
		if out, err := docker(t, "run", "-d", "--name", keeper, "--restart", "always", "-v", "keeperdata:/data", testImage,
			"/bin/sh", "-c", "echo written-on-v1 > /data/mark; exec sleep 100000"); err != nil {
			t.Fatalf("docker run: %v\n%s", err, out)
		}
		sum, err := manifest.FileDigest("/etc/docker/daemon.json")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(keeperDataDir, 0o700)
		if err := os.WriteFile(filepath.Join(keeperDataDir, "daemon.json.sha256"), []byte(sum), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if result, _ := runSysupdate(t); result != "success" {
		t.Fatalf("systemd-sysupdate: result %s", result)
	}
	// The node's tries, none spent: "+N" or, with TriesDone=0, "+N-0".
	want := fmt.Sprintf("%s_%s+%d", *updateImage, *updateNext, *updateTries)
	if names := ukis(t); !slices.ContainsFunc(names, func(n string) bool { return n == want+".efi" || n == want+"-0.efi" }) {
		t.Errorf("ESP /EFI/Linux has %v, want %s.efi among them", names, want)
	}
	out, err := run(t, "nodecfg", "update", "status")
	t.Logf("nodecfg update status:\n%s", out)
	if err != nil {
		t.Errorf("nodecfg update status: %v", err)
	}
	if !strings.Contains(out, *updateNext) {
		t.Errorf("nodecfg update status does not show %s in the other slot", *updateNext)
	}
}

// TestRolledBack: on v3 it waits for the node to reboot itself (its
// health fails, so the boot is never blessed); once systemd-boot has spent
// v3's tries it boots v2 again, which must run blessed with the state kept
// and v3's entry marked bad (+0-N, N the node's tries).
func TestRolledBack(t *testing.T) {
	if *updateStage != "rollback" {
		t.Skip("rollback stage only")
	}
	if v := runningVersion(t); v == *badVersion {
		t.Logf("running %s (entry %s): waiting for the node to reboot itself", v, efiString(t, loaderEntrySelected))
		time.Sleep(10 * time.Minute)
		t.Fatalf("%s still running after 10 minutes: the node did not reboot itself", v)
	}
	checkRunning(t)
	bad := fmt.Sprintf("%s_%s+0-%d.efi", *updateImage, *badVersion, *updateTries)
	if names := ukis(t); !slices.Contains(names, bad) {
		t.Errorf("ESP /EFI/Linux has %v, want %s (v3 marked bad after %d tries)", names, bad, *updateTries)
	}
}
