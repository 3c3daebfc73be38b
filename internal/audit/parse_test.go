package audit

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s\nwant:\n%s", path, got, want)
	}
}

func mustParse(t *testing.T, src string) []Rule {
	t.Helper()
	rules, err := Parse("t.rules", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return rules
}

func TestParseGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/syntax.rules")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Parse("syntax.rules", src)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("## String()\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "%d %s: %s\n", r.Line, r.Kind, r)
	}
	for _, target := range []string{"x86_64", "aarch64"} {
		out, err := List(rules, target)
		if err != nil {
			t.Fatalf("List(%s): %v", target, err)
		}
		fmt.Fprintf(&b, "## auditctl -l on %s\n%s", target, out)
	}
	golden(t, "syntax.golden", b.String())
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"watch trailing slash", "-w /etc/docker/ -k docker", "-w /etc/docker -p rwxa -k docker"},
		{"watch perms after key, upper case", "-w /etc/docker -k docker -p WA", "-w /etc/docker -p wa -k docker"},
		{"attached values", "-w/etc/x -kfoo -prx", "-w /etc/x -p rx -k foo"},
		{"leading spaces", "   -w /x  -p  x", "-w /x -p x"},
		{"escaped space", `-w /var/log/a\ b -p w`, `-w /var/log/a\ b -p w`},
		{"escaped backslash", `-w /var/log/a\\b -p w`, `-w /var/log/a\\b -p w`},
		{"key via -F on watch", "-w /x -F key=k", "-w /x -p rwxa -k k"},
		{"list,action reversed", "-a exit,always -F arch=b64 -S execve -F euid=0 -k rootcmd",
			"-a always,exit -F arch=b64 -S execve -F euid=0 -F key=rootcmd"},
		{"arch name and duplicate syscalls", "-a always,exit -F arch=x86_64 -S execve,execve -S execveat",
			"-a always,exit -F arch=b64 -S execve,execveat"},
		{"all wins", "-a always,exit -F arch=b32 -S execve -S all,open -F key=a", "-a always,exit -F arch=b32 -S all -F key=a"},
		{"arch after fields, printed first", "-a always,exit -F auid>=1000 -F arch=b64 -S execve",
			"-a always,exit -F arch=b64 -S execve -F auid>=1000"},
		{"uids", "-a always,exit -F arch=b64 -S execve -F auid!=4294967295 -F loginuid!=unset -F uid=0x10 -F euid=-2",
			"-a always,exit -F arch=b64 -S execve -F auid!=-1 -F auid!=-1 -F uid=16 -F euid=-2"},
		{"args in hex", "-a always,exit -F arch=b64 -S execve -F a0=16 -F a1=-1 -F a2&010",
			"-a always,exit -F arch=b64 -S execve -F a0=0x10 -F a1=0xFFFFFFFF -F a2&0x8"},
		{"exit codes", "-a always,exit -F arch=b64 -S openat -F exit=-13 -F exit!=EPERM -F exit=-EACCES",
			"-a always,exit -F arch=b64 -S openat -F exit=-EACCES -F exit!=1 -F exit=-EACCES"},
		{"comparison normalized", "-a always,exit -F arch=b64 -S execve -C obj_uid!=loginuid",
			"-a always,exit -F arch=b64 -S execve -C auid!=obj_uid"},
		{"no -S is all", "-a always,exit -F filetype=dir -F dir=/etc -F perm=r -k etc",
			"-a always,exit -S all -F filetype=dir -F dir=/etc -F perm=r -F key=etc"},
		{"perm after arch adds syscalls per arch", "-a always,exit -F arch=b64 -F perm=x -F path=/usr/bin/su -k su",
			"-a always,exit -F arch=b64 -F perm=x -F path=/usr/bin/su -F key=su"},
		{"exclude prepend", "-A never,exclude -F msgtype=EOE", "-A never,exclude -F msgtype=EOE"},
		{"filesystem magic", "-a always,filesystem -F fstype=0x74726163", "-a always,filesystem -F fstype=tracefs"},
		{"exe makes a key legal", "-a always,exit -F exe=/usr/bin/ping -k ping", "-a always,exit -S all -F exe=/usr/bin/ping -F key=ping"},
		{"task list", "-a always,task -F uid=0", "-a always,task -F uid=0"},
		{"backlog octal", "--backlog_wait_time 010", "--backlog_wait_time 8"},
		{"backlog with =", "--backlog_wait_time=60000", "--backlog_wait_time 60000"},
		{"rate", "-r 0x10", "-r 16"},
		{"delete by key", "-D -k docker", "-D -k docker"},
		{"immutable", "-e 2", "-e 2"},
		{"flags", "--loginuid-immutable", "--loginuid-immutable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := mustParse(t, tc.in)
			if len(rules) != 1 {
				t.Fatalf("got %d rules, want 1", len(rules))
			}
			if got := rules[0].String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			again := mustParse(t, rules[0].String())
			if got := again[0].String(); got != tc.want {
				t.Errorf("String does not read back: got %s", got)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"relative watch", "-w etc/x", "not absolute"},
		{"bad perm", "-w /etc/x -p rwz", `permission 'z'`},
		{"long perm", "-w /etc/x -p rwxaa", "longer than 4"},
		{"unknown field", "-a always,exit -F arch=b64 -S execve -F bogus=1", `unknown field "bogus"`},
		{"no operator", "-a always,exit -F euid", "no operator"},
		{"no value", "-a always,exit -F euid=", "missing value"},
		{"no name", "-a always,exit -F =1", "missing field name"},
		{"bad action", "-a sometimes,exit", "no action"},
		{"entry list", "-a always,entry", "entry list is gone"},
		{"unknown list", "-a always,sideways", `unknown list "sideways"`},
		{"possible", "-a possible,exit", "deprecated"},
		{"three parts", "-a always,exit,task", "LIST,ACTION"},
		{"io_uring", "-a always,io_uring -S openat", "io_uring"},
		{"syscall on exclude", "-a always,exclude -S open", "-S cannot be used on the exclude list"},
		{"syscall on user", "-a always,user -S open", "-S cannot be used on the user list"},
		{"syscall on task", "-a always,task -S open", "-S cannot be used on the task list"},
		{"long key", "-w /etc/x -k " + strings.Repeat("k", 32), "at most 31"},
		{"keys too long together", "-w /etc/x" + strings.Repeat(" -k "+strings.Repeat("k", 31), 9), "exceed 256"},
		{"key first", "-k foo", "-k needs"},
		{"key before syscall", "-a always,exit -k foo -S execve", "-k needs"},
		{"key without syscall", "-a always,exit -F euid=0 -k x", "-k needs"},
		{"F key without syscall", "-a always,exit -F euid=0 -F key=x", "-F key needs"},
		{"watch with syscall", "-w /etc/x -S open", "-S cannot be combined with -w"},
		{"arch after syscall", "-a always,exit -S execve -F arch=b64", "before -S"},
		{"two arches", "-a always,exit -F arch=b64 -F arch=b32 -S execve", "only one -F arch"},
		{"unknown arch", "-a always,exit -F arch=sparc -S execve", `unknown architecture "sparc"`},
		{"missing value", "-b", "-b needs a value"},
		{"bad number", "-b many", "needs a number"},
		{"trailing garbage", "-b 8192k", "needs a number"},
		{"bad failure mode", "-f 3", "must be 0, 1 or 2"},
		{"two controls", "-e 1 -b 2", "must be alone"},
		{"control after rule", "-w /x -e 1", "-e cannot be combined"},
		{"list request", "-l", "not a rules-file option"},
		{"delete rule", "-d always,exit -S open", "not a rules-file option"},
		{"unknown short", "-z", "unknown option -z"},
		{"abbreviated long", "--backlog 5", "unknown option --backlog"},
		{"flag with value", "--loginuid-immutable=1", "takes no value"},
		{"bare word", "foo", `word "foo"`},
		{"trailing comment", "-w /etc/x # watch it", `word "#"`},
		{"tab", "-w\t/etc/x", "tab character"},
		{"carriage return", "-w /etc/x\r", "carriage return"},
		{"user name", "-a always,exit -F arch=b64 -S execve -F euid=root", "numeric uid"},
		{"group name", "-a always,exit -F arch=b64 -S execve -F gid=wheel", "numeric gid"},
		{"arg not a number", "-a always,exit -F arch=b64 -S execve -F a0=foo", "not a number"},
		{"unclean path", "-a always,exit -F path=/a/../b -F perm=x", "not clean"},
		{"double slash", "-w /etc//x", "not clean"},
		{"wildcard", "-w /tmp/*", "wildcard"},
		{"root watch", "-w /", "root directory"},
		{"path trailing slash", "-a always,exit -F dir=/etc/ -F perm=w", "ends in a slash"},
		{"path and dir", "-a always,exit -F path=/x -F dir=/y", "only one -F path or -F dir"},
		{"path op", "-a always,exit -F path!=/x", "operator != is not allowed"},
		{"bit op on uid", "-a always,exit -F arch=b64 -S execve -F euid&0", "operator & is not allowed"},
		{"incomparable", "-a always,exit -C auid=pid", "cannot be compared"},
		{"compare on task", "-a always,task -C auid!=obj_uid", "only allowed on the exit list"},
		{"msgtype on exit", "-a always,exit -F msgtype=EXECVE", "not allowed on the exit list"},
		{"fstype on exit", "-a always,exit -F fstype=debugfs", "not allowed on the exit list"},
		{"field on filesystem list", "-a always,filesystem -F uid=0", "takes only fstype"},
		{"bad errno", "-a always,exit -F exit=-EBOGUS", "errno name"},
		{"bad file type", "-a always,exit -F filetype=pipe", "unknown file type"},
		{"bad syscall name", "-a always,exit -F arch=b64 -S exec-ve", "not a system call name"},
		{"empty syscall", "-a always,exit -F arch=b64 -S execve,", "not a system call name"},
		{"syscall without list", "-S execve", "-S needs -a"},
		{"field without list", "-F arch=b64", "-F needs -a"},
		{"two lists", "-a always,exit -a never,exit", "only one -a"},
		{"two watches", "-w /a -w /b", "only one -w"},
		{"list then watch", "-a always,exit -w /x", "-w cannot be combined with -a"},
		{"watch then list", "-w /x -a always,exit", "-a cannot be combined with -w"},
		{"watch with field", "-w /x -F euid=0", "takes only -p and -k"},
		{"perm on syscall rule", "-a always,exit -S all -p w", "-p needs a -w"},
		{"unknown directive", "#bulwark:later\n-w /x", "unknown directive #bulwark:later"},
		{"directive gap", "#bulwark:runtime\n\n-w /x", "right before its watch"},
		{"directive on syscall", "#bulwark:runtime\n-a always,exit -F arch=b64 -S execve", "must be followed by a watch"},
		{"directive at end", "-w /x\n#bulwark:runtime\n", "marks nothing"},
		{"long line", "-w /" + strings.Repeat("x", lineSize), "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.rules", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseReportsEveryLine(t *testing.T) {
	src := "-w /ok -k a\n-w rel\n# fine\n-b x\n-a always,exit -F arch=b64 -S execve -k b\n-f 9\n"
	rules, err := Parse("f.rules", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s:%d", e.File, e.Line))
	}
	if want := "f.rules:2 f.rules:4 f.rules:6"; strings.Join(got, " ") != want {
		t.Errorf("got problems at %v, want %s\n%v", got, want, err)
	}
	if len(rules) != 2 || rules[0].Line != 1 || rules[1].Line != 5 {
		t.Errorf("got rules %+v, want the good lines 1 and 5", rules)
	}
	if !strings.HasPrefix(err.Error(), "f.rules:2: -w: path \"rel\" is not absolute\n") {
		t.Errorf("got message %q, want file:line: message", err.Error())
	}
}

func TestParseRuntimeDirective(t *testing.T) {
	rules := mustParse(t, "#bulwark:runtime created by dockerd\n-w /var/lib/docker -k docker\n-w /etc/docker\n")
	if !rules[0].Runtime || rules[1].Runtime {
		t.Errorf("got Runtime %v, %v, want true, false", rules[0].Runtime, rules[1].Runtime)
	}
}
