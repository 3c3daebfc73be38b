package apply

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/coreos/ignition/v2/config/util"

	"github.com/bulwark/bulwark/internal/fielderr"
)

const etcUnits = "/etc/systemd/system"

// unitDirs are where systemd loads system units from, in its order, as
// far as first boot can see them (/run is empty then).
var unitDirs = []string{etcUnits, "/usr/lib/systemd/system", "/lib/systemd/system"}

var (
	unitRe   = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$`)
	dropinRe = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+\.conf$`)
)

// checkUnitName refuses what is not a systemd unit name: names become
// file names in /etc/systemd/system, so no '/' and nothing hidden.
func checkUnitName(name string) error {
	if len(name) > 255 || strings.HasPrefix(name, ".") || !unitRe.MatchString(name) {
		return fmt.Errorf("%q is not a systemd unit name", name)
	}
	return nil
}

// install is a unit's [Install] section, the part `systemctl enable` reads.
type install struct {
	links map[string][]string // WantedBy, RequiredBy, UpheldBy, Alias → values
	also  []string
}

// parseInstall parses unit contents with go-systemd and returns its
// [Install] section, checking the names in it.
func parseInstall(contents []byte) (install, error) {
	opts, err := unit.DeserializeOptions(bytes.NewReader(contents))
	if err != nil {
		return install{}, err
	}
	in := install{links: map[string][]string{}}
	for _, o := range opts {
		if o.Section != "Install" {
			continue
		}
		for _, v := range strings.Fields(o.Value) {
			switch o.Name {
			case "WantedBy", "RequiredBy", "UpheldBy", "Alias":
				in.links[o.Name] = append(in.links[o.Name], v)
			case "Also":
				in.also = append(in.also, v)
			default:
				continue
			}
			if err := checkUnitName(v); err != nil {
				return install{}, fmt.Errorf("[Install] %s=: %w", o.Name, err)
			}
		}
	}
	return in, nil
}

func (in install) empty() bool { return len(in.links) == 0 && len(in.also) == 0 }

// checkUnits parses every unit and drop-in the config gives and refuses
// an enabled unit whose [Install] section would enable nothing: with
// Ignition that failed only after other files were written.
func (c *Config) checkUnits(errs *fielderr.List) {
	for i, u := range c.Units {
		p := fmt.Sprintf("$.systemd.units.%d", i)
		if err := checkUnitName(u.Name); err != nil {
			errs.Add(0, p+".name", "%v", err)
			continue
		}
		if util.IsTrue(u.Mask) && (u.Contents != nil || util.IsTrue(u.Enabled)) {
			errs.Add(0, p+".mask", "a masked unit cannot also have contents or be enabled")
		}
		if u.Contents != nil {
			in, err := parseInstall([]byte(*u.Contents))
			switch {
			case err != nil:
				errs.Add(0, p+".contents", "%s: %v", u.Name, err)
			case util.IsTrue(u.Enabled) && in.empty():
				errs.Add(0, p+".contents", "%s is to be enabled but has no [Install] section with WantedBy=, RequiredBy=, UpheldBy=, Alias= or Also=", u.Name)
			}
		}
		if util.IsTrue(u.Enabled) && strings.Contains(u.Name, "@.") {
			errs.Add(0, p+".enabled", "%s is a template: enable an instance of it (name@instance.%s)", u.Name, path.Ext(u.Name)[1:])
		}
		for j, d := range u.Dropins {
			dp := fmt.Sprintf("%s.dropins.%d", p, j)
			if strings.HasPrefix(d.Name, ".") || !dropinRe.MatchString(d.Name) {
				errs.Add(0, dp+".name", "%q must be a file name ending in .conf", d.Name)
			}
			if d.Contents != nil {
				if _, err := unit.DeserializeOptions(strings.NewReader(*d.Contents)); err != nil {
					errs.Add(0, dp+".contents", "%v", err)
				}
			}
		}
	}
}

// planUnits writes unit files and drop-ins and enables, disables or masks
// units the way `systemctl enable` would, with links from the [Install]
// section, so no running systemd is needed.
func planUnits(c *Config, r resolver, add func(*op) *op, errs *fielderr.List) {
	u := unitPlanner{c: c, r: r, add: add, errs: errs, enabled: map[string]bool{}}
	for i, un := range c.Units {
		p := fmt.Sprintf("$.systemd.units.%d", i)
		file := path.Join(etcUnits, un.Name)
		if un.Contents != nil {
			add(&op{kind: opFile, where: p + ".contents", path: file, data: []byte(*un.Contents), mode: 0o644, relabel: true})
		}
		if len(un.Dropins) > 0 {
			add(&op{kind: opEnsureDir, where: p + ".dropins", path: file + ".d", mode: 0o755, relabel: true})
		}
		for j, d := range un.Dropins {
			add(&op{kind: opFile, where: fmt.Sprintf("%s.dropins.%d", p, j), path: path.Join(file+".d", d.Name), data: []byte(strV(d.Contents)), mode: 0o644, relabel: true})
		}
		switch {
		case util.IsTrue(un.Mask):
			add(&op{kind: opSymlink, where: p + ".mask", path: file, target: "/dev/null", relabel: true})
		case util.IsTrue(un.Enabled):
			u.enable(p, un.Name)
		case util.IsFalse(un.Enabled):
			u.disable(p, un.Name)
		}
	}
}

type unitPlanner struct {
	c       *Config
	r       resolver
	add     func(*op) *op
	errs    *fielderr.List
	enabled map[string]bool
}

// enable plans the links `systemctl enable name` makes: name in each
// WantedBy's .wants (RequiredBy: .requires, UpheldBy: .upholds), each
// Alias, and the units of Also enabled too.
func (u *unitPlanner) enable(p, name string) {
	if u.enabled[name] {
		return
	}
	u.enabled[name] = true
	file, contents, err := u.find(name)
	if err != nil {
		u.errs.Add(0, p+".name", "enabling %s: %v", name, err)
		return
	}
	in, err := parseInstall(contents)
	if err != nil {
		u.errs.Add(0, p+".name", "enabling %s: %s: %v", name, file, err)
		return
	}
	if in.empty() {
		u.errs.Add(0, p+".name", "enabling %s: %s has no [Install] section with WantedBy=, RequiredBy=, UpheldBy=, Alias= or Also=", name, file)
		return
	}
	for _, key := range []string{"WantedBy", "RequiredBy", "UpheldBy"} {
		suffix := map[string]string{"WantedBy": ".wants", "RequiredBy": ".requires", "UpheldBy": ".upholds"}[key]
		for _, target := range in.links[key] {
			dir := path.Join(etcUnits, target+suffix)
			u.add(&op{kind: opEnsureDir, where: p + ".enabled", path: dir, mode: 0o755, relabel: true})
			u.add(&op{kind: opSymlink, where: p + ".enabled", path: path.Join(dir, name), target: file, relabel: true})
		}
	}
	for _, alias := range in.links["Alias"] {
		u.add(&op{kind: opSymlink, where: p + ".enabled", path: path.Join(etcUnits, alias), target: file, relabel: true})
	}
	for _, also := range in.also {
		u.enable(p, also)
	}
}

// find returns the path on the node of the file systemd would load for
// name (an instance's template) and its contents: from this config first,
// else from the root.
func (u *unitPlanner) find(name string) (string, []byte, error) {
	fileName := name
	if at := strings.Index(name, "@"); at >= 0 {
		fileName = name[:at+1] + name[strings.LastIndex(name, "."):]
	}
	for _, un := range u.c.Units {
		if un.Name == fileName && un.Contents != nil {
			return path.Join(etcUnits, fileName), []byte(*un.Contents), nil
		}
	}
	for _, dir := range unitDirs {
		p := path.Join(dir, fileName)
		if f := u.c.file(p); f != nil {
			return p, f.Data, nil
		}
		real, err := u.r.follow(p)
		if err != nil {
			return "", nil, err
		}
		if real == "/dev/null" {
			return "", nil, fmt.Errorf("%s is masked (a link to /dev/null)", p)
		}
		fi, err := u.r.lstat(real)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if !fi.Mode().IsRegular() {
			return "", nil, fmt.Errorf("%s is masked or not a file", p)
		}
		b, err := os.ReadFile(u.r.host(real))
		return p, b, err
	}
	return "", nil, fmt.Errorf("no unit file in %s", strings.Join(unitDirs, ", "))
}

// disable plans removing the links to name in /etc/systemd/system's
// .wants, .requires and .upholds directories.
func (u *unitPlanner) disable(p, name string) {
	real, err := u.r.follow(etcUnits)
	if err != nil {
		u.errs.Add(0, p+".enabled", "%v", err)
		return
	}
	matches, _ := filepath.Glob(filepath.Join(u.r.host(real), "*", name))
	for _, m := range matches {
		dir := filepath.Base(filepath.Dir(m))
		if fi, err := os.Lstat(m); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if ext := path.Ext(dir); ext == ".wants" || ext == ".requires" || ext == ".upholds" {
			l := path.Join(real, dir, name)
			u.add(&op{kind: opRemove, where: p + ".enabled", path: l, real: l})
		}
	}
}

func strV(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
