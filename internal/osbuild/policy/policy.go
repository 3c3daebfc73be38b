// Package policy installs Bulwark's own SELinux policy modules (CIL files
// from policies/selinux/) into the image's policy store at build time, with
// the tool root's semodule, so the image boots with them loaded and the
// labelling step already sees their file contexts. A module that does not
// compile fails the build with the compiler's message.
//
// semodule rebuilds the whole policy (about 5 s, a third of a warm build),
// so what it writes is kept in the cache under a key of everything it
// reads; a build with the same store, modules and semodule restores it.
//
// The compiled policy is written at the binary version the image's kernel
// loads (KernelVersion), not at the newest one semodule knows: libselinux
// converts a newer file in PID 1 at every boot before anything else runs.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/osbuild/treedigest"
	"github.com/bulwark/bulwark/internal/runlog"
)

// Priority is the module priority: above the distribution's 100, so a
// Bulwark module of the same name as a stock one replaces it.
const Priority = "400"

// keep is how many cached policies per policy name stay after a new one is
// stored (the newest by last use): a few module edits back and forth.
const keep = 4

// written are the trees, relative to the image root, that semodule writes:
// the policy store and the compiled policy with its contexts. A cached
// policy is a copy of both.
func written(policy string) []string {
	return []string{filepath.Join("var/lib/selinux", policy), filepath.Join("etc/selinux", policy)}
}

// SemanageConf is libsemanage's configuration in the image: semodule run
// with -p reads the image's own, and so does any semodule run on the node.
const SemanageConf = "etc/selinux/semanage.conf"

// KernelVersion is the highest binary policy version a kernel release
// (uname -r, "6.12.118+deb13-amd64") loads. Kernels tell it at run time
// (/sys/fs/selinux/policyvers); the build has only the release, so this is
// the kernel's history: 34 (conditional extended permissions) since 6.13,
// 33 (compact filename transitions) in the kernels before it back to 5.10.
// Older kernels are refused rather than guessed at.
func KernelVersion(release string) (int, error) {
	var major, minor int
	parts := strings.SplitN(release, ".", 3)
	if len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	}
	switch v := major*1000 + minor; {
	case major == 0:
		return 0, fmt.Errorf("kernel release %q: not major.minor.patch", release)
	case v >= 6013:
		return 34, nil
	case v >= 5010:
		return 33, nil
	default:
		return 0, fmt.Errorf("kernel release %q: older than 5.10, its SELinux policy version is not known to Bulwark", release)
	}
}

// versionComment is written above the policy-version line.
const versionComment = "# Bulwark: the binary version the image's kernel loads, so PID 1 does not convert a newer one at every boot."

// setVersion makes semanage.conf in root ask for binary policy version
// vers, replacing any policy-version line the package shipped (or an
// earlier call wrote: the result depends on vers alone).
func setVersion(root string, vers int) error {
	p := filepath.Join(root, SemanageConf)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("setting the policy version: %w", err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if k, _, ok := strings.Cut(l, "="); (ok && strings.TrimSpace(k) == "policy-version") || l == versionComment {
			continue
		}
		out = append(out, l)
	}
	out = append(out, versionComment, "policy-version = "+strconv.Itoa(vers), "")
	return os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644)
}

// keepVersion removes every compiled policy file of policy in root but
// the one of version vers, and fails if that one is missing: libselinux
// loads the highest version it finds, converting it if the kernel needs.
func keepVersion(root, policy string, vers int) error {
	dir := filepath.Join(root, "etc/selinux", policy, "policy")
	files, err := filepath.Glob(filepath.Join(dir, "policy.*"))
	if err != nil {
		return err
	}
	want := filepath.Join(dir, "policy."+strconv.Itoa(vers))
	found := false
	for _, f := range files {
		if f == want {
			found = true
			continue
		}
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("semodule wrote no %s (asked for version %d in %s)", filepath.Join("/etc/selinux", policy, "policy", filepath.Base(want)), vers, "/"+SemanageConf)
	}
	return nil
}

// Install compiles modules (host paths, already read by selinux.ParseFile
// when the build was validated) into policy's store in root, rebuilding the
// policy once for all of them, as binary version vers (KernelVersion of the
// image's kernel). With cache set (a directory of cached policies), a
// policy compiled before from the same inputs is restored instead, and a
// new one is stored; reused says which happened.
func Install(ctx context.Context, tools, root, policy string, vers int, modules []string, cache string) (reused bool, err error) {
	if len(modules) == 0 {
		return false, nil
	}
	if err := setVersion(root, vers); err != nil {
		return false, err
	}
	var entry string
	if cache != "" {
		k, err := key(tools, root, policy, modules)
		if err != nil {
			return false, err
		}
		entry = filepath.Join(cache, policy+"-"+k)
		if cachedir.Complete(entry) {
			now := time.Now()
			os.Chtimes(entry, now, now) // best effort: only decides what pruning keeps
			if err := copyTrees(ctx, entry, root, policy); err != nil {
				return false, err
			}
			return true, keepVersion(root, policy, vers)
		}
	}
	if err := compile(ctx, tools, root, policy, modules); err != nil {
		return false, err
	}
	if err := keepVersion(root, policy, vers); err != nil {
		return false, err
	}
	if entry == "" {
		return false, nil
	}
	tmp, err := cachedir.Begin(entry)
	if err != nil {
		return false, err
	}
	if err := copyTrees(ctx, root, tmp, policy); err != nil {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("caching the compiled policy: %w", err)
	}
	if err := cachedir.Finish(tmp, entry); err != nil {
		return false, err
	}
	prune(cache, policy)
	return false, nil
}

// key names everything semodule's result depends on: the store and
// compiled policy it starts from, the policy sources the package shipped,
// the modules, the priority and the tool root (its directory name carries
// the tool root's own key, so another semodule is another key).
func key(tools, root, policy string, modules []string) (string, error) {
	lines := []string{"policy v2", "priority " + Priority, "tools " + filepath.Base(tools), "policy " + policy}
	conf, err := os.ReadFile(filepath.Join(root, SemanageConf))
	if err != nil {
		return "", fmt.Errorf("SELinux policy cache key: %w", err)
	}
	confSum := sha256.Sum256(conf)
	lines = append(lines, SemanageConf+" "+hex.EncodeToString(confSum[:]))
	for _, t := range append(written(policy), filepath.Join("usr/share/selinux", policy)) {
		d, err := treedigest.Digest(filepath.Join(root, t))
		if err != nil {
			return "", fmt.Errorf("SELinux policy cache key: %w", err)
		}
		lines = append(lines, t+" "+d)
	}
	for _, m := range modules {
		b, err := os.ReadFile(m)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, "module "+filepath.Base(m)+" "+hex.EncodeToString(sum[:]))
	}
	return cachedir.Key(lines...), nil
}

// compile runs semodule over the modules in the tool root.
func compile(ctx context.Context, tools, root, policy string, modules []string) error {
	// semodule reads the modules inside the tool root's namespace: stage
	// them in the image tree (bound at the same path), in a directory of
	// /tmp removed after, so the tree keeps no trace of them.
	stage, err := os.MkdirTemp(filepath.Join(root, "tmp"), "bulwark-policy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	argv := []string{"semodule", "-p", root, "-s", policy, "-X", Priority}
	for _, m := range modules {
		b, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		dst := filepath.Join(stage, filepath.Base(m))
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
		argv = append(argv, "-i", dst)
	}
	binds := []toolroot.Bind{{Src: root, Dst: root}, {Src: filepath.Join(root, "usr/share/selinux"), Dst: "/usr/share/selinux"}}
	if err := toolroot.Run(ctx, tools, binds, argv...); err != nil {
		return fmt.Errorf("compiling SELinux modules %s: %w", strings.Join(names(modules), ", "), err)
	}
	return nil
}

// copyTrees replaces the written trees under to with those under from,
// with cp -a: modes, owners, times and links as they were.
func copyTrees(ctx context.Context, from, to, policy string) error {
	for _, t := range written(policy) {
		dst := filepath.Join(to, t)
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := runlog.Output(ctx, "cp", "-a", filepath.Join(from, t), dst); err != nil {
			return fmt.Errorf("copying %s: %w", t, err)
		}
	}
	return nil
}

// prune removes all but the keep most recently used cached policies of
// policy. Best effort: a failure only leaves an entry behind.
func prune(cache, policy string) {
	entries, _ := filepath.Glob(filepath.Join(cache, policy+"-*"))
	type used struct {
		path string
		at   time.Time
	}
	var all []used
	for _, e := range entries {
		if fi, err := os.Stat(e); err == nil && !cachedir.IsPartial(e) {
			all = append(all, used{e, fi.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b used) int { return b.at.Compare(a.at) })
	for _, u := range all[min(keep, len(all)):] {
		os.RemoveAll(u.path)
	}
}

func names(paths []string) []string {
	n := make([]string, len(paths))
	for i, p := range paths {
		n[i] = filepath.Base(p)
	}
	return n
}
