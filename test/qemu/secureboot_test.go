//go:build qemu

package qemu_test

import (
	"bytes"
	"context"
	"debug/pe"
	"flag"
	"fmt"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild"
	"github.com/bulwark/bulwark/internal/osbuild/esp"
	"github.com/bulwark/bulwark/internal/osbuild/secureboot"
	"github.com/bulwark/bulwark/internal/qemu"
)

var specFlag = flag.String("spec", "", "the image's spec: the Secure Boot tests build it again, signed with keys they mint")

// signed is an image built with a key set minted for the run, and a
// second, foreign key set the firmware must not trust.
type signed struct {
	image, keys, foreign string
	manifest             *manifest.Image
}

var (
	signedMu  sync.Mutex
	signedFor = map[string]*signed{}
)

// signedImage builds the spec again for the arch with a fresh key set
// (once per run): the image under test is unsigned, as `make image`
// builds it without keys. The warm cache makes this a build of well under
// a minute on top of the boots.
func signedImage(t testing.TB, e *env, r *run) *signed {
	t.Helper()
	signedMu.Lock()
	defer signedMu.Unlock()
	if s := signedFor[e.arch]; s != nil {
		return s
	}
	if *specFlag == "" {
		t.Fatal("-spec is required for the Secure Boot tests (make test-qemu passes it)")
	}
	base := signedBase(e.arch)
	os.RemoveAll(base)
	s := &signed{keys: filepath.Join(base, "keys"), foreign: filepath.Join(base, "foreign-keys")}
	ctx := context.Background()
	for dir, name := range map[string]string{s.keys: "Bulwark test", s.foreign: "Foreign test"} {
		if err := secureboot.MintKeys(ctx, dir, name, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	cache := e.cache
	var log bytes.Buffer
	start := time.Now()
	img, err := osbuild.Build(ctx, osbuild.BuildOptions{SpecPath: *specFlag, Arch: e.arch, OutDir: filepath.Join(base, "out"),
		CacheDir: cache, SecureBootKeys: s.keys, Stdout: &log})
	if err != nil {
		t.Fatalf("building the signed image: %v (%s)\nthe build's last lines:\n%s", err, freeSpace(base, cache), tail(log.String(), 20))
	}
	t.Logf("built the Secure Boot–signed image in %s", time.Since(start).Round(time.Second))
	s.manifest = img
	s.image = filepath.Join(base, "out", img.Name+"-"+img.Arch+".qcow2")
	if !fileExists(s.image) {
		s.image = strings.TrimSuffix(s.image, ".qcow2") + ".raw"
	}
	signedFor[e.arch] = s
	return s
}

// signedBase is where the signed image is built, beside the tests' own
// artifact directories: <artifacts>/<arch>/secureboot.
func signedBase(arch string) string {
	return filepath.Join(archArtifacts(arch), "secureboot")
}

// useSigned puts the VM on an overlay of the signed image.
func useSigned(t testing.TB, e *env, r *run) *signed {
	t.Helper()
	s := signedImage(t, e, r)
	var err error
	if r.disk, err = qemu.PrepareDisk(context.Background(), s.image, r.dir, "8G"); err != nil {
		t.Fatal(err)
	}
	return s
}

// enrolledMarker is what systemd-boot prints once it has written db, KEK
// and PK (secure_boot_enroll_at), before it resets the machine.
const enrolledMarker = "Custom Secure Boot keys successfully enrolled"

// enroll boots the firmware in setup mode on cfg's disk and variable
// store: systemd-boot finds /loader/keys/auto, enrolls it and resets,
// which ends QEMU (-no-reboot). The variable store then holds the keys,
// for the boot the test is about.
func enroll(ctx context.Context, t testing.TB, r *run, cfg qemu.Config, timeout time.Duration) error {
	t.Helper()
	logPath := filepath.Join(r.dir, "console-enroll.log")
	start := time.Now()
	vm, err := qemu.Start(ctx, cfg, logPath, nil)
	if err != nil {
		return err
	}
	defer vm.Kill()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vm.Wait(wctx)
	lines := vm.Console.Lines()
	for _, l := range lines {
		if strings.Contains(l, enrolledMarker) {
			t.Logf("firmware in setup mode: systemd-boot enrolled the image's keys and reset, %s after the start", time.Since(start).Round(100*time.Millisecond))
			return nil
		}
	}
	return fmt.Errorf("enrollment boot: no %q on the console (%s):\n%s", enrolledMarker, logPath, strings.Join(qemu.Tail(lines, 20), "\n"))
}

// espFiles reads the files a Secure Boot image's ESP holds (the build
// writes exactly these) from the raw image at raw.
func espFiles(t testing.TB, e *env, s *signed) map[string][]byte {
	t.Helper()
	a, err := arch.Lookup(e.arch)
	if err != nil {
		t.Fatal(err)
	}
	d, err := diskfs.Open(rawOf(s), diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fs, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/EFI/BOOT/" + a.EFIBoot, "/EFI/systemd/" + a.SystemdBoot, ukiPath(s.manifest), "/loader/loader.conf"}
	for _, v := range secureboot.Variables {
		paths = append(paths, secureboot.EnrollDir+"/"+v+".auth")
	}
	out := map[string][]byte{}
	for _, p := range paths {
		out[p] = readESPFile(t, fs, p)
	}
	// go-diskfs reads whole sectors past a file's end: take the enrollment
	// files from the key set and cut the signed PE binaries where their
	// signature table ends, the end of a file sbsign wrote.
	for _, v := range secureboot.Variables {
		b, err := os.ReadFile(filepath.Join(s.keys, v+".auth"))
		if err != nil {
			t.Fatal(err)
		}
		out[secureboot.EnrollDir+"/"+v+".auth"] = b
	}
	for _, p := range paths[:3] {
		out[p] = out[p][:signedPESize(t, p, out[p])]
	}
	return out
}

// signedPESize is where a signed PE binary ends: after its certificate
// table, which sbsign appends last.
func signedPESize(t testing.TB, name string, b []byte) int {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var dir pe.DataDirectory
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		dir = h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY]
	case *pe.OptionalHeader32:
		dir = h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY]
	}
	end := int(dir.VirtualAddress + dir.Size)
	if dir.Size == 0 || end > len(b) {
		t.Fatalf("%s: no certificate table within its %d bytes", name, len(b))
	}
	return end
}

func readESPFile(t testing.TB, fs filesystem.FileSystem, p string) []byte {
	f, err := fs.OpenFile(p, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ukiPath is where the image keeps its UKI on the ESP.
func ukiPath(m *manifest.Image) string {
	return sysupdate.Image{Name: m.Name, Version: m.Version}.UKIPath()
}

// rawOf is the raw image a signed image's qcow2 was made from.
func rawOf(s *signed) string { return strings.TrimSuffix(s.image, ".qcow2") + ".raw" }

// changeUKIByte flips one byte in the middle of the signed UKI, in the VM's
// overlay only: the signature no longer matches the image's hash.
func changeUKIByte(t testing.TB, e *env, r *run) {
	s := useSigned(t, e, r)
	raw := rawOf(s)
	uki := espFiles(t, e, s)[ukiPath(s.manifest)]
	part := s.manifest.Layout.Get(layout.ESP)
	buf := make([]byte, part.Size)
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, part.Start); err != nil {
		t.Fatal(err)
	}
	// A 64-byte run that starts on a 512-byte boundary of the file lies in
	// one sector of the FAT, wherever the cluster is: find it on the disk.
	at := (len(uki) / 2) &^ 511
	i := bytes.Index(buf, uki[at:at+64])
	if i < 0 || bytes.Index(buf[i+1:], uki[at:at+64]) >= 0 {
		t.Fatalf("the UKI's bytes at %d are not found exactly once in the ESP", at)
	}
	off := part.Start + int64(i) + 10
	orig := buf[i+10]
	cmd := exec.Command("qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%02x %d 1", orig^0xff, off), r.disk)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, b)
	}
	t.Logf("flipped byte %d of %s (disk offset %d, 0x%02x → 0x%02x)", at+10, ukiPath(s.manifest), off, orig, orig^0xff)
}

// foreignUKI replaces the UKI, in the VM's overlay only, with the same UKI
// signed by the foreign key set: systemd-boot stays signed by the enrolled
// db, so it is the UKI the firmware must refuse.
func foreignUKI(t testing.TB, e *env, r *run) {
	s := useSigned(t, e, r)
	files := espFiles(t, e, s)
	p := ukiPath(s.manifest)
	signedUKI := filepath.Join(r.dir, "uki-own.efi")
	unsigned := filepath.Join(r.dir, "uki-unsigned.efi")
	foreign := filepath.Join(r.dir, "uki-foreign.efi")
	os.WriteFile(signedUKI, files[p], 0o644)
	if b, err := exec.Command("sbattach", "--remove", signedUKI).CombinedOutput(); err != nil {
		t.Fatalf("sbattach --remove: %v\n%s", err, b)
	}
	os.Rename(signedUKI, unsigned)
	k, err := secureboot.LoadKeys(s.foreign)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Sign(context.Background(), unsigned, foreign, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := secureboot.Verify(context.Background(), foreign, filepath.Join(s.keys, "db.crt")); err == nil {
		t.Fatal("the foreign-signed UKI verifies against the enrolled db")
	}
	var list []esp.File
	for name, data := range files {
		if name == p {
			list = append(list, esp.File{Path: name, Source: foreign})
			continue
		}
		list = append(list, esp.File{Path: name, Data: data})
	}
	part := s.manifest.Layout.Get(layout.ESP)
	img := filepath.Join(r.dir, "esp-foreign.img")
	if err := esp.Build(img, part.Size, list, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(img)
	cmd := exec.Command("qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -s %s %d %d", img, part.Start, part.Size), r.disk)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, b)
	}
	t.Logf("replaced %s with the same UKI signed by %s", p, filepath.Join(s.foreign, "db.crt"))
}
