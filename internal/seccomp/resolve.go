package seccomp

import (
	"fmt"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// scmpArches is every architecture libseccomp knows, by the name dockerd
// matches in includes.arches and excludes.arches.
var scmpArches = []string{
	"amd64", "arm", "arm64", "loongarch64", "m68k", "mips", "mips64", "mips64n32", "mipsel", "mipsel64",
	"mipsel64n32", "parisc", "parisc64", "ppc", "ppc64", "ppc64le", "riscv64", "s390", "s390x", "sh",
	"sheb", "x32", "x86",
}

// archAliases are names libseccomp accepts but dockerd never matches,
// because it compares includes.arches with the canonical name.
var archAliases = map[string]string{
	"x86_64": "amd64", "x86-64": "amd64", "x64": "amd64", "aarch64": "arm64", "loong64": "loongarch64",
}

type sysKey struct{ name, arch string }

var (
	sysMu    sync.Mutex
	sysCache = map[sysKey]int{}
)

// sysnum returns name's system call number on arch (a libseccomp name)
// and whether the call exists there. libseccomp answers names it knows
// from another architecture with a negative pseudo number, which is not a
// system call: aarch64 has no chmod, open or rename.
func sysnum(name, arch string) (int, bool) {
	k := sysKey{name, arch}
	sysMu.Lock()
	n, ok := sysCache[k]
	sysMu.Unlock()
	if !ok {
		n = -1
		if a, err := libseccomp.GetArchFromString(arch); err == nil {
			if s, err := libseccomp.GetSyscallFromNameByArch(name, a); err == nil {
				n = int(s)
			}
		}
		sysMu.Lock()
		sysCache[k] = n
		sysMu.Unlock()
	}
	return n, n >= 0
}

// existsOn reports whether name is a system call on any of arches.
func existsOn(name string, arches []string) bool {
	for _, a := range arches {
		if _, ok := sysnum(name, a); ok {
			return true
		}
	}
	return false
}

// libseccompVersion is shown in messages about unknown names, since the
// answer depends on the tables of the libseccomp linked in.
func libseccompVersion() string {
	ma, mi, mc := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", ma, mi, mc)
}
