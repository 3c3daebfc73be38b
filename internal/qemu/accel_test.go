package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fake qemu-system-x86_64 bodies. Each records its arguments in $dir/args
// and counts its runs in $dir/runs ($dir is replaced by the test).
const (
	// fakeBroken behaves like QEMU on the host that motivated the probe:
	// /dev/kvm opens, the VM is created, and the guest dies in OVMF.
	fakeBroken = `echo "KVM internal error. Suberror: 1" >&2
echo "extra data[0]: 0x0000000000000001" >&2
echo "emulation failure" >&2
echo "EAX=00000000 EBX=00807000 ECX=00000001 EDX=00807154" >&2
echo "Code=66 90 90 cd 03 c3 66 90 66 90 66 90 66 90 66 90 66 90 90 53 <9b> db e3 d9 2d 74" >&2
exec sleep 60`
	// fakeBrokenNoDump dies without QEMU's usual register dump.
	fakeBrokenNoDump = `echo "KVM internal error. Suberror: 3" >&2
exec sleep 60`
	// fakeWorking prints what OVMF prints on serial with no disk.
	fakeWorking = `printf '\033[2J\033[01;01H\033[=3h\033[2J\033[01;01HBdsDxe: loading Boot0001 "EFI Internal Shell" from Fv(7CB8BDC9)\r\n'
exec sleep 60`
	// fakeSilent hangs without a word, in a child, as QEMU would with a
	// vCPU stuck; the child records its pid so the test sees it killed.
	fakeSilent = `sleep 60 &
echo $! >$dir/child
wait`
	// fakeNoMarker prints something, but never reaches the boot manager.
	fakeNoMarker = `printf '\033[2J\033[01;01H'
exec sleep 60`
	// fakeAbort is QEMU failing to set up the vCPU under KVM.
	fakeAbort = `echo "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]" >&2
echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
kill -ABRT $$`
)

// fakeHost is a host for a Prober: a temp dir with a fake QEMU on PATH,
// firmware files, a KVM device that opens, a boot id and a cache dir.
type fakeHost struct {
	dir string
	p   Prober
}

func newFakeHost(t *testing.T, body string) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{dir: dir}
	h.setQEMU(t, body)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(AccelEnv, "")
	for name, content := range map[string]string{"kvm": "", "boot_id": "boot-1\n", "CODE.fd": "code", "VARS.fd": "vars"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.p = Prober{
		HostArch:  "x86_64",
		KVMDevice: filepath.Join(dir, "kvm"),
		BootID:    filepath.Join(dir, "boot_id"),
		CacheDir:  filepath.Join(dir, "cache"),
		Firmware:  &Firmware{Code: filepath.Join(dir, "CODE.fd"), Vars: filepath.Join(dir, "VARS.fd")},
		Timeout:   500 * time.Millisecond,
	}
	return h
}

// setQEMU (re)writes the fake QEMU with body.
func (h *fakeHost) setQEMU(t *testing.T, body string) {
	t.Helper()
	script := "#!/bin/sh\ndir=" + h.dir + "\necho \"$@\" >$dir/args\necho run >>$dir/runs\n" + strings.ReplaceAll(body, "$dir", h.dir) + "\n"
	if err := os.WriteFile(filepath.Join(h.dir, "bin", "qemu-system-x86_64"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runs is how often the fake QEMU ran.
func (h *fakeHost) runs() int {
	b, _ := os.ReadFile(filepath.Join(h.dir, "runs"))
	return strings.Count(string(b), "run")
}

func TestAccelProbe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		qemu       string
		wantKVM    bool
		wantReason string
	}{
		{"guest dies in firmware", fakeBroken, false, "KVM unusable (guest died in firmware: KVM internal error. Suberror: 1, emulation failure; probe "},
		{"guest dies without a dump", fakeBrokenNoDump, false, "KVM unusable (guest died in firmware: KVM internal error. Suberror: 3; probe "},
		{"firmware reaches boot manager", fakeWorking, true, "KVM works (the firmware reached its boot manager in "},
		{"silent hang", fakeSilent, false, `KVM unusable (the firmware printed no "BdsDxe" within 500ms under KVM)`},
		{"output but no boot manager", fakeNoMarker, false, `KVM unusable (the firmware printed no "BdsDxe" within 500ms under KVM)`},
		{"qemu exits at once", "exit 0", false, "KVM unusable (QEMU exited before the firmware ran: exit status 0: no message; probe "},
		{"qemu aborts", fakeAbort, false, "KVM unusable (QEMU exited before the firmware ran: signal: aborted: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69; probe "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t, tc.qemu)
			start := time.Now()
			d, err := h.p.Accel(context.Background(), "x86_64")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s)", d, time.Since(start).Round(time.Millisecond))
			if d.KVM != tc.wantKVM || !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("got KVM=%v reason %q; want KVM=%v, reason containing %q", d.KVM, d.Reason, tc.wantKVM, tc.wantReason)
			}
			if d.Cached || d.Probe == 0 {
				t.Errorf("got Cached=%v Probe=%s; want a fresh probe", d.Cached, d.Probe)
			}
			if want := map[bool]string{true: "; using KVM", false: "; using TCG"}[tc.wantKVM]; !strings.HasPrefix(d.String(), "qemu: ") || !strings.HasSuffix(d.String(), want) {
				t.Errorf("got line %q; want \"qemu: ...%s\"", d, want)
			}
			args, _ := os.ReadFile(filepath.Join(h.dir, "args"))
			for _, want := range []string{"-accel kvm -cpu host", "file=" + h.p.Firmware.Code, "-serial stdio", "-display none"} {
				if !strings.Contains(string(args), want) {
					t.Errorf("probe ran QEMU with %q; want %q in it", strings.TrimSpace(string(args)), want)
				}
			}
			if strings.Contains(string(args), "file="+h.p.Firmware.Vars) {
				t.Errorf("probe ran QEMU on the vars template itself (%q); want a copy", strings.TrimSpace(string(args)))
			}
			if b, err := os.ReadFile(filepath.Join(h.dir, "child")); err == nil {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if alive(pid) {
					t.Errorf("the fake QEMU's child %d outlived the probe", pid)
				}
			}
		})
	}
}

// alive reports whether pid still runs (a zombie does not), giving the
// kill a moment to land.
func alive(pid int) bool {
	for i := 0; i < 40; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func TestAccelWithoutProbe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        string
		arch       string
		noKVM      bool // the KVM device does not exist
		wantKVM    bool
		wantReason string
		wantErr    string
	}{
		{name: "foreign arch", arch: "aarch64", wantReason: "aarch64 guest on an x86_64 host, which KVM cannot run"},
		{name: "foreign arch forced to tcg", env: "tcg", arch: "aarch64", wantReason: "aarch64 guest on an x86_64 host"},
		{name: "foreign arch forced to kvm", env: "kvm", arch: "aarch64", wantErr: "KVM runs only the host's arch (x86_64), not aarch64"},
		{name: "forced tcg", env: "tcg", arch: "x86_64", wantReason: "BULWARK_ACCEL=tcg, not probed"},
		{name: "forced kvm", env: "kvm", arch: "x86_64", wantKVM: true, wantReason: "BULWARK_ACCEL=kvm, not probed"},
		{name: "forced kvm without device", env: "kvm", arch: "x86_64", noKVM: true, wantKVM: true, wantReason: "BULWARK_ACCEL=kvm, not probed"},
		{name: "bad override", env: "yes", arch: "x86_64", wantErr: `BULWARK_ACCEL="yes": want kvm or tcg`},
		{name: "no kvm device", arch: "x86_64", noKVM: true, wantReason: "KVM unusable (open "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The fake QEMU would say KVM works: none of these may ask it.
			h := newFakeHost(t, fakeWorking)
			t.Setenv(AccelEnv, tc.env)
			if tc.noKVM {
				h.p.KVMDevice = filepath.Join(h.dir, "no-kvm")
			}
			d, err := h.p.Accel(context.Background(), tc.arch)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", d, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.KVM != tc.wantKVM || !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("got KVM=%v reason %q; want KVM=%v, reason containing %q", d.KVM, d.Reason, tc.wantKVM, tc.wantReason)
			}
			if n := h.runs(); n != 0 {
				t.Errorf("QEMU ran %d times; want no probe", n)
			}
		})
	}
}

func TestAccelCache(t *testing.T) {
	h := newFakeHost(t, fakeBroken)
	ctx := context.Background()
	steps := []struct {
		name       string
		change     func()
		wantCached bool
		wantKVM    bool
		wantRuns   int
	}{
		{"first probe", nil, false, false, 1},
		{"same boot", nil, true, false, 1},
		{"another boot", func() { os.WriteFile(h.p.BootID, []byte("boot-2\n"), 0o644) }, false, false, 2},
		{"same boot again", nil, true, false, 2},
		{"another qemu", func() { h.setQEMU(t, fakeWorking) }, false, true, 3},
		{"override skips the cache", func() { t.Setenv(AccelEnv, "tcg") }, false, false, 3},
		{"cached after the override", func() { t.Setenv(AccelEnv, "") }, true, true, 3},
		{"boot id unreadable", func() { h.p.BootID = filepath.Join(h.dir, "missing") }, false, true, 4},
		{"still unreadable: never cached", nil, false, true, 5},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		d, err := h.p.Accel(ctx, "x86_64")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Cached != s.wantCached || d.KVM != s.wantKVM || h.runs() != s.wantRuns {
			t.Errorf("%s: got cached=%v KVM=%v after %d probe(s) (%s); want cached=%v KVM=%v after %d", s.name, d.Cached, d.KVM, h.runs(), d, s.wantCached, s.wantKVM, s.wantRuns)
		}
		if d.Cached && (!strings.HasSuffix(d.String(), "(cached for this boot)") || d.Probe == 0) {
			t.Errorf("%s: got %q (probe %s); want the line to say it was cached and the cached probe's time", s.name, d, d.Probe)
		}
	}
}

func TestAccelNeedsQEMU(t *testing.T) {
	h := newFakeHost(t, fakeWorking)
	t.Setenv("PATH", h.dir) // no bin/, so no qemu-system-x86_64
	if d, err := h.p.Accel(context.Background(), "x86_64"); err == nil || !strings.Contains(err.Error(), "qemu-system-x86_64") {
		t.Errorf("got %v, %v; want an error naming qemu-system-x86_64", d, err)
	}
}

func TestAccelCancel(t *testing.T) {
	h := newFakeHost(t, fakeSilent)
	h.p.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if d, err := h.p.Accel(ctx, "x86_64"); err == nil {
		t.Errorf("got %v; want the context's error", d)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "child"))
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid != 0 && alive(pid) {
		t.Errorf("the fake QEMU's child %d outlived the cancelled probe", pid)
	}
}
