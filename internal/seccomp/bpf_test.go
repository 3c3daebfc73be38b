package seccomp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	mobyseccomp "github.com/moby/profiles/seccomp"
)

// The enforcement test runs the probes in a child process (this test
// binary, re-executed), because a seccomp filter cannot be taken off the
// process that loaded it. Loading needs no root: libseccomp sets
// no_new_privs first.
const (
	childEnv = "BULWARK_SECCOMP_TEST_CHILD" // profile to load: none, default, strict, conflict
	dirEnv   = "BULWARK_SECCOMP_TEST_DIR"   // scratch directory for the chmod probes
)

const policiesDir = "../../policies/seccomp"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode, os.Getenv(dirEnv)))
	}
	os.Exit(m.Run())
}

// hostArch is this machine's architecture by Bulwark's name.
func hostArch() string {
	return map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
}

// childProfile returns the profile a child loads. "conflict" is the
// default profile, which allows the chmod family unconditionally, plus
// conditional rules answering EACCES to setuid modes: Validate rejects it,
// and it is here to show that libseccomp really does ignore the
// conditional rules.
func childProfile(mode string) (*Profile, *plan, error) {
	a, err := LoadAdditions(policiesDir)
	if err != nil {
		return nil, nil, err
	}
	t := Target{Arch: hostArch()}
	var p *Profile
	switch mode {
	case "default", "conflict":
		p, err = Default(a)
	case "strict":
		p, err = Strict(a)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		return nil, nil, err
	}
	if mode != "conflict" {
		pl, err := p.resolve(t)
		return p, pl, err
	}
	eacces := uint(unix.EACCES)
	for _, g := range strictGuards[:2] { // chmod, fchmod; fchmodat, fchmodat2
		p.Seccomp.Syscalls = append(p.Seccomp.Syscalls, &mobyseccomp.Syscall{LinuxSyscall: specs.LinuxSyscall{
			Names: g.names, Action: specs.ActErrno, ErrnoRet: &eacces,
			Args: []specs.LinuxSeccompArg{{Index: g.args[0].Index, Value: 0o4000, ValueTwo: 0o4000, Op: specs.OpMaskedEqual}},
		}})
	}
	pl, err := p.resolveUnchecked(t)
	return p, pl, err
}

func child(mode, dir string) int {
	runtime.LockOSThread()
	if mode != "none" {
		p, pl, err := childProfile(mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		f, err := newFilter(p, pl)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := f.Load(); err != nil {
			fmt.Fprintln(os.Stderr, "loading filter:", err)
			return 2
		}
	}
	for _, pr := range probes(dir) {
		fmt.Printf("%s=%s\n", pr.name, pr.run())
	}
	return 0
}

type probe struct {
	name string
	run  func() string
}

func result(r uintptr, errno unix.Errno) string {
	if errno != 0 {
		return unix.ErrnoName(errno)
	}
	return "ok"
}

// sysno resolves a system call by name, so that calls missing on this
// architecture (aarch64 has no chmod) are skipped rather than mistyped.
func sysno(name string) (uintptr, bool) {
	n, err := libseccomp.GetSyscallFromName(name)
	if err != nil || n < 0 {
		return 0, false
	}
	return uintptr(n), true
}

func probes(dir string) []probe {
	path := func(name string) *byte {
		p, _ := unix.BytePtrFromString(filepath.Join(dir, name))
		return p
	}
	ptr := func(p *byte) uintptr { return uintptr(unsafe.Pointer(p)) }
	call := func(name string, args ...uintptr) func() string {
		return func() string {
			nr, ok := sysno(name)
			if !ok {
				return "absent"
			}
			var a [6]uintptr
			copy(a[:], args)
			r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
			return result(r, e)
		}
	}
	target := path("file")
	buf := make([]byte, 64)
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	return append([]probe{
		{"getpid", call("getpid")},
		{"unshare", call("unshare", 0)},
		{"keyctl", call("keyctl", unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0)}, // KEY_SPEC_SESSION_KEYRING
		{"clone3", call("clone3", 0, 0)},
		{"ptrace", call("ptrace", unix.PTRACE_PEEKUSR, uintptr(unix.Getppid()), 0, 0)},
		{"process_vm_readv", call("process_vm_readv", uintptr(unix.Getpid()), uintptr(unsafe.Pointer(&iov)), 1, uintptr(unsafe.Pointer(&iov)), 1, 0)},
		{"modify_ldt", call("modify_ldt", 0, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))},
		{"socket_inet", func() string {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err == nil {
				unix.Close(fd)
			}
			return errResult(err)
		}},
		{"socket_alg", func() string {
			fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET, 0)
			if err == nil {
				unix.Close(fd)
			}
			return errResult(err)
		}},
		{"chmod_setuid", call("chmod", ptr(target), 0o4755)},
		{"chmod_plain", call("chmod", ptr(target), 0o644)},
		{"fchmodat_setgid", call("fchmodat", atFDCWD, ptr(target), 0o2755, 0)},
		{"fchmodat_plain", call("fchmodat", atFDCWD, ptr(target), 0o600, 0)},
		{"fchmodat2_setuid", call("fchmodat2", atFDCWD, ptr(target), 0o4755, 0)},
		{"fchmodat2_plain", call("fchmodat2", atFDCWD, ptr(target), 0o640, 0)},
		{"fchmod_setuid", func() string {
			f, err := os.Open(filepath.Join(dir, "file"))
			if err != nil {
				return "open: " + err.Error()
			}
			defer f.Close()
			return call("fchmod", f.Fd(), 0o4755)()
		}},
	}, strictProbes(dir)...)
}

func errResult(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// runChild runs the probes under mode's profile and returns their results.
func runChild(t *testing.T, mode string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, dirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, stderr.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			got[k] = v
		}
	}
	return got
}

// TestFilterEnforces loads the compiled profiles into a child process and
// checks what the kernel then answers. The "none" run is the control: a
// probe expected to fail with EPERM under a profile must not fail that
// way without one, or the test would prove nothing.
func TestFilterEnforces(t *testing.T) {
	if hostArch() == "" {
		t.Skipf("no Bulwark architecture for GOARCH %s", runtime.GOARCH)
	}
	results := map[string]map[string]string{}
	for _, mode := range []string{"none", "default", "strict", "conflict"} {
		results[mode] = runChild(t, mode)
	}
	chmodAbsent := !hasSyscall("chmod")
	modifyLDTAbsent := !hasSyscall("modify_ldt")
	fchmodat2Absent := !hasSyscall("fchmodat2")
	for _, tc := range []struct {
		mode, probe, want string
		skip              bool
	}{
		// Docker's default, EPERM (defaultErrnoRet 1) for what it leaves out.
		{"default", "getpid", "ok", false},
		{"default", "unshare", "EPERM", false},
		{"default", "keyctl", "EPERM", false},
		{"default", "clone3", "ENOSYS", false}, // errnoRet 38 so glibc falls back to clone
		{"default", "socket_inet", "ok", false},
		{"default", "socket_alg", "EPERM", false},
		// Bulwark's additions.
		{"default", "ptrace", "EPERM", false},
		{"default", "process_vm_readv", "EPERM", false},
		{"default", "modify_ldt", "EPERM", modifyLDTAbsent},
		// The default profile leaves modes alone.
		{"default", "chmod_setuid", "ok", chmodAbsent},
		{"default", "fchmodat_setgid", "ok", false},
		// Strict: no set-user/group-ID bit through any chmod variant.
		{"strict", "getpid", "ok", false},
		{"strict", "chmod_setuid", "EPERM", chmodAbsent},
		{"strict", "chmod_plain", "ok", chmodAbsent},
		{"strict", "fchmodat_setgid", "EPERM", false},
		{"strict", "fchmodat_plain", "ok", false},
		{"strict", "fchmod_setuid", "EPERM", false},
		{"strict", "fchmodat2_setuid", "EPERM", false},
		{"strict", "fchmodat2_plain", results["none"]["fchmodat2_plain"], fchmodat2Absent},
		// libseccomp lets an unconditional rule override conditional ones:
		// the EACCES rules for setuid modes never fire.
		{"conflict", "chmod_setuid", "ok", chmodAbsent},
		{"conflict", "fchmod_setuid", "ok", false},
		{"conflict", "fchmodat2_setuid", results["none"]["fchmodat2_setuid"], fchmodat2Absent},
	} {
		t.Run(tc.mode+"/"+tc.probe, func(t *testing.T) {
			if tc.skip {
				t.Skipf("%s does not exist on %s", tc.probe, hostArch())
			}
			if got := results[tc.mode][tc.probe]; got != tc.want {
				t.Errorf("%s under %s: got %q, want %q", tc.probe, tc.mode, got, tc.want)
			}
			if tc.want == "EPERM" {
				if ctl := results["none"][tc.probe]; ctl == "EPERM" || ctl == "" {
					t.Errorf("%s without a filter: got %q; the control must not fail with EPERM", tc.probe, ctl)
				}
			}
		})
	}
}

func hasSyscall(name string) bool {
	_, ok := sysno(name)
	return ok
}

// TestConflictIsRejected pins the other half of the "conflict" run: the
// profile libseccomp silently weakens is one Validate refuses.
func TestConflictIsRejected(t *testing.T) {
	p, _, err := childProfile("conflict")
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(p, Arches()).Err()
	if err == nil || !strings.Contains(err.Error(), "makes libseccomp ignore every conditional rule") {
		t.Fatalf("Validate: got %v, want the conditional chmod rules reported as ignored", err)
	}
	if err := CompileBPF(new(bytes.Buffer), p, Target{Arch: "x86_64"}); err == nil {
		t.Error("CompileBPF accepted a profile that does not validate")
	}
}

func TestCompileBPF(t *testing.T) {
	p := repoProfile(t, Strict)
	progs := map[string][]byte{}
	for _, arch := range Arches() {
		t.Run(arch, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := CompileBPF(&first, p, Target{Arch: arch}); err != nil {
				t.Fatal(err)
			}
			if err := CompileBPF(&second, p, Target{Arch: arch}); err != nil {
				t.Fatal(err)
			}
			// A classic BPF instruction is 8 bytes.
			if n := first.Len(); n == 0 || n%8 != 0 {
				t.Errorf("program is %d bytes, want a non-empty multiple of 8", n)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Error("two compilations differ")
			}
			progs[arch] = first.Bytes()
		})
	}
	if bytes.Equal(progs["x86_64"], progs["aarch64"]) {
		t.Error("x86_64 and aarch64 programs are identical")
	}
	if err := CompileBPF(new(bytes.Buffer), p, Target{Arch: "riscv64"}); err == nil {
		t.Error("CompileBPF accepted an architecture Bulwark does not build for")
	}
}
