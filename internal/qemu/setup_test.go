package qemu

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestMachineConfig uses firmware files of its own, so it needs no OVMF.
func TestMachineConfig(t *testing.T) {
	fwDir := t.TempDir()
	fwFile := func(name string) string {
		p := filepath.Join(fwDir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := Firmware{Code: fwFile("code.fd"), Vars: fwFile("vars.fd")}
	secure := Firmware{Code: fwFile("code.secboot.fd"), Vars: fwFile("vars.secboot.fd"), SMM: true}
	oldPlain, oldSecure := Firmwares, SecureBootFirmwares
	Firmwares, SecureBootFirmwares = map[string]Firmware{"x86_64": plain}, map[string]Firmware{"x86_64": secure}
	t.Cleanup(func() { Firmwares, SecureBootFirmwares = oldPlain, oldSecure })

	for _, tc := range []struct {
		name     string
		m        Machine
		wantFw   Firmware
		wantVars string
		wantIgn  bool
	}{
		{"plain", Machine{Arch: "x86_64", KVM: true}, plain, "vars.fd", false},
		{"secure boot", Machine{Arch: "x86_64", SecureBoot: true}, secure, "vars.secboot.fd", false},
		{"ignition", Machine{Arch: "x86_64", Ignition: "testdata/x.ign"}, plain, "vars.fd", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := tc.m.Config("/disk.qcow2", dir)
			if err != nil {
				t.Fatal(err)
			}
			if c.Firmware != tc.wantFw || c.Disk != "/disk.qcow2" || c.Arch != "x86_64" || c.KVM != tc.m.KVM {
				t.Errorf("got %+v, want firmware %+v on /disk.qcow2", c, tc.wantFw)
			}
			if filepath.Dir(c.Vars) != dir {
				t.Errorf("variable store %s is not in the VM's directory %s", c.Vars, dir)
			}
			if b, err := os.ReadFile(c.Vars); err != nil || string(b) != tc.wantVars {
				t.Errorf("variable store holds %q (%v), want a copy of %s", b, err, tc.wantVars)
			}
			ign, ok := c.FwCfg[IgnitionFwCfg]
			if ok != tc.wantIgn || ok && !filepath.IsAbs(ign) {
				t.Errorf("fw_cfg %v, want ignition: %t, as an absolute path", c.FwCfg, tc.wantIgn)
			}
		})
	}
	if _, err := (Machine{Arch: "riscv64"}).Config("/d", t.TempDir()); err == nil {
		t.Error("a machine of an arch without firmware got a config")
	}
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}
