package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/imagespec"
)

// mkosiTestSpec is a small spec with every field the mkosi configuration
// reads, so the golden file changes only when the generator does, not with
// every lock update.
func mkosiTestSpec() (*imagespec.Spec, *imagespec.Lock) {
	spec := &imagespec.Spec{
		Name: "container-host", File: "/repo/images/container-host.yaml",
		Debian: imagespec.Debian{Release: "trixie", Components: []string{"main"}, Suites: []imagespec.DebianSuite{
			{Name: "trixie", Mirror: "http://deb.debian.org/debian"},
			{Name: "trixie-updates", Mirror: "http://deb.debian.org/debian"},
			{Name: "trixie-security", Mirror: "http://deb.debian.org/debian-security"},
		}},
		Packages: imagespec.Packages{All: []string{"systemd", "docker.io", "selinux-policy-default"}, X86_64: []string{"linux-image-amd64"}, Aarch64: []string{"linux-image-arm64"}},
		Kernel:   imagespec.Kernel{Cmdline: imagespec.PerArch{All: []string{"quiet", "panic=10"}}, InitrdDrivers: []string{"virtio_blk", "dm_verity", "erofs"}},
		Disk:     imagespec.Disk{ESP: 128 << 20, USRCompression: "lz4hc"},
	}
	lock := &imagespec.Lock{File: "/repo/images/container-host.lock", Architectures: map[string]imagespec.ArchPackages{"x86_64": {Packages: map[string]imagespec.Package{
		"systemd": {Version: "257.13-1~deb13u1"}, "docker.io": {Version: "26.1.5+dfsg1-9+deb13u1+b1"}, "selinux-policy-default": {Version: "2:2.20250618-2"},
		"linux-image-amd64": {Version: "6.12.118-1"}, "libc6": {Version: "2.41-12+deb13u5"},
	}}}}
	return spec, lock
}

// loadRepoSpec loads the repository's spec and its lock, for tests that
// check what the bench makes of the real thing; it returns the spec's path.
func loadRepoSpec(t *testing.T) (string, *imagespec.Spec, *imagespec.Lock) {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(repo, "images", "container-host.yaml")
	spec, err := imagespec.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := imagespec.LoadLock(imagespec.LockPath(specPath), spec, spec.Architectures)
	if err != nil {
		t.Fatal(err)
	}
	return specPath, spec, lock
}

func TestMkosiConfigGolden(t *testing.T) {
	spec, lock := mkosiTestSpec()
	files, err := mkosiConfig(spec, lock, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range files {
		b.WriteString("=== " + f.Path + " ===\n" + f.Data)
	}
	golden(t, "mkosi-x86_64.golden", b.Bytes())

	for _, tc := range []struct{ name, arch string }{{"no mkosi arch", "riscv64"}, {"arch not in the lock", "aarch64"}} {
		if _, err := mkosiConfig(spec, lock, tc.arch); err == nil {
			t.Errorf("%s: mkosiConfig(%s) gave no error", tc.name, tc.arch)
		}
	}
}

// TestMkosiConfigRealSpec checks the repository's spec: mkosi's Packages=
// is exactly the spec's list for x86_64, /usr is EROFS with a verity pair,
// and the image is bootable with a UKI and relabelled.
func TestMkosiConfigRealSpec(t *testing.T) {
	_, spec, lock := loadRepoSpec(t)
	files, err := mkosiConfig(spec, lock, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]string{}
	for _, f := range files {
		byPath[f.Path] = f.Data
	}
	conf := byPath["mkosi.conf"]
	var pkgs []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "Packages=":
			in = true
		case in && strings.HasPrefix(l, " "):
			pkgs = append(pkgs, strings.TrimSpace(l))
		default:
			in = false
		}
	}
	if want := spec.Packages.For("x86_64"); !slices.Equal(pkgs, want) {
		t.Errorf("mkosi Packages= %q;\nwant the spec's %q", pkgs, want)
	}
	for _, want := range []string{"Format=disk", "SectorSize=512", "Bootable=yes", "Bootloader=systemd-boot", "UnifiedKernelImages=yes", "SELinuxRelabel=yes", "Incremental=yes", "Release=" + spec.Debian.Release} {
		if !strings.Contains(conf, "\n"+want+"\n") {
			t.Errorf("mkosi.conf has no %q line", want)
		}
	}
	for path, want := range map[string][]string{
		"mkosi.repart/10-usr.conf":        {"Type=usr", "Format=erofs", "Verity=data", "VerityMatchKey=usr", "Compression=" + spec.Disk.USRCompression},
		"mkosi.repart/11-usr-verity.conf": {"Type=usr-verity", "Verity=hash", "VerityMatchKey=usr", "VerityDataBlockSizeBytes=4096", "VerityHashBlockSizeBytes=4096"},
		"mkosi.repart/00-esp.conf":        {"Type=esp", "Format=vfat"},
		"mkosi.repart/20-root.conf":       {"Type=root", "ExcludeFilesTarget=/usr/"},
	} {
		for _, w := range want {
			if !strings.Contains(byPath[path], w+"\n") {
				t.Errorf("%s has no %q", path, w)
			}
		}
	}
	pref := byPath["mkosi.sandbox/etc/apt/preferences.d/bulwark-lock.pref"]
	for name, v := range lock.Architectures["x86_64"].Versions() {
		if !strings.Contains(pref, "Package: "+name+"\nPin: version "+v+"\n") {
			t.Errorf("preferences do not pin %s to the lock's %s", name, v)
			break
		}
	}
}

func TestInitrdModules(t *testing.T) {
	re := regexp.MustCompile(initrdModules([]string{"virtio_blk", "dm_verity", "erofs"}))
	for path, want := range map[string]bool{
		"kernel/drivers/block/virtio_blk.ko.xz": true, "kernel/drivers/md/dm-verity.ko.xz": true, "kernel/fs/erofs/erofs.ko.xz": true,
		"kernel/drivers/block/virtio_blkx.ko.xz": false, "kernel/drivers/md/dm-crypt.ko.xz": false, "kernel/fs/ext4/ext4.ko.xz": false,
	} {
		if got := re.MatchString(path); got != want {
			t.Errorf("%s: match %t; want %t", path, got, want)
		}
	}
	if initrdModules(nil) != "" {
		t.Error("no drivers gave a pattern (and so an initrd without modules)")
	}
}

func TestMkosiToolInclude(t *testing.T) {
	got := mkosiToolInclude(map[string]string{"systemd": "257.13-1", "policycoreutils": "3.8.1-1"})
	want := []string{"mkosi", "policycoreutils=3.8.1-1", "systemd=257.13-1"}
	if !slices.Equal(got, want) {
		t.Errorf("mkosiToolInclude = %q; want %q (the lock's tools pinned, mkosi the archive's)", got, want)
	}
}

func TestAptDebName(t *testing.T) {
	for _, tc := range []struct{ name, version, arch, want string }{
		{"docker.io", "26.1.5+dfsg1-9", "amd64", "docker.io_26.1.5+dfsg1-9_amd64.deb"},
		{"selinux-policy-default", "2:2.20250618-2", "all", "selinux-policy-default_2%3a2.20250618-2_all.deb"},
	} {
		if got := aptDebName(tc.name, tc.version, tc.arch); got != tc.want {
			t.Errorf("aptDebName(%s, %s) = %q; want %q", tc.name, tc.version, got, tc.want)
		}
	}
}

func TestSeedMkosiPackages(t *testing.T) {
	debs, pkgCache := t.TempDir(), t.TempDir()
	write := func(sha, control string) {
		os.WriteFile(filepath.Join(debs, sha+".control"), []byte(control), 0o644)
		os.WriteFile(filepath.Join(debs, sha+".deb"), []byte("deb "+sha), 0o644)
	}
	write("aa", "Package: systemd\nVersion: 257.13-1\nArchitecture: amd64\nDescription: x\n long text: with colon\n")
	write("bb", "Package: selinux-policy-default\nVersion: 2:2.2\nArchitecture: all\n")
	write("cc", "Package: systemd\nVersion: 257.13-1\nArchitecture: arm64\n")
	os.WriteFile(filepath.Join(debs, "dd.control"), []byte("Package: gone\nVersion: 1\nArchitecture: amd64\n"), 0o644) // no .deb
	n, err := seedMkosiPackages(debs, pkgCache, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("seeded %d .debs; want 2 (amd64 and all, not arm64, not a control without its .deb)", n)
	}
	arch := mkosiAptArchives(pkgCache)
	for _, f := range []string{"systemd_257.13-1_amd64.deb", "selinux-policy-default_2%3a2.2_all.deb"} {
		if _, err := os.Stat(filepath.Join(arch, f)); err != nil {
			t.Errorf("%s not in the package cache: %v", f, err)
		}
	}
	os.WriteFile(filepath.Join(arch, "downloaded_1_amd64.deb"), nil, 0o644)
	if got := countDebs(pkgCache); got != (debOrigins{Linked: 2, Downloaded: 1}) {
		t.Errorf("countDebs = %+v; want 2 linked, 1 downloaded", got)
	}
	// Seeding again (a second cold run into the same cache) is not an error.
	if _, err := seedMkosiPackages(debs, pkgCache, "amd64"); err != nil {
		t.Errorf("seeding twice: %v", err)
	}
	write("ee", "Package: broken\nArchitecture: amd64\n")
	if _, err := seedMkosiPackages(debs, t.TempDir(), "amd64"); err == nil {
		t.Error("a control file without Version: no error")
	}
}

func TestCheckMkosiImageRejects(t *testing.T) {
	p := filepath.Join(t.TempDir(), "not-a-disk.raw")
	os.WriteFile(p, make([]byte, 1<<20), 0o644)
	if _, err := checkMkosiImage(p); err == nil {
		t.Error("checkMkosiImage accepted a zeroed file")
	}
}

func TestMkosiRatios(t *testing.T) {
	r := NewReport(time.Unix(0, 0))
	r.Add(buildKey("x86_64", kindCold, "total_s"), unitSeconds, []float64{200})
	r.Add(buildKey("x86_64", kindWarm, "total_s"), unitSeconds, []float64{30, 40, 50})
	r.Add(mkosiKey("x86_64", "cold.total_s"), unitSeconds, []float64{100})
	r.Add(mkosiKey("x86_64", "warm.total_s"), unitSeconds, []float64{80, 79})
	r.addRatios()
	for key, want := range map[string]float64{
		"build.x86_64.cold.bulwark_over_mkosi": 2, "build.x86_64.warm.bulwark_over_mkosi": 40 / 79.5, "build.x86_64.mkosi.warm_over_cold": 0.795,
	} {
		got, ok := r.Ratios[key]
		if !ok || math.Abs(got.Value-want) > 1e-9 {
			t.Errorf("ratio %s = %+v (present %t); want %g", key, got, ok, want)
		}
	}
	// A failed mkosi run leaves no figure, so no ratio: never a made-up one.
	r = NewReport(time.Unix(0, 0))
	r.Add(buildKey("x86_64", kindCold, "total_s"), unitSeconds, []float64{200})
	r.addRatios()
	if _, ok := r.Ratios["build.x86_64.cold.bulwark_over_mkosi"]; ok {
		t.Error("a ratio against mkosi without a mkosi figure")
	}
}

func TestFat32Clusters(t *testing.T) {
	bs := func(bps uint16, spc byte, total, fatSize uint32) []byte {
		b := make([]byte, 512)
		binary.LittleEndian.PutUint16(b[11:], bps)
		b[13] = spc
		binary.LittleEndian.PutUint16(b[14:], 32)
		b[16] = 2
		if total < 1<<16 {
			binary.LittleEndian.PutUint16(b[19:], uint16(total)) // as mkfs.vfat writes a small count
		} else {
			binary.LittleEndian.PutUint32(b[32:], total)
		}
		binary.LittleEndian.PutUint32(b[36:], fatSize)
		binary.LittleEndian.PutUint16(b[510:], 0xAA55)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want int64
	}{
		// 128 MiB in 512-byte sectors, one a cluster (mkfs.vfat -F 32 -S 512): valid.
		{"512-byte sectors", bs(512, 1, 262144, 2017), 262144 - 32 - 2*2017},
		// The same 128 MiB in 4096-byte sectors: too few clusters for FAT32.
		{"4096-byte sectors", bs(4096, 1, 32768, 256), 32768 - 32 - 2*256},
	} {
		got, err := fat32Clusters(tc.b)
		if err != nil || got != tc.want {
			t.Errorf("%s: fat32Clusters = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := fat32Clusters(make([]byte, 512)); err == nil {
		t.Error("a zeroed sector: no error")
	}
}
