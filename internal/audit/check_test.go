package audit

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// image is a small merged-/usr tree with the shapes Check has to handle.
var image = fstest.MapFS{
	"usr/bin/docker":      {Mode: 0o755},
	"usr/sbin/runc":       {Mode: 0o755},
	"usr/bin/runc":        {Data: []byte("../sbin/runc"), Mode: fs.ModeSymlink | 0o777},
	"usr/bin/abs":         {Data: []byte("/usr/sbin/runc"), Mode: fs.ModeSymlink | 0o777},
	"bin":                 {Data: []byte("usr/bin"), Mode: fs.ModeSymlink | 0o777},
	"etc/docker":          {Mode: fs.ModeDir | 0o755},
	"etc/hostname":        {Mode: 0o644},
	"var/lib":             {Mode: fs.ModeDir | 0o755},
	"var/run":             {Data: []byte("/run"), Mode: fs.ModeSymlink | 0o777},
	"run/lock":            {Mode: fs.ModeDir | 0o755},
	"loop/a":              {Data: []byte("b"), Mode: fs.ModeSymlink | 0o777},
	"loop/b":              {Data: []byte("a"), Mode: fs.ModeSymlink | 0o777},
	"usr/lib/os-release":  {Mode: 0o644},
	"usr/lib/systemd/x.d": {Mode: fs.ModeDir | 0o755},
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"file", "-w /usr/bin/docker -p x", ""},
		{"directory", "-w /etc/docker", ""},
		{"through a directory symlink", "-w /bin/docker", ""},
		{"symlink", "-w /usr/bin/runc", "symlink to ../sbin/runc in the image; the kernel would watch the link, not the file, so watch /usr/sbin/runc"},
		{"absolute symlink", "-w /usr/bin/abs", "so watch /usr/sbin/runc"},
		{"missing", "-w /usr/bin/dockerd", "/usr/bin/dockerd does not exist in the image (mark it with #bulwark:runtime"},
		{"runtime", "#bulwark:runtime\n-w /var/lib/docker", ""},
		{"runtime without parent", "#bulwark:runtime\n-w /var/lib/none/docker", "/var/lib/none does not exist in the image or at boot"},
		{"runtime but present", "#bulwark:runtime\n-w /etc/docker", "exists in the image; remove its #bulwark:runtime"},
		{"under /run", "-w /run/containerd", ""},
		{"under /var/run", "-w /var/run/docker.sock", ""},
		{"below a runtime directory", "-w /run/containerd/containerd.sock", "/run/containerd does not exist in the image or at boot"},
		{"path rule under /run", "-a always,exit -F path=/run/containerd -F perm=war -k docker", ""},
		{"path rule missing", "-a always,exit -F path=/etc/nothere -F perm=w", "does not exist in the image"},
		{"dir rule", "-a always,exit -F dir=/etc/docker -F perm=w", ""},
		{"dir rule missing", "#bulwark:runtime\n-a always,exit -F dir=/var/lib/docker -F perm=w", "refuses a dir rule for a missing directory"},
		{"not a directory", "-w /etc/hostname/x", "/etc/hostname is not a directory"},
		{"symlink loop", "-w /loop/a/x", "too many levels of symbolic links"},
		{"no paths", "-a always,exit -F arch=b64 -S execve -k x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(mustParse(t, tc.in), image)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckReportsAll(t *testing.T) {
	err := Check(mustParse(t, "-w /usr/bin/runc\n-w /etc/docker\n-w /nope\n"), image)
	if err == nil || !strings.Contains(err.Error(), "t.rules:1: ") || !strings.Contains(err.Error(), "t.rules:3: ") {
		t.Errorf("got %v, want problems at lines 1 and 3", err)
	}
}
