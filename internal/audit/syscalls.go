package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	seccomp "github.com/seccomp/libseccomp-golang"
)

// machine is what a -F arch value names.
type machine struct {
	abi  string // libseccomp architecture: amd64, x86, arm64, arm; "" for b64/b32
	bits string // b64 or b32, as auditctl -l prints the arch
}

// machines are audit 4.0.2's lib/machinetab.h names (Debian builds it with
// ARM and AArch64 support). Machines Bulwark never builds for parse, so that
// Validate can say why they are wrong rather than that they are unknown.
var machines = map[string]machine{
	"i386": {"x86", "b32"}, "i486": {"x86", "b32"}, "i586": {"x86", "b32"}, "i686": {"x86", "b32"},
	"x86_64":  {"amd64", "b64"},
	"ppc64":   {"ppc64", "b64"},
	"ppc64le": {"ppc64le", "b64"},
	"ppc":     {"ppc", "b32"},
	"s390x":   {"s390x", "b64"},
	"s390":    {"s390", "b32"},
	"armeb":   {"arm", "b32"}, "arm": {"arm", "b32"}, "armv5tejl": {"arm", "b32"},
	"armv5tel": {"arm", "b32"}, "armv6l": {"arm", "b32"}, "armv7l": {"arm", "b32"},
	"aarch64": {"arm64", "b64"}, "armv8l": {"arm64", "b64"},
}

// elfMachines are the AUDIT_ARCH_* values a numeric -F arch may give.
var elfMachines = map[uint32]machine{
	0xC000003E: {"amd64", "b64"}, 0x40000003: {"x86", "b32"},
	0xC00000B7: {"arm64", "b64"}, 0x40000028: {"arm", "b32"},
	0x80000015: {"ppc64", "b64"}, 0xC0000015: {"ppc64le", "b64"}, 0x14: {"ppc", "b32"},
	0x80000016: {"s390x", "b64"}, 0x16: {"s390", "b32"},
}

func machineOf(v string) (machine, bool) {
	switch strings.ToLower(v) { // auditctl compares b64 and b32 with strcasecmp
	case "b64":
		return machine{bits: "b64"}, true
	case "b32":
		return machine{bits: "b32"}, true
	}
	if m, ok := machines[v]; ok {
		return m, true
	}
	if n, ok := cNumber(v, false); ok {
		m, ok := elfMachines[n]
		return m, ok
	}
	return machine{}, false
}

// targetABIs are the native (b64) and compat (b32) system-call ABIs of each
// target. Debian's kernels enable both: IA32_EMULATION on amd64 and COMPAT
// on arm64. The x32 ABI is built but off unless syscall.x32=y is given; its
// system calls carry arch=b64 with numbers above the audit bitmask, so no
// rule can name them.
var targetABIs = map[string]struct{ b64, b32 string }{
	"x86_64":  {"amd64", "x86"},
	"aarch64": {"arm64", "arm"},
}

// ruleABI returns the libseccomp ABI whose table names the rule's system
// calls on target: the one -F arch gives, else the native one, as auditctl
// uses the machine it runs on.
func ruleABI(r Rule, target string) (string, string) {
	t, ok := targetABIs[target]
	if !ok {
		return "", fmt.Sprintf("unknown target architecture %q", target)
	}
	f, ok := archField(r)
	if !ok {
		return t.b64, ""
	}
	m, _ := machineOf(f.Raw)
	switch {
	case m.abi == "" && m.bits == "b64":
		return t.b64, ""
	case m.abi == "":
		return t.b32, ""
	case m.abi == t.b64 || m.abi == t.b32:
		return m.abi, ""
	}
	return "", fmt.Sprintf("-F arch=%s is the %s ABI, which does not run on %s (use b64 for %s or b32 for %s)", f.Raw, m.abi, target, t.b64, t.b32)
}

func archField(r Rule) (Field, bool) {
	for _, f := range r.Fields {
		if !f.Cmp && f.Name == "arch" {
			return f, true
		}
	}
	return Field{}, false
}

// auditBitmaskMax is the first system call number the audit rule bitmask
// (AUDIT_BITMASK_SIZE 64 words of 32 bits) cannot hold.
const auditBitmaskMax = 64 * 32

// auditOnly and seccompOnly are where auditctl 4.0.2's own syscall tables
// (lib/{x86_64,i386,aarch64,arm}_table.h) disagree with libseccomp 2.6.0,
// found by resolving every name of each table both ways. auditOnly are
// names auditctl accepts that libseccomp does not resolve to the same
// number (i386's direct socket calls, older spellings such as pread);
// seccompOnly are names libseccomp knows and auditctl rejects, so a rule
// using them would stop augenrules. Refresh both when either library moves.
var auditOnly = map[string]map[string]int{
	"amd64": {"pread": 17, "pwrite": 18},
	"x86": {"madvise1": 219, "sys_kexec_load": 283, "recvmmsg": 337, "sendmmsg": 345,
		"socket": 359, "socketpair": 360, "bind": 361, "connect": 362, "listen": 363,
		"accept4": 364, "getsockopt": 365, "setsockopt": 366, "getsockname": 367,
		"getpeername": 368, "sendto": 369, "sendmsg": 370, "recvfrom": 371, "recvmsg": 372,
		"shutdown": 373, "semget": 393, "semctl": 394, "shmget": 395, "shmctl": 396,
		"shmat": 397, "shmdt": 398, "msgget": 399, "msgsnd": 400, "msgrcv": 401,
		"msgctl": 402, "sched_rr_get_interval64": 423},
	"arm64": {"getdents": 61, "pread": 67, "pwrite": 68, "newfstat": 80},
	"arm": {"time": 13, "umount": 22, "stime": 25, "alarm": 27, "utime": 30, "getrlimit": 76,
		"select": 82, "readdir": 89, "mmap": 90, "socketcall": 102, "syscall": 113, "ipc": 117,
		"llseek": 140, "newselect": 142, "sysctl": 149, "fadvise64_64": 270,
		"sync_file_range": 341, "sched_rr_get_interval64": 423},
}

var seccompOnly = map[string]string{
	"amd64": "pread64 pwrite64 uretprobe setxattrat getxattrat listxattrat removexattrat",
	"x86":   "kexec_load sched_rr_get_interval_time64 setxattrat getxattrat listxattrat removexattrat",
	"arm64": "getdents64 pread64 pwrite64 fstat setxattrat getxattrat listxattrat removexattrat",
	"arm": "_llseek _newselect _sysctl arm_fadvise64_64 pselect6 ppoll arm_sync_file_range " +
		"epoll_pwait sched_rr_get_interval_time64 setxattrat getxattrat listxattrat removexattrat",
}

// syscallNumber resolves a -S name (or number) on a libseccomp ABI as
// auditctl 4.0.2 would, or says why it cannot.
func syscallNumber(abi, name string) (int, string) {
	if n, ok := auditOnly[abi][name]; ok {
		return n, ""
	}
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		n, err := strconv.Atoi(name)
		if err != nil || n >= auditBitmaskMax {
			return 0, fmt.Sprintf("system call number %s is not below %d", name, auditBitmaskMax)
		}
		return n, ""
	}
	if strings.Contains(" "+seccompOnly[abi]+" ", " "+name+" ") {
		return 0, fmt.Sprintf("system call %q is not in auditctl 4.0's %s table", name, abi)
	}
	arch, err := seccomp.GetArchFromString(abi)
	if err != nil {
		return 0, fmt.Sprintf("libseccomp does not know the %s ABI: %v", abi, err)
	}
	nr, err := seccomp.GetSyscallFromNameByArch(name, arch)
	// libseccomp returns negative pseudo numbers for calls that exist on
	// other architectures only.
	if err != nil || nr < 0 {
		return 0, fmt.Sprintf("system call %q does not exist on %s", name, abi)
	}
	if int(nr) >= auditBitmaskMax {
		return 0, fmt.Sprintf("system call %q is number %d, beyond the audit bitmask", name, nr)
	}
	return int(nr), ""
}

// syscallName is the name auditctl -l prints for nr on abi.
func syscallName(abi string, nr int) string {
	for name, n := range auditOnly[abi] {
		if n == nr {
			return name
		}
	}
	if arch, err := seccomp.GetArchFromString(abi); err == nil {
		name, err := seccomp.ScmpSyscall(nr).GetNameByArch(arch)
		if err == nil && !strings.Contains(" "+seccompOnly[abi]+" ", " "+name+" ") {
			return name
		}
	}
	return strconv.Itoa(nr) // auditctl -l prints numbers it has no name for
}

// permSyscalls are audit 4.0.2's lib/permtab.h: the system calls auditctl
// adds to an exit rule for -F perm= once -F arch is known. auditctl 4.0.2
// stops at the first name the ABI lacks, so on arm64, which has no rename,
// readlink or chmod, only perm=x works together with -F arch.
var permSyscalls = map[byte]string{
	'x': "execve",
	'w': "rename,mkdir,rmdir,creat,link,unlink,symlink,mknod,mkdirat,mknodat,unlinkat,renameat,linkat,symlinkat,renameat2,acct,swapon,quotactl,truncate,ftruncate,bind,fallocate,open,openat,openat2",
	'r': "readlink,quotactl,listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr,readlinkat,open,openat,openat2",
	'a': "chmod,fchmod,chown,lchown,fchown,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr,fchownat,fchmodat,link,linkat",
}

// ruleSyscalls returns the system call numbers an exit rule loads on abi,
// in ascending order, or all=true when the rule covers every call: for -S
// all, and for a rule without -S, to which auditctl adds all. It applies
// auditctl's -F perm expansion when -F arch precedes -F perm.
func ruleSyscalls(r Rule, abi string) (nrs []int, all bool, problems []string) {
	set := map[int]bool{}
	for _, name := range r.Syscalls {
		if name == "all" {
			all = true
			continue
		}
		n, msg := syscallNumber(abi, name)
		if msg != "" {
			problems = append(problems, msg)
			continue
		}
		set[n] = true
	}
	archSeen, expanded := false, false
	for _, f := range r.Fields {
		if f.Cmp {
			continue
		}
		if f.Name == "arch" {
			archSeen = true
		}
		if f.Name != "perm" || !archSeen {
			continue
		}
		expanded = true
		for i := 0; i < len(f.Value); i++ {
			for _, name := range strings.Split(permSyscalls[f.Value[i]], ",") {
				n, msg := syscallNumber(abi, name)
				if msg != "" {
					problems = append(problems, fmt.Sprintf("-F perm=%s: auditctl 4.0 adds the %c system calls for the arch and fails: %s", f.Value, f.Value[i], msg))
					break
				}
				set[n] = true
			}
		}
	}
	if all || (len(r.Syscalls) == 0 && !expanded) {
		return nil, true, problems
	}
	for n := range set {
		nrs = append(nrs, n)
	}
	slices.Sort(nrs)
	return nrs, false, problems
}
