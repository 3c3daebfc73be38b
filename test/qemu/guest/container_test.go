//go:build guest

package guest

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestInContainer runs inside a container that the host test created over
// TLS as a permitted user, with a plain create (no options but -m): what the
// node's floor gives every container, seen from inside it.
func TestInContainer(t *testing.T) {
	if os.Getenv("BULWARK_IN_CONTAINER") != "1" {
		t.Fatal("TestInContainer runs only in the container the host test starts (BULWARK_IN_CONTAINER=1)")
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("/proc/self/status lacks %q (no-new-privileges and a seccomp filter from the floor)", want)
		}
	}
	label, err := os.ReadFile("/proc/self/attr/current")
	if err != nil {
		t.Fatal(err)
	}
	if l := strings.TrimRight(string(label), "\x00\n"); !labelRE.MatchString(l) {
		t.Errorf("label %q; want container_t with an MCS pair", l)
	}
	// Bulwark's seccomp addition revokes process_vm_readv without
	// CAP_SYS_PTRACE; Docker's builtin profile allows it (Linux >= 4.8).
	// Reading one's own memory is always allowed by the kernel, so only
	// the profile can refuse it.
	buf, src := make([]byte, 8), []byte("bulwark!")
	local := syscall.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	remote := syscall.Iovec{Base: &src[0], Len: uint64(len(src))}
	_, _, errno := syscall.Syscall6(sysProcessVMReadv, uintptr(os.Getpid()), uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
	if errno != syscall.EPERM {
		t.Errorf("process_vm_readv on itself: errno %v (read %q); want EPERM from Bulwark's seccomp profile", errno, buf)
	}
	// The user namespace the host test asked for: Docker's remap (container
	// root is an unprivileged host id) or, with --userns=host, the host's.
	if want := os.Getenv("BULWARK_UID_MAP"); want != "" {
		m, err := os.ReadFile("/proc/self/uid_map")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(string(m)), " "); got != want {
			t.Errorf("/proc/self/uid_map %q; want %q", got, want)
		}
	}
	if want := os.Getenv("BULWARK_MEMTOTAL"); want != "" {
		mi, _ := os.ReadFile("/proc/meminfo")
		m := regexp.MustCompile(`(?m)^MemTotal:\s+(\d+) kB$`).FindSubmatch(mi)
		if m == nil || string(m[1]) != want {
			t.Errorf("/proc/meminfo MemTotal %q; want %s kB (lxcfs view of the -m limit)", m, want)
		}
	}
}
