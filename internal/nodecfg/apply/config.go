// Package apply is `nodecfg apply`: at first boot it reads the node's
// Ignition config, validates all of it (Ignition's parser, then the sections
// we support, then Bulwark's semantic checks of daemon.json, TLS material
// and the authz policy), and only then writes files, units, users and keys
// under a root directory, atomically, recording the config's digest so a
// second boot does nothing. Every stage works relative to Root, so tests
// apply into a temp dir.
package apply

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/ignition/v2/config/util"
	v33 "github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_3/types"
	"github.com/vincent-petithory/dataurl"

	"github.com/bulwark/bulwark/internal/authz"
	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/nodecfg/render"
	"github.com/bulwark/bulwark/internal/pki"
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

// File is one file to write.
type File struct {
	Path     string
	Mode     os.FileMode
	UID, GID int
	Data     []byte
}

// Dir is one directory to create.
type Dir struct {
	Path     string
	Mode     os.FileMode
	UID, GID int
}

// Link is one symbolic or hard link.
type Link struct {
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

// Parse parses and validates raw (from source, for messages). It returns
// every problem, each with its JSON path, and writes nothing.
func Parse(source string, raw []byte, o CheckOptions) (*Config, []string, error) {
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
	for i, f := range cfg.Storage.Files {
		p := fmt.Sprintf("$.storage.files.%d", i)
		data, err := decode(f.Contents)
		if err != nil {
			errs.Add(0, p+".contents", "%v", err)
			continue
		}
		uid, gid := owner(f.Node, errs, p)
		c.Files = append(c.Files, File{Path: f.Path, Mode: mode(f.Mode, 0o644), UID: uid, GID: gid, Data: data})
	}
	for i, d := range cfg.Storage.Directories {
		uid, gid := owner(d.Node, errs, fmt.Sprintf("$.storage.directories.%d", i))
		c.Dirs = append(c.Dirs, Dir{Path: d.Path, Mode: mode(d.Mode, 0o755), UID: uid, GID: gid})
	}
	for i, l := range cfg.Storage.Links {
		if l.Target == nil {
			errs.Add(0, fmt.Sprintf("$.storage.links.%d.target", i), "is required")
			continue
		}
		c.Links = append(c.Links, Link{Path: l.Path, Target: *l.Target, Hard: util.IsTrue(l.Hard)})
	}
	for i, f := range c.Files {
		if strings.HasPrefix(f.Path, "/usr/") {
			errs.Add(0, fmt.Sprintf("$.storage.files.%d.path", i), "%s is on the read-only, verity-protected /usr", f.Path)
		}
	}
	c.guardDocker(errs)
	warnings := c.semantic(source, errs, o)
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
	return uid, gid
}

func mode(m *int, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & 0o7777
}

// decode returns a resource's bytes: only data: URLs, since first boot
// fetches nothing over the network.
func decode(r types.Resource) ([]byte, error) {
	if r.Source == nil {
		return nil, nil
	}
	if !strings.HasPrefix(*r.Source, "data:") {
		return nil, fmt.Errorf("source %q: only data: URLs are supported (first boot does not fetch over the network)", truncate(*r.Source))
	}
	u, err := dataurl.DecodeString(*r.Source)
	if err != nil {
		return nil, fmt.Errorf("bad data URL: %w", err)
	}
	data := u.Data
	if r.Compression != nil && *r.Compression == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip contents: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("gzip contents: %w", err)
		}
	}
	return data, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func (c *Config) file(path string) *File {
	for i := range c.Files {
		if c.Files[i].Path == path {
			return &c.Files[i]
		}
	}
	return nil
}

func (c *Config) index(path string) string {
	for i := range c.Files {
		if c.Files[i].Path == path {
			return "$.storage.files." + strconv.Itoa(i)
		}
	}
	return "$.storage.files"
}

// semantic runs Bulwark's checks on the files dockerd and the authz plugin
// will read, and returns warnings.
func (c *Config) semantic(source string, errs *fielderr.List, o CheckOptions) []string {
	var warnings []string
	if f := c.file(render.PolicyPath); f != nil {
		if _, err := authz.Parse(source+" "+c.index(f.Path)+" ("+f.Path+")", f.Data); err != nil {
			errs.Merge(err)
		}
	}
	d, w, ok := c.onFloor(source, errs, o)
	warnings = append(warnings, w...)
	if !ok {
		return warnings
	}
	f := c.file(render.DaemonJSON)
	where := source + " " + c.index(f.Path) + " (" + f.Path + ", merged over the floor)"
	if err := daemonconfig.Check(where, d, o.UnitFlags); err != nil {
		errs.Merge(err)
		return warnings
	}
	if r, _ := d["userns-remap"].(string); r != "" {
		c.checkSubIDs(errs)
	}
	if v, _ := d["tlsverify"].(bool); !v {
		return warnings
	}
	get := func(key string) []byte {
		p, _ := d[key].(string)
		tf := c.file(p)
		if tf == nil {
			errs.Add(0, c.index(f.Path), "daemon.json %s %q is not a file in this config", key, p)
			return nil
		}
		want := os.FileMode(0o444)
		if key == "tlskey" {
			want = 0o400
		}
		if tf.Mode != want {
			errs.Add(0, c.index(tf.Path)+".mode", "%s must be mode %04o, is %04o", tf.Path, want, tf.Mode)
		}
		return tf.Data
	}
	ca, cert, key := get("tlscacert"), get("tlscert"), get("tlskey")
	if ca == nil || cert == nil || key == nil {
		return warnings
	}
	var names []string
	if h := c.file("/etc/hostname"); h != nil {
		names = append(names, strings.TrimSpace(string(h.Data)))
	}
	var ips []net.IP
	hosts, _ := d["hosts"].([]any)
	for _, h := range hosts {
		s, _ := h.(string)
		if hp, ok := strings.CutPrefix(s, "tcp://"); ok {
			if host, _, err := net.SplitHostPort(hp); err == nil {
				if ip := net.ParseIP(host); ip != nil {
					ips = append(ips, ip)
				}
			}
		}
	}
	w, perrs := pki.CheckServer(pki.ServerCheck{CA: ca, Cert: cert, Key: key, Names: names, IPs: ips, Now: o.Now, WarnWithin: o.WarnWithin})
	for _, e := range perrs {
		errs.Add(0, c.index(f.Path), "TLS: %v", e)
	}
	sort.Strings(w)
	return append(warnings, w...)
}

// onFloor merges the config's daemon.json (none is an empty one) over the
// node's floor, refusing weakenings the config's docker-weaken list does not
// name, and puts the merged file in the config in its place: whatever tool
// wrote the config, dockerd reads the floor plus the node's settings.
func (c *Config) onFloor(source string, errs *fielderr.List, o CheckOptions) (daemonconfig.Config, []string, bool) {
	if o.Floor == nil {
		errs.Add(0, "$", "the node's floor daemon.json (%s) is missing: refusing to configure docker without it", dockerfloor.NodePath)
		return nil, nil, false
	}
	var allow []string
	if wf := c.file(dockerfloor.WeakenPath); wf != nil {
		if err := json.Unmarshal(wf.Data, &allow); err != nil {
			errs.Add(0, c.index(wf.Path)+".contents", "%s must be a JSON list of floor keys: %v", wf.Path, err)
			return nil, nil, false
		}
	}
	f := c.file(render.DaemonJSON)
	if f == nil {
		c.Files = append(c.Files, File{Path: render.DaemonJSON, Mode: 0o644, Data: []byte("{}")})
		f = &c.Files[len(c.Files)-1]
	}
	where := source + " " + c.index(f.Path) + " (" + f.Path + ")"
	node, err := daemonconfig.Parse(where, f.Data)
	if err != nil {
		errs.Merge(err)
		return nil, nil, false
	}
	on, err := dockerfloor.Apply(where, o.Floor, node, allow)
	if err != nil {
		errs.Merge(err)
		return nil, nil, false
	}
	merged, err := on.Config.Marshal()
	if err != nil {
		errs.Add(0, c.index(f.Path), "%v", err)
		return nil, nil, false
	}
	// Round-trip so the checks see what dockerd will read.
	d, err := daemonconfig.Parse(where, merged)
	if err != nil {
		errs.Merge(err)
		return nil, nil, false
	}
	f.Data, f.Mode, f.UID, f.GID = merged, 0o644, 0, 0
	c.Weakened = on.Weakened
	var warnings []string
	for _, w := range on.Weakened {
		warnings = append(warnings, "the node spec weakens the docker floor: "+w)
	}
	return d, warnings, true
}

// guardDocker refuses config entries that would change which daemon.json
// dockerd reads or how it is started: a link at or above daemon.json, and
// units, drop-ins or unit files for docker.service and containerd.service.
// The floor is only a floor if nothing can route around it.
func (c *Config) guardDocker(errs *fielderr.List) {
	for i, l := range c.Links {
		p := filepath.Clean(l.Path)
		if p == render.DaemonJSON || strings.HasPrefix(render.DaemonJSON, p+"/") || p == dockerfloor.WeakenPath {
			errs.Add(0, fmt.Sprintf("$.storage.links.%d.path", i), "a link at %s would redirect the daemon.json dockerd reads", l.Path)
		}
	}
	for i, d := range c.Dirs {
		if p := filepath.Clean(d.Path); p == render.DaemonJSON {
			errs.Add(0, fmt.Sprintf("$.storage.directories.%d.path", i), "%s must be a file", d.Path)
		}
	}
	for i, f := range c.Files {
		if guardedUnitPath(filepath.Clean(f.Path)) {
			errs.Add(0, fmt.Sprintf("$.storage.files.%d.path", i), "%s would change how docker is started (its flags or config file); docker.service is the image's", f.Path)
		}
	}
	for i, d := range c.Dirs {
		if guardedUnitPath(filepath.Clean(d.Path)) {
			errs.Add(0, fmt.Sprintf("$.storage.directories.%d.path", i), "%s would hold drop-ins for docker's units; docker.service is the image's", d.Path)
		}
	}
	for i, l := range c.Links {
		if guardedUnitPath(filepath.Clean(l.Path)) {
			errs.Add(0, fmt.Sprintf("$.storage.links.%d.path", i), "%s would replace or extend docker's units", l.Path)
		}
	}
	for i, u := range c.Units {
		if !guardedUnit(u.Name) {
			continue
		}
		if u.Contents != nil || len(u.Dropins) > 0 {
			errs.Add(0, fmt.Sprintf("$.systemd.units.%d", i), "%s: contents and drop-ins are refused; the image's unit starts dockerd on the floor", u.Name)
		}
	}
}

// guardedUnit reports whether a unit starts the engine.
func guardedUnit(name string) bool {
	return name == "docker.service" || name == "containerd.service" || name == "docker.socket"
}

// guardedUnitPath reports whether p is a unit file or drop-in of a guarded
// unit in one of systemd's unit directories.
func guardedUnitPath(p string) bool {
	for _, dir := range []string{"/etc/systemd/system/", "/run/systemd/system/", "/etc/systemd/system.control/", "/run/systemd/system.control/", "/run/systemd/transient/"} {
		rest, ok := strings.CutPrefix(p, dir)
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(rest, "/")
		if guardedUnit(first) || guardedUnit(strings.TrimSuffix(first, ".d")) {
			return true
		}
	}
	return false
}

// checkSubIDs: with userns-remap on, the config must give dockremap a
// valid range in both /etc/subuid and /etc/subgid.
func (c *Config) checkSubIDs(errs *fielderr.List) {
	ranges := map[string][2]int64{}
	for _, p := range []string{"/etc/subuid", "/etc/subgid"} {
		f := c.file(p)
		if f == nil {
			errs.Add(0, "$.storage.files", "userns-remap is on but the config has no %s entry for %s", p, daemonconfig.RemapUser)
			continue
		}
		found := false
		for _, l := range strings.Split(string(f.Data), "\n") {
			parts := strings.Split(strings.TrimSpace(l), ":")
			if len(parts) != 3 || parts[0] != daemonconfig.RemapUser {
				continue
			}
			start, err1 := strconv.ParseInt(parts[1], 10, 64)
			n, err2 := strconv.ParseInt(parts[2], 10, 64)
			if err1 != nil || err2 != nil {
				errs.Add(0, c.index(p), "%s: bad line %q", p, l)
				continue
			}
			ranges[p] = [2]int64{start, n}
			found = true
		}
		if !found {
			errs.Add(0, c.index(p), "%s has no %s entry", p, daemonconfig.RemapUser)
		}
	}
	u, g := ranges["/etc/subuid"], ranges["/etc/subgid"]
	if u[1] > 0 && g[1] > 0 {
		for _, e := range daemonconfig.CheckUsernsRange(u[0], g[0], min(u[1], g[1])) {
			errs.Add(0, c.index("/etc/subuid"), "userns remap: %s", e)
		}
		if u[1] != g[1] {
			errs.Add(0, c.index("/etc/subgid"), "subuid and subgid ranges differ in size (%d and %d)", u[1], g[1])
		}
	}
}
