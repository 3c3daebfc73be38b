// Package render turns a node spec into a standard Ignition config (spec
// 3.3.0, the newest that Debian trixie's ignition 2.14 accepts), after checking
// everything the node will run with: the merged daemon.json, the server
// TLS material against the names and addresses clients use, and the authz
// policy. A config that renders is one that can come up locked down.
package render

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/ignition/v2/config/util"
	v33 "github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/bulwark/bulwark/internal/authz"
	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/pki"
)

// Paths on the node come from nodepaths; these short names keep render's
// code and tests readable.
const (
	DaemonJSON = nodepaths.DaemonJSON
	CAPath     = nodepaths.CAPath
	CertPath   = nodepaths.CertPath
	KeyPath    = nodepaths.KeyPath
	PolicyPath = nodepaths.PolicyPath
	UnixSocket = nodepaths.UnixSocket
	// AuthzPlugin is the plugin's name in daemon.json.
	AuthzPlugin = authz.PluginName
	// IgnitionSpec is the Ignition spec version render emits (the newest
	// Debian trixie's ignition 2.14 accepts).
	IgnitionSpec = "3.3.0"
)

// Options tune rendering.
type Options struct {
	// Floor is the image's base daemon.json the node's settings merge over;
	// nil means the floor built into nodecfg (dockerfloor), which is the
	// one osbuild puts in the image. Nothing is looked up on disk.
	Floor []byte
	// UnitFlags are the flags the image's docker.service passes to dockerd.
	UnitFlags []string
	Now       time.Time
	// WarnWithin makes certificates expiring this soon a warning.
	WarnWithin time.Duration
}

// ContentTrustOff is what a node spec with docker.contentTrust: false puts
// over the image's nodepaths.ContentTrustProfile: a file that sets nothing,
// so the docker CLI in login shells pulls and runs unsigned images again.
const ContentTrustOff = "# Bulwark: Docker Content Trust is off on this node (node spec: docker.contentTrust: false).\n"

// Result is a rendered config and any warnings.
type Result struct {
	Config   types.Config
	JSON     []byte
	Warnings []string
	// Floor names the floor the settings were checked against.
	Floor string
}

// Render checks s and renders its Ignition config, one node section at a
// time; every section's problems are reported together.
func Render(s *nodespec.Spec, o Options) (*Result, error) {
	r := &renderer{s: s, o: o, res: &Result{}, cfg: types.Config{Ignition: types.Ignition{Version: IgnitionSpec}}}
	r.addFile("/etc/hostname", 0o644, []byte(s.Hostname+"\n"))
	if err := r.docker(); err != nil {
		return nil, err
	}
	r.authz()
	r.files()
	r.users()
	r.units()
	r.update()
	sort.SliceStable(r.cfg.Storage.Files, func(i, j int) bool { return r.cfg.Storage.Files[i].Path < r.cfg.Storage.Files[j].Path })
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	out, err := json.MarshalIndent(r.cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	// Ignition's own parser and validator must accept what we emit.
	if _, rpt, err := v33.Parse(out); err != nil || rpt.IsFatal() {
		return nil, fmt.Errorf("rendered config fails Ignition validation: %v %s", err, rpt.String())
	}
	r.res.Config, r.res.JSON = r.cfg, append(out, '\n')
	return r.res, nil
}

// renderer is one Render's state: the config being built and the problems
// found so far.
type renderer struct {
	s    *nodespec.Spec
	o    Options
	res  *Result
	cfg  types.Config
	errs []error
}

func (r *renderer) addFile(path string, mode int, data []byte) {
	r.cfg.Storage.Files = append(r.cfg.Storage.Files, types.File{
		Node:          types.Node{Path: path, Overwrite: util.BoolToPtr(true)},
		FileEmbedded1: types.FileEmbedded1{Mode: util.IntToPtr(mode), Contents: types.Resource{Source: util.StrToPtr(dataURL(data))}},
	})
}

// docker renders the engine: daemon.json's node settings (checked over the
// floor as apply will merge them), TLS material, the remap and content
// trust opt-outs, and the weaken record. The error is one that stops
// rendering (daemon.json cannot be encoded); the rest are collected.
func (r *renderer) docker() error {
	s := r.s
	daemon := daemonconfig.Config{}
	for k, v := range s.Docker.Settings {
		daemon[k] = v
	}
	if t := s.Docker.TLS; t != nil {
		daemon["hosts"] = append([]any{UnixSocket}, toAny(t.Listen)...)
		daemon["tlsverify"] = true
		daemon["tlscacert"], daemon["tlscert"], daemon["tlskey"] = CAPath, CertPath, KeyPath
		daemon["authorization-plugins"] = []any{AuthzPlugin}
		r.tls(t)
	}
	if slices.Contains(s.Docker.Weaken, "userns-remap") {
		// The node spec's opt-out of the floor's remap: dockerd reads ""
		// as no remap, and the weaken file lets apply accept it.
		daemon["userns-remap"] = ""
	}
	if s.Docker.ContentTrust != nil && !*s.Docker.ContentTrust {
		r.addFile(nodepaths.ContentTrustProfile, 0o644, []byte(ContentTrustOff))
	}
	if u := s.Docker.UsernsRemap; u != nil {
		daemon["userns-remap"] = "default"
		r.addFile("/etc/subuid", 0o644, []byte(fmt.Sprintf("%s:%d:%d\n", daemonconfig.RemapUser, u.UID, u.Offset)))
		r.addFile("/etc/subgid", 0o644, []byte(fmt.Sprintf("%s:%d:%d\n", daemonconfig.RemapUser, u.GID, u.Offset)))
	}
	// The config carries the node's settings only: the node merges them
	// over the floor in its own /usr at apply. Here they are merged over
	// the same floor to check what dockerd will read, after a round trip
	// through JSON.
	djson, err := daemon.Marshal()
	if err != nil {
		return err
	}
	if err := checkOnFloor(s, r.o, djson, r.res); err != nil {
		r.errs = append(r.errs, err)
	}
	r.addFile(DaemonJSON, 0o644, djson)
	if len(s.Docker.Weaken) > 0 {
		w, _ := json.Marshal(s.Docker.Weaken)
		r.addFile(dockerfloor.WeakenPath, 0o644, append(w, '\n'))
	}
	return nil
}

// tls checks the server's certificate against the CA, the node's names and
// addresses, and adds the three files.
func (r *renderer) tls(t *nodespec.TLS) {
	s := r.s
	ca, cert, key, err := readTLS(s, t)
	if err != nil {
		r.errs = append(r.errs, err)
		return
	}
	warn, terrs := pki.CheckServer(pki.ServerCheck{CA: ca, Cert: cert, Key: key,
		Names: append([]string{s.Hostname}, t.Names...), IPs: parseIPs(t.Addresses), Now: r.o.Now, WarnWithin: r.o.WarnWithin})
	for _, e := range terrs {
		r.errs = append(r.errs, fmt.Errorf("%s:%d: $.docker.tls: %w", s.File, s.Line("$.docker.tls"), e))
	}
	r.res.Warnings = append(r.res.Warnings, warn...)
	r.addFile(CAPath, 0o444, ca)
	r.addFile(CertPath, 0o444, cert)
	r.addFile(KeyPath, 0o400, key)
}

// authz renders the policy, one JSON rule per line, parsed as the plugin
// will parse it.
func (r *renderer) authz() {
	if len(r.s.Authz.Rules) == 0 {
		return
	}
	var lines []string
	for _, rule := range r.s.Authz.Rules {
		b, _ := json.Marshal(rule)
		lines = append(lines, string(b))
	}
	policy := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := authz.Parse(r.s.File+" ($.authz.rules, rendered "+PolicyPath+")", policy); err != nil {
		r.errs = append(r.errs, err)
	}
	r.addFile(PolicyPath, 0o644, policy)
}

// files renders the node spec's plain files.
func (r *renderer) files() {
	for _, f := range r.s.Files {
		mode := 0o644
		if f.Mode != "" {
			m, _ := strconv.ParseInt(f.Mode, 8, 32)
			mode = int(m)
		}
		r.addFile(f.Path, mode, []byte(f.Contents))
	}
}

// users renders the login accounts.
func (r *renderer) users() {
	for _, u := range r.s.Users {
		pu := types.PasswdUser{Name: u.Name}
		for _, k := range u.SSHAuthorizedKeys {
			pu.SSHAuthorizedKeys = append(pu.SSHAuthorizedKeys, types.SSHAuthorizedKey(k))
		}
		for _, g := range u.Groups {
			pu.Groups = append(pu.Groups, types.Group(g))
		}
		r.cfg.Passwd.Users = append(r.cfg.Passwd.Users, pu)
	}
}

// update points the image's systemd-sysupdate transfers at the node's
// update source, one drop-in per transfer definition (the definitions stay
// in /usr), with tries sets the UKI transfer's boot count, and, with a
// schedule, enables the timer with its calendar replaced.
func (r *renderer) update() {
	u := r.s.Update
	if u == nil {
		return
	}
	for _, tr := range sysupdate.Transfers() {
		r.addFile(sysupdate.DropinPath(tr), 0o644, sysupdate.SourceDropin(u.URL))
	}
	if u.Tries != nil {
		r.addFile(sysupdate.TriesPath, 0o644, sysupdate.TriesDropin(*u.Tries))
	}
	if u.Schedule != "" {
		r.cfg.Systemd.Units = append(r.cfg.Systemd.Units, types.Unit{Name: sysupdate.Timer, Enabled: util.BoolToPtr(true),
			Dropins: []types.Dropin{{Name: "bulwark-schedule.conf", Contents: util.StrToPtr(sysupdate.ScheduleDropin(u.Schedule))}}})
	}
}

// units renders the node spec's systemd units and drop-ins.
func (r *renderer) units() {
	for _, u := range r.s.Units {
		tu := types.Unit{Name: u.Name, Enabled: u.Enabled}
		if u.Mask {
			tu.Mask = util.BoolToPtr(true)
		}
		if u.Contents != "" {
			tu.Contents = util.StrToPtr(u.Contents)
		}
		for _, d := range u.Dropins {
			tu.Dropins = append(tu.Dropins, types.Dropin{Name: d.Name, Contents: util.StrToPtr(d.Contents)})
		}
		r.cfg.Systemd.Units = append(r.cfg.Systemd.Units, tu)
	}
}

// checkOnFloor merges the node's daemon.json over the floor as apply will,
// refusing weakenings the spec did not name, and checks the result.
func checkOnFloor(s *nodespec.Spec, o Options, djson []byte, res *Result) error {
	floorJSON := o.Floor
	if floorJSON == nil {
		floorJSON = dockerfloor.Embedded()
	}
	res.Floor = "nodecfg's built-in floor " + dockerfloor.Digest(floorJSON)
	floor, err := dockerfloor.Parse(res.Floor, floorJSON)
	if err != nil {
		return err
	}
	where := s.File + " (rendered " + DaemonJSON + ")"
	node, err := daemonconfig.Parse(where, djson)
	if err != nil {
		return err
	}
	on, err := dockerfloor.Apply(where, floor, node, s.Docker.Weaken)
	if err != nil {
		return err
	}
	for _, w := range on.Weakened {
		res.Warnings = append(res.Warnings, "docker.weaken: "+w)
	}
	return daemonconfig.Check(where, on.Config, o.UnitFlags)
}

func readTLS(s *nodespec.Spec, t *nodespec.TLS) (ca, cert, key []byte, err error) {
	var errs []error
	read := func(field, p string) []byte {
		b, err := os.ReadFile(s.Path(p))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: $.docker.tls.%s: %w", s.File, s.Line("$.docker.tls."+field), field, err))
		}
		return b
	}
	ca, cert, key = read("ca", t.CA), read("cert", t.Cert), read("key", t.Key)
	return ca, cert, key, errors.Join(errs...)
}

func parseIPs(list []string) []net.IP {
	var out []net.IP
	for _, a := range list {
		if ip := net.ParseIP(a); ip != nil {
			out = append(out, ip)
		}
	}
	return out
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func dataURL(b []byte) string { return "data:;base64," + base64.StdEncoding.EncodeToString(b) }
