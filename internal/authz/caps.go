package authz

import "strings"

// knownCaps are the Linux capabilities dockerd accepts in CapAdd (as of
// Linux 5.9, which added CAP_CHECKPOINT_RESTORE).
var knownCaps = map[string]bool{}

// defaultCaps are the capabilities every Docker container has unless
// dropped; adding one of them changes nothing, so no rule needs to list it.
var defaultCaps = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
		SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
		SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE
		SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN
		SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`) {
		knownCaps["CAP_"+c] = true
	}
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID
		SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE`) {
		defaultCaps["CAP_"+c] = true
	}
}

// allCaps is CapAdd's "every capability".
const allCaps = "ALL"

// normalizeCap spells a capability as dockerd does before using it
// (oci/caps.NormalizeLegacyCapabilities): upper case, with the CAP_ prefix,
// "ALL" as is. The same strings.ToUpper keeps odd spellings ("ſys_admin")
// mapping to what dockerd maps them to.
func normalizeCap(c string) string {
	c = strings.ToUpper(c)
	if c == allCaps || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}
