package osbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/bulwark/bulwark/internal/audit"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/policy"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/seccomp"
	"github.com/bulwark/bulwark/internal/selinux"
)

// Where the security content lands in the image.
const (
	SeccompDir = "/usr/share/bulwark/seccomp"
	AuditRules = "/etc/audit/rules.d/bulwark.rules"
	// debianAuditRules is auditd's stock rules.d file (only -D, -b, -f and
	// a backlog wait); Bulwark's file sets all of them, so it is removed to
	// leave one source of rules.
	debianAuditRules = "/etc/audit/rules.d/audit.rules"
)

// security is the checked security content of a build, prepared in
// validate before anything is written.
type security struct {
	seccomp    map[string][]byte // file name → profile
	auditFiles []string
	audit      []audit.Rule // as augenrules merges them
	modules    []string     // CIL files
}

// prepareSecurity validates the spec's seccomp additions, audit rules and
// SELinux modules, so a broken data file fails the build before it starts.
func (b *build) prepareSecurity() error {
	sec := &security{}
	if d := b.spec.Seccomp.Policies; d != "" {
		out, err := seccomp.Generate(b.spec.SeccompDir())
		if err != nil {
			return fmt.Errorf("seccomp profiles from %s: %w", d, err)
		}
		sec.seccomp = out
	}
	if d := b.spec.Audit.Rules; d != "" {
		rules, files, err := audit.Load(b.arch.Name, b.spec.AuditDir())
		if err != nil {
			return err
		}
		sec.audit = rules
		if err := audit.Validate(sec.audit, b.arch.Name); err != nil {
			return err
		}
		sec.auditFiles = files
	}
	// The CIL modules are read here, not in the step, so a misspelt
	// statement fails the build before it writes anything.
	var cilErrs []error
	for _, m := range b.spec.SELinux.Modules {
		path := b.spec.SELinuxModule(m)
		if _, err := selinux.ParseFile(path); err != nil {
			cilErrs = append(cilErrs, err)
		}
		sec.modules = append(sec.modules, path)
	}
	if err := errors.Join(cilErrs...); err != nil {
		return fmt.Errorf("SELinux modules:\n%w", err)
	}
	inputs := append(slices.Clone(sec.auditFiles), sec.modules...)
	if sec.seccomp != nil {
		add, _ := filepath.Glob(filepath.Join(b.spec.SeccompDir(), "*"))
		inputs = append(inputs, add...)
	}
	for _, f := range inputs {
		d, err := manifest.FileDigest(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.spec.Dir, f)
		b.img.Inputs[rel] = d
	}
	b.sec = sec
	return nil
}

// stepSecurity installs the image's security content: Bulwark's SELinux
// modules (compiled into the image's policy, so the label step already uses
// their file contexts), the container seccomp profiles, and the audit rules,
// whose watched paths are checked against the finished tree.
func (b *build) stepSecurity(ctx context.Context, st *progress.Step) error {
	root := b.path("root")
	sec := b.sec
	dir := filepath.Join(root, SeccompDir)
	if len(sec.seccomp) > 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for name, data := range sec.seccomp {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("installing seccomp profile %s: %w", name, err)
		}
		st.Printf("seccomp profile %s (%d bytes)", filepath.Join(SeccompDir, name), len(data))
	}
	if sec.auditFiles != nil {
		if err := audit.Check(sec.audit, os.DirFS(root)); err != nil {
			return fmt.Errorf("audit rules against the image: %w", err)
		}
		body, err := audit.Render(sec.auditFiles)
		if err != nil {
			return err
		}
		os.Remove(filepath.Join(root, debianAuditRules))
		if err := os.WriteFile(filepath.Join(root, AuditRules), body, 0o640); err != nil {
			return fmt.Errorf("installing audit rules: %w", err)
		}
		st.Printf("audit rules %s (%d rules from %d files)", AuditRules, len(sec.audit), len(sec.auditFiles))
	}
	vers, err := policy.KernelVersion(b.img.Kernel)
	if err != nil {
		return err
	}
	st.Printf("compiling %d SELinux modules into policy %q (binary version %d, kernel %s)", len(sec.modules), b.spec.SELinux.Policy, vers, b.img.Kernel)
	reused, err := policy.Install(ctx, b.tools, root, b.spec.SELinux.Policy, vers, sec.modules, b.cache().Policies())
	if err != nil {
		return err
	}
	how := "compiled"
	if reused {
		how = "reused from the cache"
	}
	st.Done("%d seccomp profiles, %d audit rules, %d SELinux modules (policy %s)", len(sec.seccomp), len(sec.audit), len(sec.modules), how)
	return nil
}
