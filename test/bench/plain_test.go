package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/layout"
)

func TestPlainPackages(t *testing.T) {
	spec := &imagespec.Spec{Packages: imagespec.Packages{
		All:    []string{"systemd", "docker.io", "selinux-policy-default", "auditd", "dracut", "systemd-boot-efi"},
		X86_64: []string{"linux-image-amd64"},
	}}
	lock := &imagespec.Lock{Architectures: map[string]imagespec.ArchPackages{"x86_64": {Packages: map[string]imagespec.Package{
		"systemd": {Version: "257.13-1"}, "docker.io": {Version: "26.1.5+dfsg1-9"}, "selinux-policy-default": {Version: "2:2.2"}, "auditd": {Version: "1:4.0"}, "dracut": {Version: "106"},
		"systemd-boot-efi": {Version: "257.13-1"}, "linux-image-amd64": {Version: "6.12.107-1"}, "linux-image-6.12.107+deb13-amd64": {Version: "6.12.107-1"}, "linux-base": {Version: "4.12"},
	}}}}
	got := plainPackages(spec, lock, "x86_64")
	want := []string{"docker.io=26.1.5+dfsg1-9", "initramfs-tools", "linux-image-6.12.107+deb13-amd64=6.12.107-1", "linux-image-amd64=6.12.107-1", "systemd=257.13-1", "systemd-boot-efi=257.13-1"}
	if !slices.Equal(got, want) {
		t.Errorf("plainPackages = %q;\nwant %q (no security stack, no dracut; initramfs-tools; the same kernel and docker)", got, want)
	}
}

func TestPlainConfigFiles(t *testing.T) {
	files, err := plainConfigFiles([]byte(sampleIgnition), []byte("[Network]\nDHCP=yes\n"))
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]plainFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	if _, ok := byPath["/etc/bulwark/authz/policy.json"]; ok {
		t.Error("Bulwark's authz policy is in the plain image")
	}
	var d map[string]any
	if err := json.Unmarshal(byPath["/etc/docker/daemon.json"].Data, &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tlscacert": "/etc/docker/tls/ca.pem", "tlsverify": true, "log-level": "info"}
	if len(d) != len(want) {
		t.Errorf("plain daemon.json = %v; want only the TLS settings and log level %v (no hosts: Debian's unit passes -H fd://; no hardening)", d, want)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("plain daemon.json %s = %v; want %v", k, d[k], v)
		}
	}
	if got := string(byPath["/etc/default/docker"].Data); got != "DOCKER_OPTS=\"-H tcp://0.0.0.0:2376\"\n" {
		t.Errorf("/etc/default/docker = %q; want the tcp listener only", got)
	}
	if k := byPath["/etc/docker/tls/server-key.pem"]; k.Mode != 0o400 || string(k.Data) != "KEY" {
		t.Errorf("server key = %o %q; want 0400 KEY", k.Mode, k.Data)
	}
	if !strings.Contains(string(byPath["/etc/systemd/network/50-wired.network"].Data), "DHCP=yes") {
		t.Error("no network file")
	}
	if _, err := plainConfigFiles([]byte(`{"storage":{"files":[]}}`), nil); err == nil {
		t.Error("a config without a TCP listener: no error")
	}
}

func TestPlainLayout(t *testing.T) {
	for _, name := range []string{"x86_64", "aarch64"} {
		a, _ := arch.Lookup(name)
		l := plainLayout(a, "bench-plain/"+name)
		esp, root := l.Get(layout.ESP), l.Get(layout.Root)
		if esp.Start%layout.Align != 0 || root.Start%layout.Align != 0 || root.Size%layout.Align != 0 {
			t.Errorf("%s: partitions not aligned: %+v", name, l.Parts)
		}
		if root.Start != esp.Start+esp.Size || root.Start+root.Size > l.DiskSize-layout.Align {
			t.Errorf("%s: root %d+%d does not follow the ESP or leaves no room for the backup GPT in %d", name, root.Start, root.Size, l.DiskSize)
		}
		if root.Type != a.RootType || esp.Type != arch.ESPType {
			t.Errorf("%s: types %s, %s", name, esp.Type, root.Type)
		}
	}
}
