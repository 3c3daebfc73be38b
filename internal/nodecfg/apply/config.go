// Package apply is `nodecfg apply`: at first boot it reads the node's
// Ignition config, validates all of it (Ignition's parser, then the sections
// we support, then Bulwark's semantic checks of daemon.json, TLS material,
// accounts, units and the authz policy), plans every write against the
// root (checking what it finds there), stages every file beside its final
// name, and only then renames them all into place and records the config's
// digest, so a failure leaves the node as it was and a second boot does
// nothing. Every stage works relative to Root, resolving paths inside it,
// so tests apply into a temp dir.
package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/ignition/v2/config/util"
	v33 "github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/fielderr"
)

// Config is a parsed, fully validated node config, contents decoded.
type Config struct {
	Raw    types.Config
	Digest string
	Files  []File
	Dirs   []Dir
	Links  []Link
	Users  []types.PasswdUser
	Groups []types.PasswdGroup
	Units  []types.Unit
	// Weakened lists the floor keys the config weakened, by the node
	// spec's leave (docker.weaken), with what each does; the record keeps it.
	Weakened []string
}

// Mode is a file's permission bits as chmod(2) takes them: 0o777 plus
// setuid (0o4000), setgid (0o2000) and sticky (0o1000). It is not an
// os.FileMode, whose special bits live elsewhere.
type Mode uint32

// File is one file to write.
type File struct {
	Where    string // the entry's JSON path, such as $.storage.files.3
	Path     string
	Mode     Mode
	UID, GID int
	Data     []byte
}

// Dir is one directory to create, or whose mode and owner to set.
type Dir struct {
	Where    string
	Path     string
	Mode     Mode
	UID, GID int
}

// Link is one symbolic or hard link.
type Link struct {
	Where        string
	Path, Target string
	Hard         bool
}

// CheckOptions tune the semantic checks.
type CheckOptions struct {
	Now        time.Time
	WarnWithin time.Duration
	// UnitFlags are the flags docker.service passes to dockerd in the image.
	UnitFlags []string
	// Floor is the node's base daemon.json (dockerfloor.NodePath under the
	// root), named FloorSource in messages. The config's daemon.json is
	// merged over it; without one nothing is applied.
	Floor       daemonconfig.Config
	FloorSource string
}

// maxID is the largest uid or gid: (uid_t)-1 means "no change" to chown.
const maxID = 1<<32 - 2

// Parse parses and validates raw (from source, for messages). It returns
// every problem, each with its JSON path, and writes nothing.
func Parse(source string, raw []byte, o CheckOptions) (*Config, []string, error) {
	if len(raw) > MaxConfigSize {
		return nil, nil, fmt.Errorf("%s: the config is %d bytes, more than the %d MiB nodecfg reads", source, len(raw), MaxConfigSize>>20)
	}
	sum := sha256.Sum256(raw)
	cfg, rpt, err := v33.ParseCompatibleVersion(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a usable Ignition config: %w %s", source, err, strings.TrimSpace(rpt.String()))
	}
	if rpt.IsFatal() {
		return nil, nil, fmt.Errorf("%s: Ignition validation failed:\n%s", source, rpt.String())
	}
	errs := &fielderr.List{File: source}
	unsupported(cfg, errs)
	c := &Config{Raw: cfg, Digest: "sha256:" + hex.EncodeToString(sum[:]), Users: cfg.Passwd.Users, Groups: cfg.Passwd.Groups, Units: cfg.Systemd.Units}
	c.storage(cfg.Storage, errs)
	c.checkPaths(errs)
	c.guardDocker(errs)
	c.checkAccounts(errs)
	c.checkUnits(errs)
	warnings := c.semantic(source, errs, o)
	c.checkParents(errs)
	if err := errs.Err(); err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// unsupported rejects what nodecfg does not do, naming the path: silently
// skipping a disk layout or LUKS section would leave a node unlike its spec.
func unsupported(cfg types.Config, errs *fielderr.List) {
	s := cfg.Storage
	for _, x := range []struct {
		path string
		n    int
	}{{"$.storage.disks", len(s.Disks)}, {"$.storage.raid", len(s.Raid)}, {"$.storage.filesystems", len(s.Filesystems)},
		{"$.storage.luks", len(s.Luks)}, {"$.kernelArguments.shouldExist", len(cfg.KernelArguments.ShouldExist)},
		{"$.kernelArguments.shouldNotExist", len(cfg.KernelArguments.ShouldNotExist)}, {"$.ignition.config.merge", len(cfg.Ignition.Config.Merge)}} {
		if x.n > 0 {
			errs.Add(0, x.path, "not supported by nodecfg on a Bulwark node (the disk layout and kernel command line are fixed by the image)")
		}
	}
	if cfg.Ignition.Config.Replace.Source != nil {
		errs.Add(0, "$.ignition.config.replace", "not supported: first boot does not fetch configs over the network")
	}
	for i, f := range s.Files {
		if len(f.Append) > 0 {
			errs.Add(0, fmt.Sprintf("$.storage.files.%d.append", i), "not supported: give the whole file in contents")
		}
	}
}

// storage decodes the files, directories and links, checking contents
// (size, hash), modes and owners.
func (c *Config) storage(s types.Storage, errs *fielderr.List) {
	b := &budget{left: MaxTotalSize}
	for i, f := range s.Files {
		p := fmt.Sprintf("$.storage.files.%d", i)
		data, field, err := decode(f.Contents, b)
		if err != nil {
			errs.Add(0, p+field, "%v", err)
			continue
		}
		uid, gid := owner(f.Node, errs, p)
		c.Files = append(c.Files, File{Where: p, Path: f.Path, Mode: mode(f.Mode, 0o644, false, errs, p), UID: uid, GID: gid, Data: data})
	}
	for i, d := range s.Directories {
		p := fmt.Sprintf("$.storage.directories.%d", i)
		uid, gid := owner(d.Node, errs, p)
		c.Dirs = append(c.Dirs, Dir{Where: p, Path: d.Path, Mode: mode(d.Mode, 0o755, true, errs, p), UID: uid, GID: gid})
	}
	for i, l := range s.Links {
		p := fmt.Sprintf("$.storage.links.%d", i)
		owner(l.Node, errs, p)
		switch {
		case l.Target == nil || *l.Target == "":
			errs.Add(0, p+".target", "is required")
			continue
		case strings.ContainsRune(*l.Target, 0) || len(*l.Target) > 4095:
			errs.Add(0, p+".target", "is not a link target (NUL byte, or longer than PATH_MAX)")
			continue
		case util.IsTrue(l.Hard) && (!path.IsAbs(*l.Target) || path.Clean(*l.Target) != *l.Target):
			errs.Add(0, p+".target", "%q: a hard link's target must be an absolute, clean path", *l.Target)
			continue
		}
		c.Links = append(c.Links, Link{Where: p, Path: l.Path, Target: *l.Target, Hard: util.IsTrue(l.Hard)})
	}
}

// owner returns an entry's uid and gid. Owners by name are refused: the
// names would be looked up in the root before the config's own accounts
// exist.
func owner(n types.Node, errs *fielderr.List, p string) (int, int) {
	if n.User.Name != nil || n.Group.Name != nil {
		errs.Add(0, p+".user", "owners by name are not supported; give user.id and group.id")
	}
	uid, gid := 0, 0
	if n.User.ID != nil {
		uid = *n.User.ID
	}
	if n.Group.ID != nil {
		gid = *n.Group.ID
	}
	if uid < 0 || uid > maxID {
		errs.Add(0, p+".user.id", "%d is not a uid", uid)
	}
	if gid < 0 || gid > maxID {
		errs.Add(0, p+".group.id", "%d is not a gid", gid)
	}
	return uid, gid
}

// mode returns m (Ignition's integer) as chmod bits, or def. Special bits
// are kept and applied exactly; those Linux ignores (sticky on a file,
// setuid on a directory) are refused rather than silently dropped.
func mode(m *int, def Mode, dir bool, errs *fielderr.List, p string) Mode {
	if m == nil {
		return def
	}
	v := Mode(*m) // Ignition's validator refused anything outside 0..07777
	switch {
	case !dir && v&0o1000 != 0:
		errs.Add(0, p+".mode", "%04o has the sticky bit, which Linux ignores on files", v)
	case dir && v&0o4000 != 0:
		errs.Add(0, p+".mode", "%04o has the setuid bit, which Linux ignores on directories", v)
	}
	return v
}

// checkPaths refuses entry paths nodecfg cannot write as given: the root
// itself, control characters, the read-only /usr, one path twice, and any
// path inside a link the config makes (Ignition resolves paths before it
// makes links, so such an entry would not land where it reads).
func (c *Config) checkPaths(errs *fielderr.List) {
	type entry struct{ where, path string }
	var all []entry
	for _, f := range c.Files {
		all = append(all, entry{f.Where, f.Path})
	}
	for _, d := range c.Dirs {
		all = append(all, entry{d.Where, d.Path})
	}
	for _, l := range c.Links {
		all = append(all, entry{l.Where, l.Path})
	}
	seen := map[string]string{}
	for _, e := range all {
		switch {
		case e.path == "/":
			errs.Add(0, e.where+".path", "is the root directory itself")
		case strings.IndexFunc(e.path, unicode.IsControl) >= 0:
			errs.Add(0, e.where+".path", "%q has a control character", e.path)
		case e.path == "/usr" || strings.HasPrefix(e.path, "/usr/"):
			errs.Add(0, e.where+".path", "%s is on the read-only, verity-protected /usr", e.path)
		}
		if w, ok := seen[e.path]; ok {
			errs.Add(0, e.where+".path", "%s is also %s", e.path, w)
		}
		seen[e.path] = e.where
	}
	implicit := c.implicitPaths()
	for _, l := range c.Links {
		for _, e := range all {
			if under(e.path, l.Path) {
				errs.Add(0, e.where+".path", "%s is inside the link %s (%s): nodecfg does not write through links", e.path, l.Where, l.Path)
			}
		}
		for _, p := range implicit {
			if p == l.Path || under(p, l.Path) {
				errs.Add(0, l.Where+".path", "a link at %s would redirect %s, which nodecfg writes", l.Path, p)
			}
		}
	}
}

// implicitPaths are the paths nodecfg writes for the config beyond its
// storage entries: rootPaths and users' authorized_keys.
func (c *Config) implicitPaths() []string {
	out := c.rootPaths()
	for _, u := range c.Users {
		if h := homeOf(u); path.IsAbs(h) {
			out = append(out, path.Clean(h)+"/.ssh/authorized_keys")
		}
	}
	return out
}

// rootPaths are the root-owned paths nodecfg writes for the config beyond
// its storage entries: units, accounts, the record.
func (c *Config) rootPaths() []string {
	out := []string{RecordPath}
	for _, u := range c.Units {
		out = append(out, path.Join(etcUnits, u.Name))
	}
	if len(c.Users) > 0 || len(c.Groups) > 0 {
		out = append(out, "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
	}
	return out
}

// under reports whether p is strictly inside dir.
func under(p, dir string) bool {
	return dir == "/" && p != "/" || strings.HasPrefix(p, dir+"/")
}

func (c *Config) file(path string) *File {
	for i := range c.Files {
		if c.Files[i].Path == path {
			return &c.Files[i]
		}
	}
	return nil
}

// index returns the JSON path of the file at path.
func (c *Config) index(path string) string {
	if f := c.file(path); f != nil {
		return f.Where
	}
	return "$.storage.files"
}
