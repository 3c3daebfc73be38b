//go:build guest

// Package guest holds the checks that run inside a booted Bulwark VM. The
// harness cross-compiles this package's test binary for the guest arch,
// hands it to the VM on a read-only check disk and reads `go test -v`
// output back from the report port (qemu.ReportPort). Flags carry what the
// host expects.
package guest

import (
	"bufio"

	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	wantArch      = flag.String("arch", "", "expected uname machine")
	ignitionSHA   = flag.String("ignition-sha256", "", "sha256 of the Ignition config passed through fw_cfg")
	minRootBytes  = flag.Int64("min-root-bytes", 0, "the last partition's filesystem must have grown past this size")
	grownMount    = flag.String("grown-mount", "/", "where the last partition (ROOT, or DOCKER after it) is mounted")
	corruptOffset = flag.Int64("corrupt-offset", -1, "offset in /dev/mapper/usr whose block the host damaged")
	corruptFile   = flag.String("corrupt-file", "", "file under /usr whose data holds the damaged block")
)

func TestArchitecture(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	got := unix.ByteSliceToString(u.Machine[:])
	if got != *wantArch {
		t.Fatalf("uname machine = %q, want %q", got, *wantArch)
	}
}

type mount struct{ target, source, fstype, opts, superOpts string }

func mounts(t *testing.T) map[string]mount {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]mount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 6 || len(b) < 3 {
			continue
		}
		m[a[4]] = mount{target: a[4], opts: a[5], fstype: b[0], source: b[1], superOpts: b[2]}
	}
	return m
}

func TestUsrIsReadOnlyVerity(t *testing.T) {
	usr, ok := mounts(t)["/usr"]
	if !ok {
		t.Fatal("/usr is not a mount point")
	}
	if !strings.HasPrefix(usr.opts, "ro") {
		t.Errorf("/usr mount options %q, want ro", usr.opts)
	}
	if usr.source != "/dev/mapper/usr" || usr.fstype != "erofs" {
		t.Errorf("/usr is %s from %s, want erofs from /dev/mapper/usr", usr.fstype, usr.source)
	}
	// The device-mapper target behind /usr must be verity, as named by the
	// uuid systemd-veritysetup gives it.
	dev, err := filepath.EvalSymlinks("/dev/mapper/usr")
	if err != nil {
		t.Fatal(err)
	}
	uuid, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "dm/uuid"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(uuid), "CRYPT-VERITY-") {
		t.Errorf("dm uuid of /usr is %q, want a CRYPT-VERITY- target", strings.TrimSpace(string(uuid)))
	}
	err = os.WriteFile("/usr/bulwark-write-test", []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing to /usr: got %v, want EROFS", err)
	}
}

// TestRootGrown: the last partition's filesystem (ROOT, or DOCKER when the
// image has it) was grown to the disk at first boot, and / is writable.
func TestRootGrown(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs(*grownMount, &st); err != nil {
		t.Fatal(err)
	}
	size := int64(st.Blocks) * st.Bsize
	if size <= *minRootBytes {
		t.Errorf("the filesystem on %s is %d bytes, want more than the image's %d (grown to the disk)", *grownMount, size, *minRootBytes)
	}
	for _, p := range []string{"/", *grownMount} {
		m, ok := mounts(t)[p]
		if !ok || m.fstype != "ext4" || !strings.HasPrefix(m.opts, "rw") {
			t.Errorf("%s is %s %s (mounted: %v), want writable ext4", p, m.fstype, m.opts, ok)
		}
	}
}

func TestIgnitionVisible(t *testing.T) {
	if *ignitionSHA == "" {
		t.Skip("no Ignition config passed")
	}
	b, err := os.ReadFile("/sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != *ignitionSHA {
		t.Errorf("fw_cfg opt/com.coreos/config sha256 %s, want %s", got, *ignitionSHA)
	}
}

// TestVerityCorruption reads the block the host damaged through the verity
// device: the kernel must refuse it with EIO, while an intact block reads.
func TestVerityCorruption(t *testing.T) {
	if *corruptOffset < 0 {
		t.Skip("no corruption requested")
	}
	f, err := os.Open("/dev/mapper/usr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Errorf("reading intact block 0: %v", err)
	}
	_, err = f.ReadAt(buf, *corruptOffset&^4095)
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("reading damaged block at %d: got %v, want EIO", *corruptOffset, err)
	}
	if *corruptFile != "" {
		_, err := os.ReadFile(*corruptFile)
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("reading %s, which holds the damaged block: got %v, want EIO", *corruptFile, err)
		}
	}
}

// TestEtcUpToDate: the build stamped /etc as up to date with this /usr, so
// the first boot skipped the units that would redo the build's work before
// sysinit.target (their ConditionNeedsUpdate=/etc failed) and the system
// users they would create exist anyway.
func TestEtcUpToDate(t *testing.T) {
	for _, u := range []string{"systemd-sysusers.service", "ldconfig.service", "systemd-hwdb-update.service"} {
		out, err := exec.Command("systemctl", "show", "-P", "ConditionResult", u).Output()
		if err != nil {
			t.Fatalf("systemctl show %s: %v", u, err)
		}
		if r := strings.TrimSpace(string(out)); r != "no" {
			t.Errorf("%s: ConditionResult=%s, want no (the build stamped /etc/.updated)", u, r)
		}
	}
	if _, err := os.Stat("/etc/udev/hwdb.bin"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/etc/udev/hwdb.bin: %v; want none (udev reads /usr/lib/udev/hwdb.bin)", err)
	}
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"systemd-network", "messagebus", "sshd"} {
		if !strings.Contains(string(b), "\n"+user+":") {
			t.Errorf("/etc/passwd has no %s (sysusers.d)", user)
		}
	}
}

var (
	enabledUnits = flag.String("enabled-units", "", "units the spec enables, comma-separated: their links must be in /usr")
	maskedUnits  = flag.String("masked-units", "", "units the spec masks, comma-separated: masked from /usr")
)

// TestVendorUnits checks that what the spec enables and masks is in
// /usr/lib/systemd/system, which every update replaces, and not in /etc,
// which a node keeps across updates: a unit a later image enables or
// masks must take effect on nodes updated to it too.
func TestVendorUnits(t *testing.T) {
	if *enabledUnits == "" {
		t.Fatal("-enabled-units not given (the harness passes the spec's units.enable)")
	}
	for _, u := range strings.Split(*enabledUnits, ",") {
		if inEtc := enablementLinks("/etc/systemd/system", u); len(inEtc) > 0 {
			t.Errorf("%s: enabled in /etc (%v), which updates do not replace", u, inEtc)
		}
		inUsr := enablementLinks("/usr/lib/systemd/system", u)
		if len(inUsr) == 0 {
			t.Errorf("%s: no .wants or .requires link in /usr/lib/systemd/system", u)
		}
		for _, l := range inUsr {
			if _, err := os.Stat(l); err != nil {
				t.Errorf("%s: %s does not resolve: %v", u, l, err)
			}
		}
		state, _ := exec.Command("systemctl", "is-enabled", u).Output()
		t.Logf("%s: %v; systemctl is-enabled: %s", u, inUsr, strings.TrimSpace(string(state)))
	}
	for _, u := range strings.Split(*maskedUnits, ",") {
		if u == "" {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/usr/lib/systemd/system", u)); err != nil || target != "/dev/null" {
			t.Errorf("%s: /usr/lib/systemd/system/%s -> %q, %v; want -> /dev/null", u, u, target, err)
		}
		out, err := exec.Command("systemctl", "show", "-P", "LoadState", u).Output()
		if state := strings.TrimSpace(string(out)); err != nil || state != "masked" {
			t.Errorf("%s: LoadState %q, %v; want masked", u, state, err)
		}
	}
}

// enablementLinks are unit's links in dir's .wants and .requires
// directories: where enabling it put them.
func enablementLinks(dir, unit string) []string {
	links, _ := filepath.Glob(filepath.Join(dir, "*.wants", unit))
	req, _ := filepath.Glob(filepath.Join(dir, "*.requires", unit))
	return append(links, req...)
}
