//go:build image

package image_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/diskimage"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/runlog"
	"github.com/bulwark/bulwark/internal/sysupdate"
)

// The UUIDs the next version's payload names: sysupdate sets them on the
// partitions it writes (the real ones are the new root hash's halves).
const (
	nextVersion    = "9999"
	nextUSRUUID    = "11111111-2222-4333-8444-555555555555"
	nextVerityUUID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
)

// TestSysupdateWritesIdleSlot runs trixie's systemd-sysupdate (from the
// tool root) with the image's own /usr transfer definitions against a copy
// of the built disk on a loop device, the build's payload served over
// HTTP as a newer version: sysupdate must find the running version from
// USR-A's label, write the payload into the _empty USR-B pair, label it
// with the new version and give it the UUIDs the payload names, and leave
// USR-A alone. A payload whose bytes do not match SHA256SUMS must be
// refused with nothing written. (The UKI transfer needs the ESP mounted,
// and this host's kernel has no vfat: QEMU's update tests cover it.)
func TestSysupdateWritesIdleSlot(t *testing.T) {
	img, a := load(t)
	if os.Geteuid() != 0 {
		t.Fatal("needs root (loop devices)")
	}
	if _, ok := img.Outputs[sysupdate.Image{Name: img.Name, Arch: a.Systemd, Version: img.Version}.UKIFile()]; !ok {
		t.Fatalf("the image was built without the sysupdate output (outputs: %v)", keys(img.Outputs))
	}
	tools := toolRoot(t)
	cur := sysupdate.Image{Name: img.Name, Arch: a.Systemd, Version: img.Version}
	next := sysupdate.Image{Name: img.Name, Arch: a.Systemd, Version: nextVersion}
	outDir := filepath.Dir(*imagePath)
	usrPayload := filepath.Join(outDir, cur.USRFile(img.Layout.Get(layout.USRA).UUID))
	verityPayload := filepath.Join(outDir, cur.VerityFile(img.Layout.Get(layout.USRAVerity).UUID))

	t.Run("update", func(t *testing.T) {
		srv := servePayload(t, map[string]string{next.USRFile(nextUSRUUID): usrPayload, next.VerityFile(nextVerityUUID): verityPayload}, "")
		disk := updateDisk(t, tools, a, srv, "")
		parts := readParts(t, disk)
		for role, want := range map[string]string{
			layout.USRA: img.Layout.Get(layout.USRA).Label + " " + img.Layout.Get(layout.USRA).UUID, layout.USRAVerity: img.Layout.Get(layout.USRAVerity).Label + " " + img.Layout.Get(layout.USRAVerity).UUID,
			layout.USRB: layout.USRLabel(img.Name, nextVersion) + " " + nextUSRUUID, layout.USRBVerity: layout.USRLabel(img.Name, nextVersion) + "_verity " + nextVerityUUID,
		} {
			p := parts[role]
			if got := p.Label + " " + strings.ToLower(p.UUID); got != strings.ToLower(want) {
				t.Errorf("%s: %q, want %q", role, got, want)
			}
		}
		for role, payload := range map[string]string{layout.USRB: usrPayload, layout.USRBVerity: verityPayload} {
			if got, want := sectionSum(t, disk, parts[role], payload), fileSum(t, payload); got != want {
				t.Errorf("%s holds sha256 %s over the payload's length, the payload %s", role, got, want)
			}
		}
	})
	t.Run("refuses a changed byte", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "usr.raw")
		copyFlipped(t, usrPayload, bad, 4096)
		srv := servePayload(t, map[string]string{next.USRFile(nextUSRUUID): bad, next.VerityFile(nextVerityUUID): verityPayload}, fileSum(t, usrPayload))
		disk := updateDisk(t, tools, a, srv, "file has been tampered with")
		parts := readParts(t, disk)
		for _, role := range []string{layout.USRB, layout.USRBVerity} {
			if parts[role].Label != layout.EmptyLabel {
				t.Errorf("%s is labelled %q after a refused update, want %s", role, parts[role].Label, layout.EmptyLabel)
			}
		}
	})
}

// servePayload serves files (name → path) and their SHA256SUMS; usrSum,
// when set, is listed for the /usr payload instead of its own digest.
func servePayload(t *testing.T, files map[string]string, usrSum string) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	var sums strings.Builder
	for name, src := range files {
		if err := os.Link(src, filepath.Join(dir, name)); err != nil {
			copyFlipped(t, src, filepath.Join(dir, name), -1)
		}
		sum := fileSum(t, src)
		if usrSum != "" && strings.Contains(name, ".usr-") && !strings.Contains(name, "-verity") {
			sum = usrSum
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, name)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

// updateDisk copies the built disk, attaches it to a loop device and runs
// systemd-sysupdate update with the image's /usr transfers pointed at srv
// and the loop device by drop-ins. wantErr "" wants success; otherwise the
// run must fail and its output contain wantErr. It returns the disk copy.
func updateDisk(t *testing.T, tools string, a arch.Arch, srv *httptest.Server, wantErr string) string {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	if out, err := exec.Command("cp", "--sparse=always", *imagePath, disk).CombinedOutput(); err != nil {
		t.Fatalf("copying the disk: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--partscan", "--show", disk).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	defs := filepath.Join(dir, "sysupdate.d")
	os.MkdirAll(defs, 0o755)
	img, _ := manifest.ForImage(*imagePath)
	all := sysupdate.Definitions(img.Name, a.Systemd)
	for _, name := range []string{sysupdate.USRTransfer, sysupdate.VerityTransfer} {
		os.WriteFile(filepath.Join(defs, name), all[name], 0o644)
		os.MkdirAll(filepath.Join(defs, name+".d"), 0o755)
		dropin := fmt.Sprintf("%s[Target]\nPath=%s\n", sysupdate.SourceDropin(srv.URL), loop)
		os.WriteFile(filepath.Join(defs, name+".d", "test.conf"), []byte(dropin), 0o644)
	}
	var log strings.Builder
	c := toolroot.Command(tools, []toolroot.Bind{{Src: dir, Dst: dir}, {Src: "/sys", Dst: "/sys"}},
		"/usr/lib/systemd/systemd-sysupdate", "--definitions="+defs, "--verify=no", "update")
	c.OnLine = func(l string) { log.WriteString(l + "\n") }
	err = runlog.Run(context.Background(), c)
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("systemd-sysupdate update: %v\n%s", err, log.String())
	case wantErr != "" && err == nil:
		t.Fatalf("systemd-sysupdate accepted the update; want a refusal (%s)\n%s", wantErr, log.String())
	case wantErr != "" && !strings.Contains(log.String(), wantErr):
		t.Errorf("systemd-sysupdate failed without saying %q:\n%s", wantErr, log.String())
	}
	t.Logf("systemd-sysupdate: %s", lastLines(log.String(), 3))
	exec.Command("sync").Run()
	return disk
}

func readParts(t *testing.T, disk string) map[string]layout.Partition {
	t.Helper()
	d, err := diskimage.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	parts := map[string]layout.Partition{}
	for _, p := range d.Partitions {
		parts[p.Role] = p
	}
	return parts
}

// sectionSum hashes the first len(payload) bytes of partition p of disk.
func sectionSum(t *testing.T, disk string, p layout.Partition, payload string) string {
	t.Helper()
	fi, err := os.Stat(payload)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, p.Start, fi.Size())); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	d, err := manifest.FileDigest(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// copyFlipped copies src to dst, with the byte at off inverted (off < 0:
// an exact copy).
func copyFlipped(t *testing.T, src, dst string, off int64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if off >= 0 {
		b[off] ^= 0xff
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func lastLines(s string, n int) string {
	l, _ := runlog.LastLines(strings.TrimSpace(s), n)
	return strings.Join(l, " | ")
}
