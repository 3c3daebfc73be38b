package audit

import (
	"strings"
	"testing"
)

// TestCanonValue pins, for every value kind, what auditctl -l prints for a
// good value and that a bad one is refused with a reason.
func TestCanonValue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    valueKind
		in      string
		want    string
		wantMsg string
	}{
		{"uid unset", vUID, "unset", "-1", ""},
		{"uid wraps", vUID, "4294967295", "-1", ""},
		{"uid name", vUID, "root", "", "numeric uid"},
		{"gid", vGID, "1000", "1000", ""},
		{"gid name", vGID, "docker", "", "numeric gid"},
		{"num", vNum, "0x10", "16", ""},
		{"num bad", vNum, "ten", "", "is not a number"},
		{"session unset", vSession, "unset", "-1", ""},
		{"session bad", vSession, "x", "", "not a number or unset"},
		{"inode", vInode, "4294967295", "4294967295", ""},
		{"inode bad", vInode, "-", "", "is not a number"},
		{"exit errno", vExit, "-EPERM", "-EPERM", ""},
		{"msgtype number", vMsgType, "1309", "1309", ""},
		{"msgtype name", vMsgType, "EXECVE", "EXECVE", ""},
		{"msgtype bad", vMsgType, "execve", "", "record type"},
		{"string", vString, "anything", "anything", ""},
		{"path", vPath, "/etc/docker", "/etc/docker", ""},
		{"path relative", vPath, "etc", "", "is not absolute"},
		{"exe", vExe, "/usr/bin/dockerd", "/usr/bin/dockerd", ""},
		{"arch", vArch, "b64", "b64", ""},
		{"arch bad", vArch, "sparc9", "", "unknown architecture"},
		{"perm", vPerm, "wa", "wa", ""},
		{"file type", vFileType, "dir", "dir", ""},
		{"file type bad", vFileType, "pipe", "", "unknown file type"},
		{"fstype magic", vFSType, "0x74726163", "tracefs", ""},
		{"fstype other magic", vFSType, "17", "17", ""},
		{"fstype name", vFSType, "debugfs", "debugfs", ""},
		{"fstype bad", vFSType, "ext4", "", "unknown file system type"},
		{"arg", vArg, "255", "0xFF", ""},
		{"arg bad", vArg, "x", "", "is not a number"},
		{"saddr_fam", vSaddrFam, "2", "2", ""},
		{"saddr_fam too big", vSaddrFam, "46", "", "below 46"},
		{"no reader", valueKind(-1), "1", "", "has no value reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := canonValue(tc.kind, "f", tc.in)
			if got != tc.want || (tc.wantMsg == "") != (msg == "") || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("canonValue(%q) = %q, %q; want %q, a message containing %q", tc.in, got, msg, tc.want, tc.wantMsg)
			}
		})
	}
}
