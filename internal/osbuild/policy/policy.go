// Package policy installs Bulwark's own SELinux policy modules (CIL files
// from policies/selinux/) into the image's policy store at build time, with
// the tool root's semodule, so the image boots with them loaded and the
// labelling step already sees their file contexts. A module that does not
// compile fails the build with the compiler's message.
//
// semodule rebuilds the whole policy (about 5 s, a third of a warm build),
// so what it writes is kept in the cache under a key of everything it
// reads; a build with the same store, modules and semodule restores it.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// Install compiles modules (host paths, already read by selinux.ParseFile
// when the build was validated) into policy's store in root, rebuilding the
// policy once for all of them. With cache set (a directory of cached
// policies), a policy compiled before from the same inputs is restored
// instead, and a new one is stored; reused says which happened.
func Install(ctx context.Context, tools, root, policy string, modules []string, cache string) (reused bool, err error) {
	if len(modules) == 0 {
		return false, nil
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
			return true, copyTrees(ctx, entry, root, policy)
		}
	}
	if err := compile(ctx, tools, root, policy, modules); err != nil {
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
	lines := []string{"policy v1", "priority " + Priority, "tools " + filepath.Base(tools), "policy " + policy}
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
