package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/bulwark/bulwark/internal/atomicfile"
)

const (
	etcUnits = "/etc/systemd/system"
	usrUnits = "/usr/lib/systemd/system"
)

// applyUnits writes unit files and drop-ins and enables, disables or masks
// units the way `systemctl enable` would, with symlinks from the [Install]
// section (parsed with go-systemd), so no running systemd is needed.
func applyUnits(o Options, c *Config) ([]string, error) {
	var written []string
	if len(c.Units) > 0 {
		if err := os.MkdirAll(o.path(etcUnits), 0o755); err != nil {
			return nil, err
		}
	}
	for _, u := range c.Units {
		if u.Contents != nil {
			p := filepath.Join(etcUnits, u.Name)
			if err := atomicfile.WriteFile(o.path(p), []byte(*u.Contents), 0o644); err != nil {
				return nil, fmt.Errorf("writing unit %s: %w", u.Name, err)
			}
			written = append(written, p)
		}
		for _, d := range u.Dropins {
			dir := filepath.Join(etcUnits, u.Name+".d")
			if err := os.MkdirAll(o.path(dir), 0o755); err != nil {
				return nil, err
			}
			content := ""
			if d.Contents != nil {
				content = *d.Contents
			}
			p := filepath.Join(dir, d.Name)
			if err := atomicfile.WriteFile(o.path(p), []byte(content), 0o644); err != nil {
				return nil, fmt.Errorf("writing drop-in %s of %s: %w", d.Name, u.Name, err)
			}
			written = append(written, p)
		}
		switch {
		case u.Mask != nil && *u.Mask:
			p := filepath.Join(etcUnits, u.Name)
			if err := replaceSymlink(o.path(p), "/dev/null"); err != nil {
				return nil, fmt.Errorf("masking %s: %w", u.Name, err)
			}
			written = append(written, p)
		case u.Enabled != nil && *u.Enabled:
			links, err := enable(o, u.Name)
			if err != nil {
				return nil, err
			}
			written = append(written, links...)
		case u.Enabled != nil && !*u.Enabled:
			if err := disable(o, u.Name); err != nil {
				return nil, err
			}
		}
	}
	return written, nil
}

// unitPath finds the unit file that systemd would load for name.
func unitPath(o Options, name string) (string, error) {
	for _, dir := range []string{etcUnits, usrUnits} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(o.path(p)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("unit %s: no unit file in %s or %s", name, etcUnits, usrUnits)
}

func enable(o Options, name string) ([]string, error) {
	p, err := unitPath(o, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(o.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		return nil, fmt.Errorf("parsing unit %s: %w", name, err)
	}
	var links []string
	for _, op := range opts {
		if op.Section != "Install" {
			continue
		}
		var suffix string
		switch op.Name {
		case "WantedBy":
			suffix = ".wants"
		case "RequiredBy":
			suffix = ".requires"
		default:
			continue
		}
		for _, target := range strings.Fields(op.Value) {
			link := filepath.Join(etcUnits, target+suffix, name)
			if err := os.MkdirAll(o.path(filepath.Dir(link)), 0o755); err != nil {
				return nil, err
			}
			if err := replaceSymlink(o.path(link), p); err != nil {
				return nil, fmt.Errorf("enabling %s: %w", name, err)
			}
			links = append(links, link)
		}
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("enabling %s: its [Install] section has no WantedBy= or RequiredBy=", name)
	}
	return links, nil
}

func disable(o Options, name string) error {
	matches, _ := filepath.Glob(o.path(filepath.Join(etcUnits, "*", name)))
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if err := os.Remove(m); err != nil {
				return fmt.Errorf("disabling %s: %w", name, err)
			}
		}
	}
	return nil
}

func replaceSymlink(path, target string) error {
	tmp := path + ".nodecfg-tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
