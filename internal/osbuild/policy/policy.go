// Package policy installs Bulwark's own SELinux policy modules (CIL files
// from policies/selinux/) into the image's policy store at build time, with
// the tool root's semodule, so the image boots with them loaded and the
// labelling step already sees their file contexts. A module that does not
// compile fails the build with the compiler's message.
package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
)

// Priority is the module priority: above the distribution's 100, so a
// Bulwark module of the same name as a stock one replaces it.
const Priority = "400"

// Install compiles modules (host paths, already read by selinux.ParseFile
// when the build was validated) into policy's store in root, rebuilding the
// policy once for all of them.
func Install(ctx context.Context, tools, root, policy string, modules []string) error {
	if len(modules) == 0 {
		return nil
	}
	// semodule reads the modules inside the tool root's namespace: stage
	// them in the image tree (bound at the same path) and remove them after.
	stage := filepath.Join(root, "var/lib/bulwark/policy-stage")
	if err := os.MkdirAll(stage, 0o700); err != nil {
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

func names(paths []string) []string {
	n := make([]string, len(paths))
	for i, p := range paths {
		n[i] = filepath.Base(p)
	}
	return n
}
