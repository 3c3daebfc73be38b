package seccomp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Placeholders for arguments the child fills in: pointers, and a file
// descriptor. The simulation puts plausible numbers in their place; no
// rule compares them.
const (
	argFresh   = 1<<62 + iota // a new path in the scratch directory, named after the case
	argFile                   // the scratch file, which exists
	argDir                    // the scratch directory
	argMissing                // a path in a directory that does not exist
	argFD                     // a descriptor of the scratch file
	argHow                    // struct open_how{flags: O_RDONLY}
)

const (
	atFDCWD = 0xffffffffffffff9c // AT_FDCWD, -100
	upper   = 1 << 32            // a bit the kernel drops: flags, mode and dev are 32 bits or fewer
)

// strictCase is one system call and what the strict profile answers:
// "allow", "EPERM" or "ENOSYS".
type strictCase struct {
	name string
	sys  string
	args []uint64
	want string
	// control is what the kernel answers without a filter, when that is
	// certain: "ok setuid" shows the refused call really plants a setuid
	// file. Empty: only checked not to be the refusal itself.
	control string
	// wide marks arguments with bits above 32, which 32-bit processes
	// cannot pass; their ABIs skip the case.
	wide bool
}

// strictCases cover every rule of the strict block, refusals and the
// cases next to them that must stay allowed. TestStrictEnforces runs
// them against the kernel on this machine and TestStrictSimulated through
// the compiled filter of every architecture. Probes that must be refused
// and would otherwise need CAP_MKNOD point into a missing directory, so
// that without a filter they fail with ENOENT whoever runs the test.
var strictCases = []strictCase{
	{name: "getpid", sys: "getpid", want: "allow", control: "ok"},
	// Changing a mode.
	{name: "chmod_setuid", sys: "chmod", args: []uint64{argFile, 0o4755}, want: "EPERM"},
	{name: "chmod_plain", sys: "chmod", args: []uint64{argFile, 0o1755}, want: "allow", control: "ok"},
	{name: "fchmod_setgid", sys: "fchmod", args: []uint64{argFD, 0o2755}, want: "EPERM"},
	{name: "fchmodat_setuid", sys: "fchmodat", args: []uint64{atFDCWD, argFile, 0o4700, 0}, want: "EPERM"},
	{name: "fchmodat2_setgid", sys: "fchmodat2", args: []uint64{atFDCWD, argFile, 0o2750, 0}, want: "EPERM"},
	{name: "fchmodat2_plain", sys: "fchmodat2", args: []uint64{atFDCWD, argFile, 0o640, 0}, want: "allow"},
	// Creating a file: the mode counts only with O_CREAT or O_TMPFILE.
	{name: "open_creat_setuid", sys: "open", args: []uint64{argFresh, unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, 0o4755}, want: "EPERM", control: "ok setuid"},
	{name: "open_creat_plain", sys: "open", args: []uint64{argFresh, unix.O_CREAT | unix.O_WRONLY, 0o755}, want: "allow", control: "ok"},
	{name: "open_read_setuid_mode", sys: "open", args: []uint64{argFile, unix.O_RDONLY, 0o4755}, want: "allow", control: "ok"},
	{name: "open_tmpfile_setgid", sys: "open", args: []uint64{argDir, unix.O_TMPFILE | unix.O_WRONLY, 0o2755}, want: "EPERM"},
	{name: "openat_creat_setuid", sys: "openat", args: []uint64{atFDCWD, argFresh, unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, 0o4755}, want: "EPERM", control: "ok setuid"},
	{name: "openat_creat_setgid", sys: "openat", args: []uint64{atFDCWD, argFresh, unix.O_CREAT | unix.O_TRUNC | unix.O_RDWR, 0o2711}, want: "EPERM", control: "ok setgid"},
	{name: "openat_creat_sticky", sys: "openat", args: []uint64{atFDCWD, argFresh, unix.O_CREAT | unix.O_WRONLY, 0o1777}, want: "allow", control: "ok"},
	{name: "openat_read_setuid_mode", sys: "openat", args: []uint64{atFDCWD, argFile, unix.O_RDWR, 0o6777}, want: "allow", control: "ok"},
	{name: "openat_tmpfile_setuid", sys: "openat", args: []uint64{atFDCWD, argDir, unix.O_TMPFILE | unix.O_WRONLY, 0o4755}, want: "EPERM"},
	{name: "openat_tmpfile_plain", sys: "openat", args: []uint64{atFDCWD, argDir, unix.O_TMPFILE | unix.O_WRONLY, 0o600}, want: "allow"},
	{name: "openat_flags_upper", sys: "openat", args: []uint64{atFDCWD, argFresh, upper | unix.O_CREAT | unix.O_WRONLY, 0o4755}, want: "EPERM", control: "ok setuid", wide: true},
	{name: "openat_mode_upper", sys: "openat", args: []uint64{atFDCWD, argFresh, unix.O_CREAT | unix.O_WRONLY, upper | 0o755}, want: "allow", control: "ok", wide: true},
	{name: "creat_setuid", sys: "creat", args: []uint64{argFresh, 0o4755}, want: "EPERM", control: "ok setuid"},
	{name: "creat_plain", sys: "creat", args: []uint64{argFresh, 0o644}, want: "allow", control: "ok"},
	// openat2's mode is behind a pointer: the call is turned away.
	{name: "openat2", sys: "openat2", args: []uint64{atFDCWD, argFile, argHow, 24}, want: "ENOSYS", control: "ok"},
	// mknod: no setuid or setgid bit, no device but a whiteout.
	{name: "mknod_fifo_setuid", sys: "mknod", args: []uint64{argFresh, unix.S_IFIFO | 0o4755, 0}, want: "EPERM", control: "ok setuid"},
	{name: "mknod_reg_setgid", sys: "mknod", args: []uint64{argFresh, unix.S_IFREG | 0o2755, 0}, want: "EPERM", control: "ok setgid"},
	{name: "mknod_fifo", sys: "mknod", args: []uint64{argFresh, unix.S_IFIFO | 0o644, 0}, want: "allow", control: "ok"},
	{name: "mknod_blk", sys: "mknod", args: []uint64{argMissing, unix.S_IFBLK | 0o600, 0}, want: "EPERM", control: "ENOENT"},
	{name: "mknodat_reg_setuid", sys: "mknodat", args: []uint64{atFDCWD, argFresh, 0o4755, 0}, want: "EPERM", control: "ok setuid"},
	{name: "mknodat_sock_setgid", sys: "mknodat", args: []uint64{atFDCWD, argFresh, unix.S_IFSOCK | 0o2755, 0}, want: "EPERM", control: "ok setgid"},
	{name: "mknodat_reg", sys: "mknodat", args: []uint64{atFDCWD, argFresh, unix.S_IFREG | 0o755, 0}, want: "allow", control: "ok"},
	{name: "mknodat_chr", sys: "mknodat", args: []uint64{atFDCWD, argMissing, unix.S_IFCHR | 0o666, unix.Mkdev(1, 3)}, want: "EPERM", control: "ENOENT"},
	{name: "mknodat_blk", sys: "mknodat", args: []uint64{atFDCWD, argMissing, unix.S_IFBLK | 0o600, unix.Mkdev(8, 0)}, want: "EPERM", control: "ENOENT"},
	{name: "mknodat_whiteout", sys: "mknodat", args: []uint64{atFDCWD, argFresh, unix.S_IFCHR, 0}, want: "allow"},
	{name: "mknodat_whiteout_setuid", sys: "mknodat", args: []uint64{atFDCWD, argMissing, unix.S_IFCHR | 0o4000, 0}, want: "EPERM", control: "ENOENT"},
	{name: "mknodat_chr_dev_upper", sys: "mknodat", args: []uint64{atFDCWD, argMissing, unix.S_IFCHR, upper}, want: "EPERM", control: "ENOENT", wide: true},
	// mkdir keeps only the permission and sticky bits of its mode.
	{name: "mkdirat_setgid", sys: "mkdirat", args: []uint64{atFDCWD, argFresh, 0o2755}, want: "allow", control: "ok"},
}

// strictProbes turns strictCases into probes for the child. A call that
// succeeds on a new path reports whether that path came out setuid or
// setgid.
func strictProbes(dir string) []probe {
	str := func(s string) uintptr {
		p, _ := unix.BytePtrFromString(s)
		return uintptr(unsafe.Pointer(p))
	}
	how := unix.OpenHow{Flags: unix.O_RDONLY}
	var out []probe
	for _, c := range strictCases {
		fresh := filepath.Join(dir, "new-"+c.name)
		out = append(out, probe{"strict/" + c.name, func() string {
			nr, ok := sysno(c.sys)
			if !ok {
				return "absent"
			}
			var a [6]uintptr
			for i, v := range c.args {
				switch v {
				case argFresh:
					a[i] = str(fresh)
				case argFile:
					a[i] = str(filepath.Join(dir, "file"))
				case argDir:
					a[i] = str(dir)
				case argMissing:
					a[i] = str(filepath.Join(dir, "missing", c.name))
				case argFD:
					f, err := os.Open(filepath.Join(dir, "file"))
					if err != nil {
						return "open: " + err.Error()
					}
					defer f.Close()
					a[i] = f.Fd()
				case argHow:
					a[i] = uintptr(unsafe.Pointer(&how))
				default:
					a[i] = uintptr(v)
				}
			}
			_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
			if e != 0 {
				return unix.ErrnoName(e)
			}
			var st unix.Stat_t
			switch {
			case unix.Lstat(fresh, &st) != nil:
			case st.Mode&unix.S_ISUID != 0:
				return "ok setuid"
			case st.Mode&unix.S_ISGID != 0:
				return "ok setgid"
			}
			return "ok"
		}})
	}
	return out
}

// TestStrictEnforces runs strictCases in a child without a filter and in
// one under the strict profile, and checks the kernel's answers: refused
// calls fail with the profile's errno and not without it, allowed calls
// get the same answer as without a filter.
func TestStrictEnforces(t *testing.T) {
	if hostArch() == "" {
		t.Skip("no Bulwark architecture for this GOARCH")
	}
	none, strict := runChild(t, "none"), runChild(t, "strict")
	for _, c := range strictCases {
		t.Run(c.name, func(t *testing.T) {
			key := "strict/" + c.name
			ctl, got := none[key], strict[key]
			if ctl == "absent" {
				t.Skipf("%s does not exist on %s", c.sys, hostArch())
			}
			if c.control != "" && ctl != c.control {
				t.Errorf("without a filter: got %q, want %q", ctl, c.control)
			}
			switch c.want {
			case "allow":
				if got != ctl {
					t.Errorf("strict: got %q, want %q as without a filter", got, ctl)
				}
				if ctl == "EPERM" {
					t.Errorf("without a filter: got EPERM, so the check proves nothing")
				}
			default:
				if got != c.want {
					t.Errorf("strict: got %q, want %q", got, c.want)
				}
				if ctl == c.want {
					t.Errorf("without a filter: got %q too, so the check proves nothing", ctl)
				}
			}
		})
	}
}

// abi is one system call ABI a filter covers: the architecture the filter
// is built for, or one of its 32-bit sub-architectures.
type abi struct {
	scmp  string // libseccomp's name, for the system call numbers
	audit uint32 // AUDIT_ARCH_* the kernel reports
	wide  bool   // 64-bit arguments
}

var filterABIs = map[string][]abi{
	"x86_64": {
		{"amd64", unix.AUDIT_ARCH_X86_64, true},
		{"x86", unix.AUDIT_ARCH_I386, false},
		{"x32", unix.AUDIT_ARCH_X86_64, false},
	},
	"aarch64": {
		{"arm64", unix.AUDIT_ARCH_AARCH64, true},
		{"arm", unix.AUDIT_ARCH_ARM, false},
	},
}

// TestStrictSimulated runs strictCases through the compiled strict filter
// of every architecture and ABI it covers, which is how aarch64 (and the
// 32-bit ABIs) are checked on an x86_64 machine, and through the default
// profile's filter, which must allow them all. On the host's own ABI it
// also compares the simulation with the kernel's answers, so that the
// interpreter is known to read libseccomp's programs right.
func TestStrictSimulated(t *testing.T) {
	p, def := repoProfile(t, Strict), repoProfile(t, Default)
	var kernel map[string]string
	if hostArch() != "" {
		kernel = runChild(t, "strict")
	}
	for _, arch := range Arches() {
		var prog, defProg bytes.Buffer
		if err := CompileBPF(&prog, p, Target{Arch: arch}); err != nil {
			t.Fatal(err)
		}
		if err := CompileBPF(&defProg, def, Target{Arch: arch}); err != nil {
			t.Fatal(err)
		}
		for _, abi := range filterABIs[arch] {
			for _, c := range strictCases {
				t.Run(arch+"/"+abi.scmp+"/"+c.name, func(t *testing.T) {
					nr, ok := sysnum(c.sys, abi.scmp)
					if !ok {
						t.Skipf("%s does not exist on %s", c.sys, abi.scmp)
					}
					if c.wide && !abi.wide {
						t.Skip("64-bit arguments")
					}
					got := verdict(simulateCase(t, prog.Bytes(), abi, nr, c.args))
					if got != c.want {
						t.Errorf("got %s, want %s", got, c.want)
					}
					// Docker's profile allows every one of these calls, so
					// each refusal is the strict block's doing.
					if d := verdict(simulateCase(t, defProg.Bytes(), abi, nr, c.args)); d != "allow" {
						t.Errorf("the default profile answers %s, want allow", d)
					}
					if arch == hostArch() && abi.scmp == targets[arch].scmp {
						k := kernel["strict/"+c.name]
						if (got == "allow") != (k != "EPERM" && k != "ENOSYS") || (got != "allow" && got != k) {
							t.Errorf("simulated %s, but the kernel answered %s", got, k)
						}
					}
				})
			}
		}
	}
}

// TestSimulatedArch checks that the simulation reads the architecture: a
// filter allows nothing to an ABI it was not built for.
func TestSimulatedArch(t *testing.T) {
	p := repoProfile(t, Strict)
	var prog bytes.Buffer
	if err := CompileBPF(&prog, p, Target{Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	nr, _ := sysnum("getpid", "arm64")
	if got := verdict(simulateCase(t, prog.Bytes(), abi{audit: unix.AUDIT_ARCH_AARCH64, wide: true}, nr, nil)); got == "allow" {
		t.Errorf("the x86_64 filter answered %s to an aarch64 getpid", got)
	}
	nr, _ = sysnum("getpid", "amd64")
	if got := verdict(simulateCase(t, prog.Bytes(), abi{audit: unix.AUDIT_ARCH_X86_64, wide: true}, nr, nil)); got != "allow" {
		t.Errorf("the x86_64 filter answered %s to an x86_64 getpid", got)
	}
}

func simulateCase(t *testing.T, prog []byte, abi abi, nr int, args []uint64) uint32 {
	t.Helper()
	sc := seccompData{nr: int32(nr), arch: abi.audit, ip: 0x401000}
	for i, v := range args {
		switch {
		case v == argFD:
			v = 3
		case v >= argFresh && v <= argHow:
			v = 0x7ffd_0000_1000 + uint64(i)*0x100
		}
		if !abi.wide {
			v &= 0xffffffff
		}
		sc.args[i] = v
	}
	ret, err := simulate(prog, sc)
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// TestStrictFlagValues checks the open flags and file types the strict
// block compares against this machine's, so a wrong constant shows here
// rather than as a hole.
func TestStrictFlagValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"O_CREAT|__O_TMPFILE", createFlags, unix.O_CREAT | unix.O_TMPFILE&^unix.O_DIRECTORY},
		{"S_ISUID|S_ISGID", setuidBits, unix.S_ISUID | unix.S_ISGID},
		{"S_IFMT", fileType, unix.S_IFMT},
		{"S_IFCHR", charDevice, unix.S_IFCHR},
		{"S_IFCHR&S_IFBLK", charDevice, unix.S_IFCHR & unix.S_IFBLK},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %#o, want %#o", tc.name, tc.got, tc.want)
		}
	}
	for _, typ := range []uint64{0, unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK} {
		if typ&charDevice != 0 {
			t.Errorf("file type %#o has the device bit", typ)
		}
	}
	if s := strings.Join(strictENOSYS, ","); s != "openat2" {
		t.Errorf("ENOSYS calls: got %s; TestStrictEnforces covers only openat2", s)
	}
}
