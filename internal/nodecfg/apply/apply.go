package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/bulwark/bulwark/internal/nodepaths"
)

// RecordPath is where a successful apply is recorded, relative to the root.
const RecordPath = nodepaths.Record

// Record says which config was applied, from where and when.
type Record struct {
	Digest  string    `json:"digest"`
	Source  string    `json:"source"`
	Applied time.Time `json:"applied"`
	// Weakened names the docker floor keys the node spec weakened.
	Weakened []string `json:"weakened,omitempty"`
}

// Options configure one apply.
type Options struct {
	Root   string // "/" on a node; a temp dir in tests
	Source string // where the config came from, for the record and messages
	// Relabel, if set, gives written paths their SELinux labels (the node
	// runs restorecon); nil when the root is not a running SELinux system.
	Relabel func(ctx context.Context, paths []string) error
	// SetHostname, if set, makes the config's /etc/hostname the running
	// hostname: PID 1 read /etc/hostname before first boot wrote it, and
	// the node must not run under the image's name until a reboot.
	SetHostname func(string) error
	Log         func(format string, args ...any)
}

// ErrAlreadyApplied means a different config was applied on an earlier
// boot: Ignition semantics are first boot only, so nodecfg will not change
// a configured node behind its operator's back.
var ErrAlreadyApplied = errors.New("a different config was already applied")

// Apply writes c under o.Root, all or nothing. It returns (false, nil)
// when this config was already applied. Every path is resolved inside the
// root (its links followed as the node will follow them, never out of
// it). First the whole apply is planned against the root and checked,
// writing nothing; then every file and link is staged beside its final
// name; then all are renamed into place, labelled, the hostname set, and
// the record written last. A failure at any step undoes the steps before
// it, so the node is left as it was; a crash during the renames leaves no
// record, and the next boot redoes the whole apply.
func Apply(ctx context.Context, c *Config, o Options) (bool, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	r, err := newResolver(o.Root)
	if err != nil {
		return false, err
	}
	rec, err := r.real(RecordPath)
	if err != nil {
		return false, err
	}
	if b, err := os.ReadFile(r.host(rec)); err == nil {
		var old Record
		if json.Unmarshal(b, &old) == nil && old.Digest == c.Digest {
			o.Log("config %s already applied on %s from %s: nothing to do", c.Digest, old.Applied.Format(time.RFC3339), old.Source)
			return false, nil
		}
		return false, fmt.Errorf("%w (%s from %s); remove %s to re-apply", ErrAlreadyApplied, string(b), o.Source, RecordPath)
	}
	b, _ := json.MarshalIndent(Record{Digest: c.Digest, Source: o.Source, Applied: time.Now().UTC(), Weakened: c.Weakened}, "", "  ")
	p, err := makePlan(c, o, r, append(b, '\n'))
	if err != nil {
		return false, fmt.Errorf("config not applied, nothing written:\n%w", err)
	}
	t, err := openTxn(r)
	if err != nil {
		return false, err
	}
	defer t.close()
	if err := p.run(ctx, t, c, o); err != nil {
		return false, err
	}
	return true, nil
}

// run stages, commits and records p; on any error it undoes what it did.
func (p *plan) run(ctx context.Context, t *txn, c *Config, o Options) error {
	all := append(append([]*op{}, p.ops...), p.record)
	files := map[string]*op{}
	for _, x := range all {
		if err := t.stage(ctx, x, files); err != nil {
			return p.abort(t, all, fmt.Errorf("staging %s: %w", x, err), nil)
		}
		if x.kind == opFile {
			files[x.real] = x
		}
	}
	if err := ctx.Err(); err != nil {
		return p.abort(t, all, err, nil)
	}
	for _, x := range p.ops {
		if err := t.commit(x); err != nil {
			return p.abort(t, all, err, nil)
		}
		logOp(o, x)
	}
	if err := t.sync(); err != nil {
		return p.abort(t, all, err, nil)
	}
	if o.Relabel != nil {
		if err := o.Relabel(ctx, p.relabelPaths()); err != nil {
			return p.abort(t, all, fmt.Errorf("labelling written files: %w", err), nil)
		}
	}
	var undoHostname func()
	if h := c.file("/etc/hostname"); h != nil && o.SetHostname != nil {
		name := strings.TrimSpace(string(h.Data))
		prev, _ := os.Hostname()
		if err := o.SetHostname(name); err != nil {
			return p.abort(t, all, fmt.Errorf("setting the running hostname to %q: %w", name, err), nil)
		}
		undoHostname = func() { o.SetHostname(prev) }
		o.Log("hostname is %s", name)
	}
	if err := t.commit(p.record); err != nil {
		return p.abort(t, all, err, undoHostname)
	}
	if err := t.sync(); err != nil {
		return p.abort(t, all, err, undoHostname)
	}
	// Applied. What is left is the old files kept for a rollback, under
	// hidden names; failing to remove one does not undo the apply.
	if err := t.discard(all, false); err != nil {
		o.Log("warning: %v", err)
	}
	return nil
}

// abort undoes every committed op, newest first, and removes what was
// staged and the directories made.
func (p *plan) abort(t *txn, all []*op, cause error, undoHostname func()) error {
	var errs []error
	if undoHostname != nil {
		undoHostname()
	}
	for i := len(all) - 1; i >= 0; i-- {
		if err := t.undo(all[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := t.discard(all, true); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; undoing it failed too, the node may be half-configured: %w", cause, errors.Join(errs...))
	}
	return fmt.Errorf("%w; nothing was changed (every step undone)", cause)
}

func logOp(o Options, x *op) {
	switch x.kind {
	case opFile:
		o.Log("wrote %s (%04o, %d bytes)", x.real, x.mode, len(x.data))
	case opSymlink:
		o.Log("linked %s -> %s", x.real, x.target)
	case opHardlink:
		o.Log("hard-linked %s to %s", x.real, x.target)
	case opRemove:
		o.Log("removed %s", x.real)
	case opDir:
		o.Log("directory %s (%04o)", x.real, x.mode)
	}
}

// Restorecon labels paths (relative to "/") with the running policy.
func Restorecon(ctx context.Context, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	args := append([]string{"-F"}, paths...)
	out, err := exec.CommandContext(ctx, "restorecon", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("restorecon: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DockerdValidate runs `dockerd --validate` on the config's daemon.json,
// when the config has one and dockerd is installed under root: dockerd's
// own reading of it, before anything is written. dockerd also loads the TLS
// files daemon.json names, so those are staged from the config into a temp
// directory and the copy's paths pointed there. ok is false when it did not
// run.
func DockerdValidate(ctx context.Context, c *Config, root string) (ok bool, err error) {
	f := c.file(nodepaths.DaemonJSON)
	dockerd := filepath.Join(root, nodepaths.Dockerd)
	if f == nil || root != "/" {
		return false, nil
	}
	if _, err := os.Stat(dockerd); err != nil {
		return false, nil
	}
	var d map[string]any
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return true, err
	}
	dir, err := os.MkdirTemp("", "nodecfg-validate-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	for _, key := range []string{"tlscacert", "tlscert", "tlskey"} {
		p, _ := d[key].(string)
		tf := c.file(p)
		if tf == nil {
			continue
		}
		staged := filepath.Join(dir, key+".pem")
		if err := os.WriteFile(staged, tf.Data, 0o600); err != nil {
			return false, err
		}
		d[key] = staged
	}
	b, _ := json.Marshal(d)
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		return false, err
	}
	if err := labelLike(dir, filepath.Join(root, "etc/docker")); err != nil {
		return false, err
	}
	out, err := exec.CommandContext(ctx, dockerd, "--validate", "--config-file", cfg).CombinedOutput()
	if err != nil {
		return true, fmt.Errorf("dockerd --validate rejects /etc/docker/daemon.json: %s", strings.TrimSpace(string(out)))
	}
	return true, nil
}

// labelLike gives dir and what it holds the SELinux label of model, when
// SELinux is on. The staged copies stand in for files that will live in
// model, and dockerd (dockerd_t) may read those; the temporary directory's
// own label depends on whether /tmp is mounted yet this early in boot
// (initrc_tmp_t or initrc_runtime_t), and dockerd may read neither.
func labelLike(dir, model string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	lbl, err := selinux.FileLabel(model)
	if err != nil || lbl == "" {
		return nil // no model to copy: leave the default label
	}
	if err := selinux.Chcon(dir, lbl, true); err != nil {
		return fmt.Errorf("labelling the staged daemon.json like %s: %w", model, err)
	}
	return nil
}
