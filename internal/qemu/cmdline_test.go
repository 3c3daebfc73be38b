package qemu

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCommandGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"x86_64-tcg", Config{Arch: "x86_64"}},
		{"x86_64-kvm", Config{Arch: "x86_64", KVM: true}},
		{"aarch64-tcg", Config{Arch: "aarch64"}},
		{"x86_64-interactive", Config{Arch: "x86_64", Interactive: true}},
		{"x86_64-secureboot", Config{Arch: "x86_64", Firmware: SecureBootFirmwares["x86_64"]}},
		{"aarch64-secureboot", Config{Arch: "aarch64", Firmware: SecureBootFirmwares["aarch64"]}},
		{"aarch64-report", Config{Arch: "aarch64", Report: true, reportSocket: "/tmp/bulwark-vm-1/report.sock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if c.Firmware.Code == "" {
				c.Firmware = Firmwares[c.Arch]
			}
			c.Disk, c.Vars = "/vm/overlay.qcow2", "/vm/efivars.fd"
			c.FwCfg = map[string]string{"opt/com.coreos/config": "/vm/node.ign"}
			c.ExtraDisks = []ExtraDisk{{Path: "/vm/check.disk", Serial: "bulwark-check"}}
			c.Forwards = []Forward{{Host: 2222, Guest: 22}, {Host: 2376, Guest: 2376}}
			c.Credentials = []Credential{{Name: "a.b", Value: []byte("x")}}
			bin, args, err := Command(c)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", tc.name+".golden"), formatCommand(bin, args))
		})
	}
}

// TestProbeCommandGolden pins the KVM probe's command line: the VMs'
// machine and CPU under KVM, the real firmware, no disk.
func TestProbeCommandGolden(t *testing.T) {
	for _, arch := range []string{"x86_64", "aarch64"} {
		t.Run(arch, func(t *testing.T) {
			bin, args, err := ProbeCommand(arch, Firmwares[arch], "/probe/efivars.fd")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", arch+"-probe.golden"), formatCommand(bin, args))
		})
	}
	if _, _, err := ProbeCommand("riscv64", Firmware{}, "/v"); err == nil {
		t.Error("ProbeCommand accepted an unknown arch")
	}
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"unknown arch", Config{Arch: "riscv64"}},
		{"comma in fw_cfg file", Config{Arch: "x86_64", FwCfg: map[string]string{"opt/x": "/a,b"}}},
		{"comma in extra disk", Config{Arch: "x86_64", ExtraDisks: []ExtraDisk{{Path: "/a,b"}}}},
		{"SMM firmware off x86", Config{Arch: "aarch64", Firmware: Firmware{SMM: true}}},
		{"report port without socket", Config{Arch: "x86_64", Report: true}},
		{"comma in report socket", Config{Arch: "x86_64", Report: true, reportSocket: "/a,b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Command(tc.cfg); err == nil {
				t.Error("Command accepted a bad config")
			}
		})
	}
}

func TestProblems(t *testing.T) {
	lines := []string{
		"[  OK  ] Started foo.service",
		"[FAILED] Failed to start bar.service - Bar.",
		"audit: type=1400 audit(0.0:1): avc:  denied  { read } for pid=1",
		"[   12.3] Kernel panic - not syncing: sysrq triggered crash",
		`../src/boot/boot.c:2576@image_start: Error loading \EFI\Linux\container-host-6.12.118+deb13-amd64.efi: Access denied`,
		"all good",
	}
	got := Problems(lines)
	want := []string{"failed unit", "SELinux denial", "kernel panic", "secure boot refusal"}
	if len(got) != len(want) {
		t.Fatalf("Problems = %v, want patterns %v", got, want)
	}
	for i := range want {
		if got[i].Pattern != want[i] {
			t.Errorf("problem %d = %q, want %q", i, got[i].Pattern, want[i])
		}
	}
}

func TestCleanLine(t *testing.T) {
	got := cleanLine("\x1b[!p\x1b]104\x07\x1b[0;1;31mFAILED\x1b[0m\r done\x1b]0;title\x1b\\!")
	if got != "FAILED done!" {
		t.Errorf("cleanLine = %q", got)
	}
}

// formatCommand puts each flag and its value on a line, for readable diffs.
func formatCommand(bin string, args []string) string {
	var lines []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			lines = append(lines, args[i]+" "+args[i+1])
			i++
			continue
		}
		lines = append(lines, args[i])
	}
	return bin + " \\\n  " + strings.Join(lines, " \\\n  ") + "\n"
}

// checkGolden compares got with the golden file, rewriting it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("command line:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}
