package audit

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	// want maps a target to "" (valid) or a substring of the error.
	for _, tc := range []struct {
		name, in   string
		x86, arm64 string
	}{
		{"native only syscall", "-a always,exit -F arch=b64 -S open", "", `"open" does not exist on arm64`},
		{"no arch is native", "-a always,exit -S open", "", `"open" does not exist on arm64`},
		{"compat ABI", "-a always,exit -F arch=b32 -S execve,execveat", "", ""},
		{"i386 socket calls by number", "-a always,exit -F arch=b32 -S socket,bind", "", ""},
		{"libseccomp spelling auditctl lacks", "-a always,exit -F arch=b64 -S pread64", "not in auditctl 4.0's amd64 table", "not in auditctl 4.0's arm64 table"},
		{"auditctl spelling", "-a always,exit -F arch=b64 -S pread", "", ""},
		{"typo names the arch", "-a always,exit -F arch=b32 -S execvat", `"execvat" does not exist on x86`, `"execvat" does not exist on arm`},
		{"foreign machine", "-a always,exit -F arch=aarch64 -S execve", "does not run on x86_64", ""},
		{"foreign machine 32", "-a always,exit -F arch=i686 -S execve", "", "does not run on aarch64"},
		{"elf number", "-a always,exit -F arch=0xc00000b7 -S execve", "does not run on x86_64", ""},
		{"other machine", "-a always,exit -F arch=ppc64le -S execve", "ppc64le ABI", "ppc64le ABI"},
		{"syscall number", "-a always,exit -F arch=b64 -S 59", "", ""},
		{"syscall number too big", "-a always,exit -F arch=b64 -S 5000", "not below 2048", "not below 2048"},
		{"perm expansion", "-a always,exit -F arch=b64 -F path=/x -F perm=wa -k k", "", "auditctl 4.0 adds the w system calls"},
		{"perm x expands everywhere", "-a always,exit -F arch=b64 -F path=/x -F perm=x -k k", "", ""},
		{"perm before arch does not expand", "-a always,exit -F path=/x -F perm=w -F arch=b64 -k k", "", ""},
		{"duplicate watch", "-w /x -k a\n-w /x -k a", "same rule as t.rules:1", "same rule as t.rules:1"},
		{"same path other key", "-w /x -k a\n-w /x -k b", "", ""},
		{"duplicate after -D", "-w /x -k a\n-D\n-w /x -k a", "", ""},
		{"duplicate after -D -k", "-w /x -k abc\n-D -k b\n-w /x -k abc", "", ""},
		{"duplicate across forms", "-w /x -p wa -k k\n-a always,exit -F path=/x -F perm=aw -k k", "same rule", "same rule"},
		{"locked", "-e 2\n-w /x", "comes after -e 2 at t.rules:1", "comes after -e 2"},
		{"backlog wait limit", "--backlog_wait_time 150001", "above the kernel's limit", "above the kernel's limit"},
		{"backlog wait at limit", "--backlog_wait_time 150000", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := mustParse(t, tc.in)
			for target, want := range map[string]string{"x86_64": tc.x86, "aarch64": tc.arm64} {
				err := Validate(rules, target)
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: got %v, want no error", target, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: got %v\nwant an error containing %q", target, err, want)
				}
			}
		})
	}
}

func TestValidateUnknownTarget(t *testing.T) {
	if err := Validate(nil, "riscv64"); err == nil || !strings.Contains(err.Error(), "x86_64") {
		t.Errorf("got %v, want an error listing the known targets", err)
	}
}

func TestValidateReportsAll(t *testing.T) {
	rules := mustParse(t, "-a always,exit -F arch=b64 -S open\n-w /x\n-a always,exit -F arch=b64 -S stat -k k\n-w /x\n")
	err := Validate(rules, "aarch64")
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"t.rules:1: -S:", "t.rules:3: -S:", "t.rules:4: same rule as t.rules:2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant it to contain %q", err, want)
		}
	}
}

func TestList(t *testing.T) {
	for _, tc := range []struct{ name, in, target, want string }{
		{"empty", "-D\n-e 1", "x86_64", "No rules\n"},
		{"syscalls by number", "-a always,exit -F arch=b64 -S execveat,execve", "x86_64", "-a always,exit -F arch=b64 -S execve,execveat\n"},
		{"auditctl's names", "-a always,exit -F arch=b64 -S 17,pread", "x86_64", "-a always,exit -F arch=b64 -S pread\n"},
		{"numbers auditctl has no name for", "-a always,exit -F arch=b64 -S 463,execve", "x86_64", "-a always,exit -F arch=b64 -S execve,463\n"},
		{"no arch uses the native table", "-a always,exit -S 221", "aarch64", "-a always,exit -S execve\n"},
		{"perm expands with arch", "-a always,exit -F arch=b64 -F path=/usr/bin/su -F perm=x -F key=su", "aarch64",
			"-a always,exit -F arch=b64 -S execve -F path=/usr/bin/su -F perm=x -F key=su\n"},
		{"path rule listed as watch", "-a always,exit -F path=/run/containerd -F perm=war -k docker", "x86_64",
			"-w /run/containerd -p rwa -k docker\n"},
		{"watch default perms", "-w /etc/docker", "x86_64", "-w /etc/docker -p rwxa\n"},
		{"watch exec only", "-w /usr/bin/docker -p x -k docker", "aarch64", "-w /usr/bin/docker -p x -k docker\n"},
		{"prepend", "-a always,exit -F arch=b64 -S execve -k a\n-A always,exit -F arch=b64 -S execveat -k b", "x86_64",
			"-a always,exit -F arch=b64 -S execveat -F key=b\n-a always,exit -F arch=b64 -S execve -F key=a\n"},
		{"kernel list order", "-a never,exclude -F msgtype=CWD\n-w /x\n-a always,task -F uid=0\n-a always,user -F uid=0", "x86_64",
			"-a always,user -F uid=0\n-a always,task -F uid=0\n-w /x -p rwxa\n-a never,exclude -F msgtype=CWD\n"},
		{"delete all", "-w /x\n-D\n-w /y", "x86_64", "-w /y -p rwxa\n"},
		{"delete by key", "-w /x -k docker\n-w /y -k other\n-D -k dock", "x86_64", "-w /y -p rwxa -k other\n"},
		{"raw spaces", `-w /a\ b -p w`, "x86_64", "-w /a b -p w\n"},
		{"arch not equal", "-a never,exit -F arch!=b64 -S all", "x86_64", "-a never,exit -F arch!=b64 -S all\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := List(mustParse(t, tc.in), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestListRefusesInvalid(t *testing.T) {
	if _, err := List(mustParse(t, "-a always,exit -S open"), "aarch64"); err == nil {
		t.Error("got no error for a syscall arm64 lacks")
	}
}
