package seccomp

import (
	"fmt"
	"slices"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Bits of the mode and flags arguments the strict block compares. The
// open flags have these values on x86_64 and aarch64 and on the 32-bit
// ABIs their filters also cover (x86, x32, arm); mips, parisc, sparc and
// alpha number them differently, but Bulwark builds for none of those.
const (
	// setuidBits are S_ISUID and S_ISGID.
	setuidBits = 0o6000
	// createFlags are the open flags under which open and openat use their
	// mode: O_CREAT and __O_TMPFILE, the bit O_TMPFILE adds to
	// O_DIRECTORY. Without either the kernel ignores the mode.
	createFlags = 0o100 | 0o20000000
	// fileType is S_IFMT, the file type in a mode.
	fileType = 0o170000
	// charDevice is S_IFCHR. Its bit is also set in S_IFBLK (0060000) and
	// in no other type mknod creates: regular files (0 or S_IFREG), FIFOs
	// and sockets.
	charDevice = 0o20000
)

// guard is one rule of the strict block: the calls it names are allowed
// when all of its comparisons hold. Several guards for one call are
// alternatives: libseccomp allows the call when any of them holds, and
// anything else gets the default errno, EPERM.
//
// Denying the bad cases directly is not possible in Docker's format as
// runc applies it: an errno rule with the default errno is dropped, and
// an unconditional allow rule beside it would make libseccomp ignore it.
// Hence allow rules for the good cases, which for open and openat are
// two: "creates nothing" or "sets no setuid bit".
type guard struct {
	names []string
	args  []specs.LinuxSeccompArg // all must hold
	why   string                  // the rule's comment, after "Bulwark strict: "
}

// noneOf compares "argument index has none of bits set".
func noneOf(index uint, bits uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: bits, ValueTwo: 0, Op: specs.OpMaskedEqual}
}

// whiteout compares "the mode (argument mode) is a character device
// without S_ISUID and S_ISGID, and the device (argument dev) is 0:0":
// what overlayfs uses to mark a deleted file. It is no device (opening it
// fails with ENXIO), and Linux lets processes without CAP_MKNOD create
// one, so that overlayfs works in user namespaces; fuse-overlayfs and
// rootless image builders make them.
func whiteout(mode, dev uint) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{
		{Index: mode, Value: fileType | setuidBits, ValueTwo: charDevice, Op: specs.OpMaskedEqual},
		{Index: dev, Value: 0, Op: specs.OpEqualTo},
	}
}

const noSetuid = "sets neither S_ISUID nor S_ISGID"

// strictGuards are the strict block's rules, per call with the argument
// layout of that call: chmod(path, mode), fchmod(fd, mode),
// fchmodat(dirfd, path, mode, flags), open(path, flags, mode),
// openat(dirfd, path, flags, mode), creat(path, mode),
// mknod(path, mode, dev), mknodat(dirfd, path, mode, dev). Calls that do
// not exist on an architecture (aarch64 has no chmod, open, creat or
// mknod) are left out of its filter by libseccomp's name resolution; the
// 32-bit ABIs the filters also cover have them all.
var strictGuards = []guard{
	{[]string{"chmod", "fchmod"}, []specs.LinuxSeccompArg{noneOf(1, setuidBits)},
		"allowed only when the new mode (argument 1) " + noSetuid},
	{[]string{"fchmodat", "fchmodat2"}, []specs.LinuxSeccompArg{noneOf(2, setuidBits)},
		"allowed only when the new mode (argument 2) " + noSetuid},
	{[]string{"open"}, []specs.LinuxSeccompArg{noneOf(1, createFlags)},
		"allowed when the flags (argument 1) have neither O_CREAT nor O_TMPFILE, so the mode is ignored, or by the next rule"},
	{[]string{"open"}, []specs.LinuxSeccompArg{noneOf(2, setuidBits)},
		"allowed when the mode (argument 2) " + noSetuid + ", or by the rule before"},
	{[]string{"openat"}, []specs.LinuxSeccompArg{noneOf(2, createFlags)},
		"allowed when the flags (argument 2) have neither O_CREAT nor O_TMPFILE, so the mode is ignored, or by the next rule"},
	{[]string{"openat"}, []specs.LinuxSeccompArg{noneOf(3, setuidBits)},
		"allowed when the mode (argument 3) " + noSetuid + ", or by the rule before"},
	{[]string{"creat"}, []specs.LinuxSeccompArg{noneOf(1, setuidBits)},
		"allowed only when the mode (argument 1) " + noSetuid},
	{[]string{"mknod"}, []specs.LinuxSeccompArg{noneOf(1, setuidBits|charDevice)},
		"allowed when the mode (argument 1) " + noSetuid + " and is no character or block device, or by the next rule"},
	{[]string{"mknod"}, whiteout(1, 2),
		"allowed when it makes an overlay whiteout, a character device (argument 1) numbered 0:0 (argument 2), which is no device, or by the rule before"},
	{[]string{"mknodat"}, []specs.LinuxSeccompArg{noneOf(2, setuidBits|charDevice)},
		"allowed when the mode (argument 2) " + noSetuid + " and is no character or block device, or by the next rule"},
	{[]string{"mknodat"}, whiteout(2, 3),
		"allowed when it makes an overlay whiteout, a character device (argument 2) numbered 0:0 (argument 3), which is no device, or by the rule before"},
}

// strictENOSYS are the calls the strict block answers with ENOSYS, the
// answer of a kernel that predates them, so that libc and programs fall
// back to a call the guards check. openat2 (Linux 5.6) passes its mode
// inside struct open_how, which seccomp cannot read; its fallback is
// openat.
var strictENOSYS = []string{"openat2"}

// Strict is Default plus a block on leaving a set-user-ID or set-group-ID
// file, or a device node, where the container can write: a root process
// in a container can otherwise plant a setuid binary, or a world-readable
// node for the host's disk, on a volume that someone outside later runs
// or opens. Every call that sets a mode is covered: chmod and its
// aliases, open, openat and creat when they create a file, mknod and
// mknodat (which also refuse character and block devices, except
// overlayfs's 0:0 whiteout), and openat2 by redirecting it to openat.
// mkdir needs no rule: the kernel keeps only the permission and sticky
// bits of its mode.
func Strict(a *Additions) (*Profile, error) {
	p, err := Default(a)
	if err != nil {
		return nil, err
	}
	p.File = "strict.json"
	var names []string
	for _, g := range strictGuards {
		names = append(names, g.names...)
	}
	names = append(names, strictENOSYS...)
	for i, n := range names {
		if slices.Index(names, n) == i && !revoke(p.Seccomp, n) {
			return nil, fmt.Errorf("strict profile: Docker's default profile no longer allows %s to every container", n)
		}
	}
	for _, g := range strictGuards {
		p.Seccomp.Syscalls = append(p.Seccomp.Syscalls, &mobyseccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: slices.Clone(g.names), Action: specs.ActAllow, Args: slices.Clone(g.args)},
			Comment:      "Bulwark strict: " + g.why,
		})
	}
	errno := uint(enosys)
	p.Seccomp.Syscalls = append(p.Seccomp.Syscalls, &mobyseccomp.Syscall{
		LinuxSyscall: specs.LinuxSyscall{Names: slices.Clone(strictENOSYS), Action: specs.ActErrno, ErrnoRet: &errno},
		Comment:      "Bulwark strict: ENOSYS, as from a kernel without it, so that callers fall back to openat, whose mode is checked; openat2's mode is in a struct seccomp cannot read",
	})
	sortNames(p.Seccomp)
	return p, nil
}
