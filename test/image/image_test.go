//go:build image

// Package image_test checks a built image with tools other than our own:
// sgdisk for the partition table and DPS types, veritysetup for the /usr
// hash tree with the root hash from the UKI, systemd-dissect for the
// Discoverable Partitions view, and osbuild inspect. Run it with
// `make test-image ARCH=...` (root: systemd-dissect attaches a loop device).
package image_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/nodecfg/render"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/osbuild"
	"github.com/bulwark/bulwark/internal/osbuild/inspect"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/pki"
	"github.com/bulwark/bulwark/internal/runlog"
)

var (
	imagePath = flag.String("image", "", "built .raw image")
	archFlag  = flag.String("arch", "x86_64", "image architecture")
	specPath  = flag.String("spec", "", "the image's spec; its lock names the tool root that has systemd-dissect")
	cacheDir  = flag.String("cache", "", "osbuild's cache directory (holds the tool root)")
)

func load(t *testing.T) (*manifest.Image, arch.Arch) {
	t.Helper()
	if *imagePath == "" {
		t.Fatal("-image is required")
	}
	img, err := manifest.ForImage(*imagePath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := arch.Lookup(*archFlag)
	if err != nil {
		t.Fatal(err)
	}
	return img, a
}

func TestSgdiskShowsLayout(t *testing.T) {
	img, a := load(t)
	want := map[int]string{1: arch.ESPType, 2: a.USRType, 3: a.USRVerityType, 4: a.USRType, 5: a.USRVerityType, 6: arch.LinuxDataType, 7: a.RootType}
	for n, typ := range want {
		out, err := exec.Command("sgdisk", "-i", fmt.Sprint(n), *imagePath).CombinedOutput()
		if err != nil {
			t.Fatalf("sgdisk -i %d: %v\n%s", n, err, out)
		}
		s := string(out)
		if !strings.Contains(s, "Partition GUID code: "+typ) {
			t.Errorf("partition %d: sgdisk says\n%s\nwant type %s", n, s, typ)
		}
		p := img.Layout.Parts[n-1]
		if !strings.Contains(s, "Partition unique GUID: "+p.UUID) || !strings.Contains(s, "Partition name: '"+p.Label+"'") {
			t.Errorf("partition %d: sgdisk says\n%s\nwant %s %s", n, s, p.Label, p.UUID)
		}
	}
	if out, err := exec.Command("sgdisk", "-v", *imagePath).CombinedOutput(); err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
}

func TestVeritysetupVerify(t *testing.T) {
	img, _ := load(t)
	parsed, err := inspect.Read(*imagePath)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.USRHash != img.VerityRootHash {
		t.Fatalf("UKI usrhash %s, manifest %s", parsed.USRHash, img.VerityRootHash)
	}
	dir := t.TempDir()
	data, hash := img.Layout.Get(layout.USRA), img.Layout.Get(layout.USRAVerity)
	extract := func(p *layout.Partition, name string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command("dd", "if="+*imagePath, "of="+out, "bs=1M", fmt.Sprintf("skip=%d", p.Start>>20), fmt.Sprintf("count=%d", p.Size>>20), "status=none")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dd: %v\n%s", err, b)
		}
		return out
	}
	d, h := extract(data, "usr"), extract(hash, "usr-verity")
	if out, err := exec.Command("veritysetup", "verify", d, h, parsed.USRHash).CombinedOutput(); err != nil {
		t.Errorf("veritysetup verify with the UKI's root hash: %v\n%s", err, out)
	}
	// And it must notice a flipped byte.
	f, _ := os.OpenFile(d, os.O_RDWR, 0)
	b := make([]byte, 1)
	f.ReadAt(b, 4096*10+7)
	f.WriteAt([]byte{b[0] ^ 0xff}, 4096*10+7)
	f.Close()
	if out, err := exec.Command("veritysetup", "verify", d, h, parsed.USRHash).CombinedOutput(); err == nil {
		t.Errorf("veritysetup verify accepted USR-A with a flipped byte:\n%s", out)
	}
}

func TestInspect(t *testing.T) {
	load(t)
	var sb strings.Builder
	if err := inspect.Run(&sb, *imagePath, true); err != nil {
		t.Fatalf("inspect: %v\n%s", err, sb.String())
	}
	if !strings.Contains(sb.String(), "USR-A matches USR-A-VERITY") {
		t.Errorf("inspect output:\n%s", sb.String())
	}
}

func TestSystemdDissect(t *testing.T) {
	img, _ := load(t)
	tools := toolRoot(t)
	dir := filepath.Dir(*imagePath)
	var out strings.Builder
	c := toolroot.Command(tools, []toolroot.Bind{{Src: dir, Dst: dir}, {Src: "/sys", Dst: "/sys"}, {Src: "/run", Dst: "/run"}},
		"systemd-dissect", "--json=short", "--no-pager", *imagePath)
	c.OnLine = func(l string) { out.WriteString(l + "\n") }
	if err := runlog.Run(context.Background(), c); err != nil {
		t.Fatalf("systemd-dissect: %v\n%s", err, out.String())
	}
	var res struct {
		Mounts []struct {
			Designator string `json:"designator"`
			Fstype     string `json:"fstype"`
			Verity     string `json:"verity"`
			Partuuid   string `json:"partition_uuid"`
			Label      string `json:"partition_label"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("systemd-dissect output: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	for _, m := range res.Mounts {
		got[m.Designator] = m.Fstype + "/" + m.Label
	}
	// USR-B is empty and marked no-auto: dissect must pick USR-A, labelled
	// with the image's version for systemd-sysupdate.
	usr := img.Layout.Get(layout.USRA).Label
	if want := layout.USRLabel(img.Name, img.Version); usr != want {
		t.Errorf("manifest: USR-A is labelled %q, want %q", usr, want)
	}
	for d, want := range map[string]string{"root": "ext4/ROOT", "usr": "erofs/" + usr, "esp": "vfat/EFI-SYSTEM"} {
		g, ok := got[d]
		if !ok || g != want {
			t.Errorf("systemd-dissect: designator %s = %q, want %s (all: %v)\n%s", d, g, want, got, out.String())
		}
	}
	t.Logf("systemd-dissect: %v", got)
}

// TestReproducible builds the spec again, into a fresh output directory
// with the same cache, and compares every output byte for byte with the
// image under test (its manifest's digests). /usr is compressed again
// rather than taken from the image cache, so mkfs.erofs's output is
// compared too.
func TestReproducible(t *testing.T) {
	img, a := load(t)
	if *specPath == "" || *cacheDir == "" {
		t.Fatal("-spec and -cache are required")
	}
	out := t.TempDir()
	var log strings.Builder
	again, err := osbuild.Build(context.Background(), osbuild.BuildOptions{SpecPath: *specPath, Arch: a.Name, OutDir: out, CacheDir: *cacheDir, FreshUSR: true, Stdout: &log})
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "mkfs.erofs") {
		t.Errorf("the second build did not compress /usr (took it from the cache?):\n%s", log.String())
	}
	for name, want := range img.Outputs {
		if got := again.Outputs[name]; got != want {
			t.Errorf("%s: second build sha256 %s, first %s", name, got, want)
		}
	}
	if len(again.Outputs) != len(img.Outputs) {
		t.Errorf("second build made %v, first %v", again.Outputs, img.Outputs)
	}
}

// TestIgnitionValidateAcceptsRenderedConfig renders the example node spec
// (with certificates minted for the test) and has Debian trixie's own
// ignition-validate, from the tool root, check the result.
func TestIgnitionValidateAcceptsRenderedConfig(t *testing.T) {
	tools := toolRoot(t)
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.NewCA("test", pki.ECDSA, 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.NewServer(ca, "example", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.15")}, pki.ECDSA, 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "example-pki"), 0o700)
	os.WriteFile(filepath.Join(dir, "example-pki/ca.pem"), ca.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "example-pki/example.pem"), srv.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "example-pki/example-key.pem"), srv.KeyPEM, 0o600)
	spec, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(*specPath)), "nodes/example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "example.yaml"), spec, 0o644)
	s, err := nodespec.Load(filepath.Join(dir, "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(s, render.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ign := filepath.Join(dir, "example.ign")
	os.WriteFile(ign, res.JSON, 0o600)
	var out strings.Builder
	c := toolroot.Command(tools, []toolroot.Bind{{Src: dir, Dst: dir}}, "ignition-validate", ign)
	c.OnLine = func(l string) { out.WriteString(l + "\n") }
	if err := runlog.Run(context.Background(), c); err != nil {
		t.Fatalf("ignition-validate rejected the rendered config: %v\n%s", err, out.String())
	}
	// And it must reject a broken one, or the check above proves nothing.
	os.WriteFile(ign, []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"relative"}]}}`), 0o600)
	if err := runlog.Run(context.Background(), toolroot.Command(tools, []toolroot.Bind{{Src: dir, Dst: dir}}, "ignition-validate", ign)); err == nil {
		t.Error("ignition-validate accepted a config with a relative path")
	}
}

func toolRoot(t *testing.T) string {
	t.Helper()
	if *specPath == "" || *cacheDir == "" {
		t.Fatal("-spec and -cache are required: the tool root comes from the spec's lock")
	}
	tools, err := osbuild.ToolRoot(context.Background(), *specPath, *cacheDir, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	return tools
}
