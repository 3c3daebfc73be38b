package imagespec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid spec; tests break one thing at a time.
const base = `apiVersion: bulwark.dev/v1alpha1
kind: ImageSpec
name: test
debian:
  release: trixie
  components: [main]
  suites:
    - {name: trixie, mirror: http://deb.debian.org/debian}
    - {name: trixie-security, mirror: http://deb.debian.org/debian-security}
architectures: [x86_64, aarch64]
packages:
  all: [systemd, docker.io]
  x86_64: [linux-image-amd64]
overlays: [base]
units:
  enable: [docker.service]
  mask: [apt-daily.timer]
kernel:
  cmdline:
    all: [quiet]
  initrdDrivers: [virtio_blk]
selinux:
  policy: default
  mode: enforcing
disk:
  size: 4GiB
  esp: 128MiB
  usr: 1GiB
  usrVerity: 16MiB
  oem: 32MiB
outputs: [raw, qcow2]
`

// writeSpec lays out a repo with images/test.yaml and overlays/base.
func writeSpec(t *testing.T, spec string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	os.MkdirAll(filepath.Join(dir, "overlays/base"), 0o755)
	p := filepath.Join(dir, "images/test.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadValid(t *testing.T) {
	s, err := Load(writeSpec(t, base))
	if err != nil {
		t.Fatalf("Load(valid spec): %v", err)
	}
	if got := s.Packages.For("x86_64"); strings.Join(got, ",") != "docker.io,linux-image-amd64,systemd" {
		t.Errorf("Packages.For(x86_64) = %v", got)
	}
	if got := s.Packages.For("aarch64"); strings.Join(got, ",") != "docker.io,systemd" {
		t.Errorf("Packages.For(aarch64) = %v", got)
	}
	if s.Disk.USR != 1<<30 {
		t.Errorf("disk.usr = %d, want 1GiB", s.Disk.USR)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		old     string // replaced in base
		new     string
		wantErr []string // substrings of the error
	}{
		{"wrong apiVersion", "bulwark.dev/v1alpha1", "bulwark.dev/v9", []string{"test.yaml:1: $.apiVersion: unsupported apiVersion"}},
		{"wrong kind", "kind: ImageSpec", "kind: Other", []string{"$.kind: must be ImageSpec"}},
		{"unknown top-level key", "outputs: [raw, qcow2]", "outputs: [raw]\nextra: 1", []string{`$.extra: unknown key`}},
		{"unknown nested key", "  esp: 128MiB", "  esp: 128MiB\n  espp: 1MiB", []string{"$.disk.espp: unknown key"}},
		{"bad name", "name: test", "name: Test_1", []string{"$.name: must be lower-case"}},
		{"bad release", "release: trixie", "release: \"\"", []string{"$.debian.release"}},
		{"no suites", "  suites:\n    - {name: trixie, mirror: http://deb.debian.org/debian}\n    - {name: trixie-security, mirror: http://deb.debian.org/debian-security}", "  suites: []", []string{"$.debian.suites: must list the release's suites"}},
		{"bad mirror", "mirror: http://deb.debian.org/debian}", "mirror: deb.debian.org}", []string{"$.debian.suites[0].mirror: must be an http(s) or file URL"}},
		{"suite of another release", "name: trixie-security", "name: bookworm-security", []string{`$.debian.suites[1].name: suite "bookworm-security" is not part of release "trixie"`}},
		{"suite twice", "name: trixie-security", "name: trixie", []string{`$.debian.suites[1].name: suite "trixie" is listed twice`}},
		{"release not listed", "{name: trixie, mirror", "{name: trixie-updates, mirror", []string{"$.debian.suites: must list the release itself (trixie)"}},
		{"old single-suite form", "  suites:\n", "  suite: trixie\n  suites:\n", []string{"$.debian.suite: unknown key"}},
		{"no components", "components: [main]", "components: []", []string{"$.debian.components"}},
		{"unknown arch", "architectures: [x86_64, aarch64]", "architectures: [x86_64, riscv64]", []string{`$.architectures[1]: unknown architecture "riscv64"`}},
		{"duplicate arch", "architectures: [x86_64, aarch64]", "architectures: [x86_64, x86_64]", []string{`$.architectures[1]: "x86_64" is listed twice`}},
		{"bad package", "all: [systemd, docker.io]", "all: [systemd, Docker_IO]", []string{`$.packages.all[1]: "Docker_IO" is not a valid Debian package name`}},
		{"packages not a list", "all: [systemd, docker.io]", "all: systemd", []string{"$.packages.all: expected a list"}},
		{"missing overlay", "overlays: [base]", "overlays: [base, nope]", []string{"$.overlays[1]: overlay directory", "nope does not exist"}},
		{"bad unit", "enable: [docker.service]", "enable: [docker]", []string{`$.units.enable[0]: "docker" is not a systemd unit name`}},
		{"unit enabled and masked", "mask: [apt-daily.timer]", "mask: [docker.service]", []string{`unit "docker.service" is also listed`}},
		{"reserved cmdline", "all: [quiet]", "all: [quiet, usrhash=abc]", []string{`$.kernel.cmdline.all[1]: kernel argument "usrhash" is set by osbuild`}},
		{"cmdline with space", "all: [quiet]", "all: [\"a b\"]", []string{"$.kernel.cmdline.all[0]: kernel argument"}},
		{"bad driver", "initrdDrivers: [virtio_blk]", "initrdDrivers: [../x]", []string{"$.kernel.initrdDrivers[0]"}},
		{"bad selinux mode", "mode: enforcing", "mode: disabled", []string{"$.selinux.mode: must be enforcing or permissive"}},
		{"bad size unit", "size: 4GiB", "size: 4GB", []string{"$.disk.size: invalid size \"4GB\""}},
		{"size not whole MiB", "oem: 32MiB", "oem: 1537KiB", []string{"$.disk.oem: must be a whole number of MiB"}},
		{"esp too small", "esp: 128MiB", "esp: 16MiB", []string{"$.disk.esp: must be at least 64MiB"}},
		{"verity too small", "usrVerity: 16MiB", "usrVerity: 2MiB", []string{"$.disk.usrVerity: 2MiB cannot hold the hash tree"}},
		{"disk too small", "size: 4GiB", "size: 2GiB", []string{"$.disk.size: 2GiB leaves less than"}},
		{"root size without docker partition", "oem: 32MiB", "oem: 32MiB\n  root: 1GiB", []string{"$.disk.root: is ROOT's size when dockerPartition"}},
		{"docker partition without root size", "oem: 32MiB", "oem: 32MiB\n  dockerPartition: true", []string{"$.disk.root: must be at least 256MiB"}},
		{"no room for docker", "oem: 32MiB", "oem: 32MiB\n  root: 1900MiB\n  dockerPartition: true", []string{"$.disk.size: 4GiB leaves less than 256MiB for DOCKER"}},
		{"no raw output", "outputs: [raw, qcow2]", "outputs: [qcow2]", []string{"$.outputs: must include raw"}},
		{"unknown output", "outputs: [raw, qcow2]", "outputs: [raw, vmdk]", []string{`$.outputs[1]: unknown output "vmdk"`}},
		{"wrong type", "size: 4GiB", "size: [1]", []string{"$.disk.size: expected a size"}},
		{"version with a slash", "name: test", "name: test\nversion: 1/2", []string{`$.version: must start with a letter or digit`}},
		{"version with a space", "name: test", "name: test\nversion: \"1 2\"", []string{`$.version: must start with a letter or digit`}},
		{"several errors at once", "name: test", "name: BAD\nbogus: 1", []string{"$.name", "$.bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("test bug: %q not in base spec", tc.old)
			}
			_, err := Load(writeSpec(t, strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("Load accepted a bad spec")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "images/test.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		ok   bool
	}{
		{"512MiB", 512 << 20, true}, {"4GiB", 4 << 30, true}, {"1TiB", 1 << 40, true},
		{"4096", 4096, true}, {"10KiB", 10240, true}, {"4GB", 0, false}, {"-1MiB", 0, false},
		{"", 0, false}, {"1.5GiB", 0, false}, {"99999999999TiB", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestRepoImagesValidate(t *testing.T) {
	specs, _ := filepath.Glob("../../images/*.yaml")
	if len(specs) == 0 {
		t.Fatal("no specs in images/")
	}
	for _, p := range specs {
		t.Run(filepath.Base(p), func(t *testing.T) {
			s, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := LoadLock(LockPath(p), s, s.Architectures); err != nil {
				t.Errorf("lock: %v", err)
			}
		})
	}
}

func TestVersionOK(t *testing.T) {
	for v, want := range map[string]bool{
		"1": true, "2026.11.28": true, "v2": true, "1.2.3-rc1": true, "1+b2~3^4": true, "1_2": false,
		"": false, "-1": false, ".1": false, "1/2": false, "1 2": false, "ü": false,
		strings.Repeat("1", 64): true, strings.Repeat("1", 65): false,
	} {
		if got := VersionOK(v); got != want {
			t.Errorf("VersionOK(%q) = %v, want %v", v, got, want)
		}
	}
}
