package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/bulwark/bulwark/internal/atomicfile"
)

// RecordPath is where a successful apply is recorded, relative to the root.
const RecordPath = "/var/lib/bulwark/nodecfg/applied.json"

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

// Apply writes c under o.Root. It returns (false, nil) when this config was
// already applied. Writes are atomic; the record is written last, so a crash
// mid-way leaves no half-written file and the next boot redoes the job.
func Apply(ctx context.Context, c *Config, o Options) (bool, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	rec := o.path(RecordPath)
	if b, err := os.ReadFile(rec); err == nil {
		var r Record
		if json.Unmarshal(b, &r) == nil && r.Digest == c.Digest {
			o.Log("config %s already applied on %s from %s: nothing to do", c.Digest, r.Applied.Format(time.RFC3339), r.Source)
			return false, nil
		}
		return false, fmt.Errorf("%w (%s from %s); remove %s to re-apply", ErrAlreadyApplied, string(b), o.Source, RecordPath)
	}
	var written []string
	for _, d := range c.Dirs {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p := o.path(d.Path)
		if err := os.MkdirAll(p, d.Mode); err != nil {
			return false, fmt.Errorf("creating directory %s: %w", d.Path, err)
		}
		if err := setAttrs(p, d.Mode, d.UID, d.GID); err != nil {
			return false, err
		}
		written = append(written, d.Path)
	}
	for _, f := range c.Files {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p := o.path(f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, fmt.Errorf("creating parent of %s: %w", f.Path, err)
		}
		if err := atomicfile.WriteFileOwned(p, f.Data, f.Mode, f.UID, f.GID); err != nil {
			return false, fmt.Errorf("writing %s: %w", f.Path, err)
		}
		o.Log("wrote %s (%04o, %d bytes)", f.Path, f.Mode, len(f.Data))
		written = append(written, f.Path)
	}
	for _, l := range c.Links {
		p := o.path(l.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
		tmp := p + ".nodecfg-tmp"
		os.Remove(tmp)
		var err error
		if l.Hard {
			err = os.Link(o.path(l.Target), tmp)
		} else {
			err = os.Symlink(l.Target, tmp)
		}
		if err == nil {
			err = os.Rename(tmp, p)
		}
		if err != nil {
			return false, fmt.Errorf("linking %s: %w", l.Path, err)
		}
		written = append(written, l.Path)
	}
	if err := applyGroups(o, c); err != nil {
		return false, err
	}
	paths, err := applyUsers(o, c)
	if err != nil {
		return false, err
	}
	written = append(written, paths...)
	paths, err = applyUnits(o, c)
	if err != nil {
		return false, err
	}
	written = append(written, paths...)
	if o.Relabel != nil {
		if err := o.Relabel(ctx, written); err != nil {
			return false, fmt.Errorf("labelling written files: %w", err)
		}
	}
	if o.SetHostname != nil {
		if h := c.file("/etc/hostname"); h != nil {
			name := strings.TrimSpace(string(h.Data))
			if err := o.SetHostname(name); err != nil {
				return false, fmt.Errorf("setting the running hostname to %q: %w", name, err)
			}
			o.Log("hostname is %s", name)
		}
	}
	b, _ := json.MarshalIndent(Record{Digest: c.Digest, Source: o.Source, Applied: time.Now().UTC(), Weakened: c.Weakened}, "", "  ")
	if err := os.MkdirAll(filepath.Dir(rec), 0o755); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(rec, append(b, '\n'), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

func (o Options) path(p string) string { return filepath.Join(o.Root, p) }

func setAttrs(p string, mode fs.FileMode, uid, gid int) error {
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return os.Lchown(p, uid, gid)
	}
	return nil
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
	f := c.file("/etc/docker/daemon.json")
	dockerd := filepath.Join(root, "usr/sbin/dockerd")
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
