package apply

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwark/bulwark/internal/authz"
	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/pki"
)

// semantic runs Bulwark's checks on the files dockerd and the authz plugin
// will read, and returns warnings.
func (c *Config) semantic(source string, errs *fielderr.List, o CheckOptions) []string {
	var warnings []string
	if f := c.file(nodepaths.PolicyPath); f != nil {
		if _, err := authz.Parse(source+" "+c.index(f.Path)+" ("+f.Path+")", f.Data); err != nil {
			errs.Merge(err)
		}
	}
	d, w, ok := c.onFloor(source, errs, o)
	warnings = append(warnings, w...)
	if !ok {
		return warnings
	}
	f := c.file(nodepaths.DaemonJSON)
	where := source + " " + c.index(f.Path) + " (" + f.Path + ", merged over the floor)"
	if err := daemonconfig.Check(where, d, o.UnitFlags); err != nil {
		errs.Merge(err)
		return warnings
	}
	if r, _ := d["userns-remap"].(string); r != "" {
		c.checkSubIDs(errs)
	}
	// The authz service starts only when its policy exists
	// (ConditionPathExists), and dockerd does not start without its
	// plugin: a config naming the plugin must bring the policy.
	if plugins, _ := daemonconfig.StringList(d["authorization-plugins"]); slices.Contains(plugins, authz.PluginName) && c.file(nodepaths.PolicyPath) == nil {
		errs.Add(0, c.index(f.Path), "authorization-plugins names %s but the config has no %s: the plugin would not start, nor would docker", authz.PluginName, nodepaths.PolicyPath)
	}
	for _, p := range []string{nodepaths.PolicyPath, dockerfloor.WeakenPath} {
		if pf := c.file(p); pf != nil {
			c.rootOnly(pf, errs)
		}
	}
	if v, _ := d["tlsverify"].(bool); !v {
		return warnings
	}
	get := func(key string) []byte {
		p, _ := d[key].(string)
		tf := c.file(p)
		if tf == nil {
			errs.Add(0, f.Where, "daemon.json %s %q is not a file in this config", key, p)
			return nil
		}
		want := Mode(0o444)
		if key == "tlskey" {
			want = 0o400
		}
		if tf.Mode != want {
			errs.Add(0, tf.Where+".mode", "%s must be mode %04o, is %04o", tf.Path, want, tf.Mode)
		}
		if tf.UID != 0 || tf.GID != 0 {
			errs.Add(0, tf.Where+".user", "%s must belong to root (uid 0, gid 0), not %d:%d: dockerd trusts it", tf.Path, tf.UID, tf.GID)
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
			errs.Add(0, wf.Where+".contents", "%s must be a JSON list of floor keys: %v", wf.Path, err)
			return nil, nil, false
		}
	}
	f := c.file(nodepaths.DaemonJSON)
	if f == nil {
		c.Files = append(c.Files, File{Where: "$.storage.files", Path: nodepaths.DaemonJSON, Mode: 0o644, Data: []byte("{}")})
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
		if p == nodepaths.DaemonJSON || strings.HasPrefix(nodepaths.DaemonJSON, p+"/") || p == dockerfloor.WeakenPath {
			errs.Add(0, fmt.Sprintf("$.storage.links.%d.path", i), "a link at %s would redirect the daemon.json dockerd reads", l.Path)
		}
		if guardedUnitPath(p) {
			errs.Add(0, fmt.Sprintf("$.storage.links.%d.path", i), "%s would replace or extend docker's units", l.Path)
		}
	}
	for i, d := range c.Dirs {
		p := filepath.Clean(d.Path)
		if p == nodepaths.DaemonJSON {
			errs.Add(0, fmt.Sprintf("$.storage.directories.%d.path", i), "%s must be a file", d.Path)
		}
		if guardedUnitPath(p) {
			errs.Add(0, fmt.Sprintf("$.storage.directories.%d.path", i), "%s would hold drop-ins for docker's units; docker.service is the image's", d.Path)
		}
	}
	for i, f := range c.Files {
		if guardedUnitPath(filepath.Clean(f.Path)) {
			errs.Add(0, fmt.Sprintf("$.storage.files.%d.path", i), "%s would change how docker is started (its flags or config file); docker.service is the image's", f.Path)
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

// checkSubIDs: with userns-remap on, a config that brings its own
// /etc/subuid or /etc/subgid must bring both, each giving dockremap a valid
// range. A config with neither keeps the image's (overlays/docker/etc:
// dockremap 100000, 65536 ids), which the floor's "userns-remap" relies on.
func (c *Config) checkSubIDs(errs *fielderr.List) {
	if c.file("/etc/subuid") == nil && c.file("/etc/subgid") == nil {
		return
	}
	ranges := map[string][2]int64{}
	for _, p := range []string{"/etc/subuid", "/etc/subgid"} {
		f := c.file(p)
		if f == nil {
			errs.Add(0, "$.storage.files", "userns-remap is on and the config replaces the image's subordinate ids, but it has no %s entry for %s", p, daemonconfig.RemapUser)
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

// rootOnly refuses a file root trusts that another user could change.
func (c *Config) rootOnly(f *File, errs *fielderr.List) {
	if f.UID != 0 || f.GID != 0 {
		errs.Add(0, f.Where+".user", "%s must belong to root (uid 0, gid 0), not %d:%d", f.Path, f.UID, f.GID)
	}
	if f.Mode&0o022 != 0 {
		errs.Add(0, f.Where+".mode", "%s must not be writable by group or others (mode %04o)", f.Path, f.Mode)
	}
}

// trustedPath reports whether root relies on what is at p: configuration
// under /etc, nodecfg's record, root's home. Its directories must not let
// another user replace it, even with the sticky bit.
func trustedPath(p string) bool {
	return under(p, "/etc") || under(p, "/var/lib/bulwark") || under(p, "/root")
}

// checkParents refuses a config directory that would let another user
// replace a root-owned file in it: one owned by another user, or writable
// by group or others (the sticky bit excepted outside trusted paths). A
// world-writable /etc/docker/tls would let any user swap the server key.
func (c *Config) checkParents(errs *fielderr.List) {
	var rootOwned []string
	for _, f := range c.Files {
		if f.UID == 0 {
			rootOwned = append(rootOwned, f.Path)
		}
	}
	for _, l := range c.Links {
		rootOwned = append(rootOwned, l.Path)
	}
	for _, d := range c.Dirs {
		if d.UID == 0 {
			rootOwned = append(rootOwned, d.Path)
		}
	}
	rootOwned = append(rootOwned, c.rootPaths()...)
	for _, d := range c.Dirs {
		i := slices.IndexFunc(rootOwned, func(p string) bool { return under(p, d.Path) && (d.Mode&0o1000 == 0 || trustedPath(p)) })
		if i < 0 {
			continue
		}
		if d.UID != 0 {
			errs.Add(0, d.Where+".user", "%s holds %s, which belongs to root; it must belong to root too (uid 0), not uid %d", d.Path, rootOwned[i], d.UID)
		}
		if d.Mode&0o022 != 0 {
			errs.Add(0, d.Where+".mode", "%s holds %s, which belongs to root; it must not be writable by group or others (mode %04o)", d.Path, rootOwned[i], d.Mode)
		}
	}
}
