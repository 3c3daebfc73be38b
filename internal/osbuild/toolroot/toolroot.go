// Package toolroot provides the native tool root: a small chroot of the
// image's own Debian suite, for the build host's architecture, from which
// the build runs semodule, setfiles, ukify and systemd-dissect natively.
//
// Two reasons. Speed: compiling the SELinux policy inside an arm64 rootfs
// runs semodule under qemu-user and took over five minutes; natively it
// takes seconds, and the compiled policy is the same on every arch. And
// fidelity: the host (Debian 12) has older tools that cannot read what the
// image's newer libraries write (setfiles and file_contexts.bin).
package toolroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/apt"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/runlog"
)

// Spec says which tool root to make.
type Spec struct {
	Arch    string            // Debian arch of the build host
	Release string            // the image's release, mmdebstrap's suite argument
	Pins    map[string]string // package → exact version, from the lock
	// Key identifies what is locked (versions and .deb hashes); the root
	// is cached under it.
	Key string
	// Repo returns a sources.list line for a repository that holds exactly
	// the pinned packages. It is only called when the root is assembled.
	Repo func(context.Context) (string, error)
}

func (s Spec) dir(cache cachedir.Dir) (string, error) {
	return filepath.Abs(cache.Tools(s.Arch, cachedir.Key(s.Arch, s.Release, s.Key)))
}

// Cached reports whether a complete tool root for s is in the cache.
func Cached(cache cachedir.Dir, s Spec) bool {
	dir, err := s.dir(cache)
	return err == nil && cachedir.Complete(dir)
}

// Ensure returns the tool root for s, assembling it with mmdebstrap into
// the cache unless a complete one is there already.
func Ensure(ctx context.Context, cache cachedir.Dir, s Spec, log func(string)) (string, error) {
	dir, err := s.dir(cache)
	if err != nil {
		return "", err
	}
	if cachedir.Complete(dir) {
		log("reusing tool root " + dir)
		return dir, nil
	}
	repo, err := s.Repo(ctx)
	if err != nil {
		return "", err
	}
	inc := apt.Pins(s.Pins)
	tmp, err := cachedir.Begin(dir)
	if err != nil {
		return "", err
	}
	log(fmt.Sprintf("assembling tool root (%d packages) in %s", len(inc), dir))
	err = runlog.Run(ctx, runlog.Cmd{Name: "mmdebstrap", Args: append(apt.MmdebstrapArgs("essential", s.Arch, inc), s.Release, tmp, repo), OnLine: func(l string) {
		if strings.HasPrefix(l, "I: ") && !strings.HasPrefix(l, "I: running") {
			log(strings.TrimPrefix(l, "I: "))
		}
	}})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("assembling the tool root: %w", err)
	}
	if err := cachedir.Finish(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Bind makes host path Src visible at Dst inside the tool root.
type Bind struct{ Src, Dst string }

// Command returns a runlog.Cmd that runs argv inside root with binds, in a
// private mount namespace (unshare), so the bind mounts vanish with the
// command even if it is killed. Host paths bound at the same path keep
// every argument valid inside and out.
func Command(root string, binds []Bind, argv ...string) runlog.Cmd {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	// The root must itself be a mount point: tools that make their own
	// mount namespaces (systemd-dissect) remount / and fail otherwise.
	fmt.Fprintf(&sb, "mount --bind %s %s\n", q(root), q(root))
	fmt.Fprintf(&sb, "mount -t tmpfs tmpfs %s\n", q(filepath.Join(root, "run")))
	all := append([]Bind{{"/dev", "/dev"}, {"/proc", "/proc"}}, binds...)
	for _, b := range all {
		dst := filepath.Join(root, b.Dst)
		fmt.Fprintf(&sb, "if [ -d %s ]; then mkdir -p %s; else mkdir -p %s; touch %s; fi\n", q(b.Src), q(dst), q(filepath.Dir(dst)), q(dst))
		fmt.Fprintf(&sb, "mount --rbind %s %s\n", q(b.Src), q(dst))
	}
	sb.WriteString("exec chroot " + q(root))
	for _, a := range argv {
		sb.WriteString(" " + q(a))
	}
	sb.WriteString("\n")
	return runlog.Cmd{Name: "unshare", Args: []string{"--mount", "--propagation", "private", "--", "sh", "-c", sb.String()},
		Env: []string{"LC_ALL=C.UTF-8", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
}

// Run runs argv inside root with binds.
func Run(ctx context.Context, root string, binds []Bind, argv ...string) error {
	return runlog.Run(ctx, Command(root, binds, argv...))
}

// RunEnv is Run with extra environment variables.
func RunEnv(ctx context.Context, root string, binds []Bind, env []string, argv ...string) error {
	c := Command(root, binds, argv...)
	c.Env = append(c.Env, env...)
	return runlog.Run(ctx, c)
}

// SemoduleCalls is where the image's diverted semodule records its calls.
const SemoduleCalls = "var/lib/bulwark/semodule.calls"

// SemoduleRecorder is installed in the image at /usr/sbin/semodule while
// packages install. Queries answer "nothing installed"; every other call is
// recorded (arguments separated by 0x1f, one call per line) for ReplaySemodule.
const SemoduleRecorder = `#!/bin/sh
# Installed by osbuild while packages install: policy changes are recorded
# and replayed natively from the tool root afterwards.
for a in "$@"; do
	case "$a" in -l|--list-modules*|-l*) exit 0 ;; esac
done
mkdir -p /var/lib/bulwark
for a in "$@"; do printf '%s' "$a"; done >> /` + SemoduleCalls + `
printf '
' >> /` + SemoduleCalls + `
`

// ReplaySemodule runs the semodule calls recorded in rootfs against it,
// natively, and removes the record. The policy modules are read from the
// rootfs's /usr/share/selinux, bound where the recorded paths expect them.
func ReplaySemodule(ctx context.Context, tools, rootfs string) (int, error) {
	rec := filepath.Join(rootfs, SemoduleCalls)
	b, err := os.ReadFile(rec)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		args := strings.Split(strings.TrimSuffix(line, "\x1f"), "\x1f")
		argv := append([]string{"semodule", "-p", rootfs}, args...)
		binds := []Bind{{rootfs, rootfs}, {filepath.Join(rootfs, "usr/share/selinux"), "/usr/share/selinux"}}
		if err := Run(ctx, tools, binds, argv...); err != nil {
			return n, fmt.Errorf("replaying semodule %s: %w", strings.Join(args, " "), err)
		}
		n++
	}
	return n, os.Remove(rec)
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
