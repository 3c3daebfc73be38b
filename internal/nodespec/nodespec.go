// Package nodespec defines the per-host node spec (nodes/<host>.yaml) that
// `nodecfg render` turns into an Ignition config. It is strict like the
// image spec: unknown keys and bad values are errors naming the file, line
// and path, all reported at once, and the TLS material and authz policy it
// points at are checked before anything is rendered.
package nodespec

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/strictyaml"
	"github.com/bulwark/bulwark/internal/sysupdate"
)

// APIVersion is the node spec version this nodecfg reads.
const APIVersion = "bulwark.dev/v1alpha1"

// Spec is a node spec.
type Spec struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Hostname   string `yaml:"hostname"`
	Users      []User `yaml:"users"`
	Docker     Docker `yaml:"docker"`
	Authz      Authz  `yaml:"authz"`
	Files      []File `yaml:"files"`
	Units      []Unit `yaml:"units"`
	// Update is where the node takes its /usr updates from (nil: the
	// node is not updated in place).
	Update *Update `yaml:"update"`

	File string               `yaml:"-"`
	pos  strictyaml.Positions `yaml:"-"`
}

// Update points the image's systemd-sysupdate transfers at an update
// source: a directory served over HTTP(S) holding the payload files and
// the SHA256SUMS and SHA256SUMS.gpg that osbuild build --sign-key writes.
type Update struct {
	URL string `yaml:"url"`
	// Schedule, when set, is a systemd calendar expression (OnCalendar=)
	// for systemd-sysupdate.timer; without it updates start by hand
	// (systemctl start systemd-sysupdate).
	Schedule string `yaml:"schedule"`
	// Tries, when set, is how many boots an update gets to reach
	// boot-complete.target (the node's health checks pass) before
	// systemd-boot falls back to the version before it; without it the
	// image's count (sysupdate.DefaultTries). A site that would rather
	// roll back at the first failed boot says 1.
	Tries *int `yaml:"tries"`
}

// scheduleRe is what a schedule may hold: systemd's calendar syntax uses
// these characters only, and nothing that ends a unit file's line.
var scheduleRe = regexp.MustCompile(`^[A-Za-z0-9*:/,.~+ -]{1,128}$`)

// User is a login account with SSH keys.
type User struct {
	Name              string   `yaml:"name"`
	Groups            []string `yaml:"groups"`
	SSHAuthorizedKeys []string `yaml:"sshAuthorizedKeys"`
}

// Docker holds the node's engine settings.
type Docker struct {
	// Settings are daemon.json keys merged over the image's base.
	Settings map[string]any `yaml:"settings"`
	TLS      *TLS           `yaml:"tls"`
	// UsernsRemap replaces the image's id range for dockremap (100000,
	// 65536 ids). The remap is on without it (the floor's "userns-remap");
	// naming "userns-remap" in Weaken turns it off for this node.
	UsernsRemap *UsernsRemap `yaml:"usernsRemap"`
	// ContentTrust, when false, turns off the image's
	// DOCKER_CONTENT_TRUST=1 for the node's login shells (nil: on).
	ContentTrust *bool `yaml:"contentTrust"`
	// Weaken names the floor keys (dockerfloor.Keys) that Settings may set
	// below the image's floor. Without a key here, such a setting is an
	// error at render and at apply; with it, a warning the node records.
	Weaken []string `yaml:"weaken"`
}

// UsernsRemap is the subordinate id range dockerd's remap user gets.
type UsernsRemap struct {
	UID    int64 `yaml:"uid"`
	GID    int64 `yaml:"gid"`
	Offset int64 `yaml:"offset"`
}

// TLS is the engine's mutual-TLS listener. Paths are relative to the spec.
type TLS struct {
	Listen    []string `yaml:"listen"`    // e.g. tcp://0.0.0.0:2376
	CA        string   `yaml:"ca"`        // CA that signs client certificates
	Cert      string   `yaml:"cert"`      // server certificate
	Key       string   `yaml:"key"`       // server key
	Names     []string `yaml:"names"`     // DNS names clients use
	Addresses []string `yaml:"addresses"` // IP addresses clients use
}

// Authz is the authorization policy; users are client certificate CNs.
type Authz struct {
	Rules []Rule `yaml:"rules"`
}

// Rule is one authz-broker policy rule.
type Rule struct {
	Name     string   `yaml:"name" json:"name"`
	Users    []string `yaml:"users" json:"users"`
	Actions  []string `yaml:"actions" json:"actions"`
	ReadOnly bool     `yaml:"readonly" json:"readonly"`
	// Unrestricted, Binds and CapAdd are the authz limits (internal/authz):
	// a rule that is not unrestricted (nor actions ["*"]) may not create
	// privileged containers, bind host paths outside Binds, add
	// capabilities outside CapAdd, join host namespaces, ...
	Unrestricted bool     `yaml:"unrestricted" json:"unrestricted,omitempty"`
	Binds        []string `yaml:"binds" json:"binds,omitempty"`
	CapAdd       []string `yaml:"capAdd" json:"capAdd,omitempty"`
}

// File is an extra file to write.
type File struct {
	Path     string `yaml:"path"`
	Mode     string `yaml:"mode"` // octal, e.g. "0644"
	Contents string `yaml:"contents"`
}

// Unit is an extra systemd unit, or drop-ins for an existing one.
type Unit struct {
	Name     string   `yaml:"name"`
	Enabled  *bool    `yaml:"enabled"`
	Mask     bool     `yaml:"mask"`
	Contents string   `yaml:"contents"`
	Dropins  []Dropin `yaml:"dropins"`
}

// Dropin is a unit drop-in file.
type Dropin struct {
	Name     string `yaml:"name"`
	Contents string `yaml:"contents"`
}

var (
	hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	userRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	unitRe = regexp.MustCompile(`^[A-Za-z0-9:_.@-]+\.(service|socket|timer|target|path|mount|slice)$`)
	modeRe = regexp.MustCompile(`^0?[0-7]{3,4}$`)
)

// CheckUserName refuses an account or group name that Debian's useradd
// (NAME_REGEX) would not take: a lower-case letter or '_' first, then
// lower-case letters, digits, '_' and '-', 32 characters at most. Nothing
// else can reach /etc/passwd, where ':' and newlines separate entries.
// nodecfg apply uses the same rule for Ignition configs.
func CheckUserName(name string) error {
	if !userRe.MatchString(name) {
		return fmt.Errorf("%q is not a valid user name (a lower-case letter or '_', then up to 31 of a-z, 0-9, '_' and '-')", name)
	}
	return nil
}

// Load reads and validates a node spec.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading node spec: %w", err)
	}
	var s Spec
	pos, err := strictyaml.Decode(path, data, &s)
	if err != nil {
		return nil, err
	}
	s.File, s.pos = path, pos
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Path resolves a path in the spec relative to the spec's directory.
func (s *Spec) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.File), p)
}

// Line returns the line of a JSON path in the spec.
func (s *Spec) Line(path string) int { return s.pos.Line(path) }

func (s *Spec) validate() error {
	l := &fielderr.List{File: s.File}
	add := func(p, f string, a ...any) { l.Add(s.pos.Line(p), p, f, a...) }
	if s.APIVersion != APIVersion {
		add("$.apiVersion", "unsupported apiVersion %q (this nodecfg reads %q)", s.APIVersion, APIVersion)
	}
	if s.Kind != "NodeSpec" {
		add("$.kind", "must be NodeSpec, got %q", s.Kind)
	}
	if !hostRe.MatchString(s.Hostname) {
		add("$.hostname", "%q is not a valid host name", s.Hostname)
	}
	seenUser := map[string]bool{}
	for i, u := range s.Users {
		p := fielderr.Index("$.users", i)
		if err := CheckUserName(u.Name); err != nil {
			add(p+".name", "%v", err)
		}
		if seenUser[u.Name] {
			add(p+".name", "user %q is listed twice", u.Name)
		}
		seenUser[u.Name] = true
		for j, k := range u.SSHAuthorizedKeys {
			f := strings.Fields(k)
			if len(f) < 2 || !strings.HasPrefix(f[0], "ssh-") && !strings.HasPrefix(f[0], "ecdsa-") && !strings.HasPrefix(f[0], "sk-") {
				add(fielderr.Index(p+".sshAuthorizedKeys", j), "not an SSH public key line (type and base64 key)")
			}
		}
	}
	if t := s.Docker.TLS; t != nil {
		if len(t.Listen) == 0 {
			add("$.docker.tls.listen", "must list at least one tcp:// address")
		}
		for i, a := range t.Listen {
			if _, _, err := net.SplitHostPort(strings.TrimPrefix(a, "tcp://")); err != nil || !strings.HasPrefix(a, "tcp://") {
				add(fielderr.Index("$.docker.tls.listen", i), "%q is not tcp://HOST:PORT", a)
			}
		}
		for _, f := range []struct{ key, v string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
			p := "$.docker.tls." + f.key
			if f.v == "" {
				add(p, "is required")
			} else if _, err := os.Stat(s.Path(f.v)); err != nil {
				add(p, "cannot read %s: %v", s.Path(f.v), err)
			}
		}
		for i, a := range t.Addresses {
			if net.ParseIP(a) == nil {
				add(fielderr.Index("$.docker.tls.addresses", i), "%q is not an IP address", a)
			}
		}
		if len(s.Authz.Rules) == 0 {
			add("$.authz.rules", "a TLS listener needs an authorization policy: without one every certificate holder is root")
		}
	}
	if u := s.Docker.UsernsRemap; u != nil {
		for _, e := range daemonconfig.CheckUsernsRange(u.UID, u.GID, u.Offset) {
			add("$.docker.usernsRemap", "%s", e)
		}
	}
	for i, k := range s.Docker.Weaken {
		if k == "userns-remap" && s.Docker.UsernsRemap != nil {
			add(fielderr.Index("$.docker.weaken", i), "naming userns-remap turns the remap off, yet docker.usernsRemap gives it a range: keep one")
		}
		if !slices.Contains(dockerfloor.Keys(), k) {
			add(fielderr.Index("$.docker.weaken", i), "%q is not a floor key (floor keys: %s)", k, strings.Join(dockerfloor.Keys(), ", "))
		}
	}
	for _, k := range []string{"hosts", "tlsverify", "tlscacert", "tlscert", "tlskey", "tls", "authorization-plugins", "userns-remap"} {
		if _, ok := s.Docker.Settings[k]; ok {
			add("$.docker.settings."+k, "is set by nodecfg from docker.tls, docker.usernsRemap and authz; remove it here")
		}
	}
	if u := s.Update; u != nil {
		if uu, err := url.Parse(u.URL); err != nil || (uu.Scheme != "http" && uu.Scheme != "https") || uu.Host == "" || uu.RawQuery != "" || uu.Fragment != "" {
			add("$.update.url", "%q is not an http:// or https:// URL of a directory (no query or fragment)", u.URL)
		}
		if u.Schedule != "" && !scheduleRe.MatchString(u.Schedule) {
			add("$.update.schedule", "%q is not a systemd calendar expression (OnCalendar=, e.g. \"daily\" or \"Sun 03:00\")", u.Schedule)
		}
		if u.Tries != nil && (*u.Tries < 1 || *u.Tries > sysupdate.MaxTries) {
			add("$.update.tries", "%d: an update needs 1 to %d boot tries (the image's default is %d)", *u.Tries, sysupdate.MaxTries, sysupdate.DefaultTries)
		}
	}
	for i, f := range s.Files {
		p := fielderr.Index("$.files", i)
		if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path {
			add(p+".path", "%q must be an absolute, clean path", f.Path)
		}
		if strings.HasPrefix(f.Path, "/usr/") {
			add(p+".path", "%q is on the read-only, verity-protected /usr", f.Path)
		}
		if f.Mode != "" && !modeRe.MatchString(f.Mode) {
			add(p+".mode", "%q is not an octal mode such as \"0644\"", f.Mode)
		}
	}
	for i, u := range s.Units {
		p := fielderr.Index("$.units", i)
		if !unitRe.MatchString(u.Name) {
			add(p+".name", "%q is not a systemd unit name", u.Name)
		}
		if u.Mask && (u.Contents != "" || (u.Enabled != nil && *u.Enabled)) {
			add(p+".mask", "a masked unit cannot also have contents or be enabled")
		}
		for j, d := range u.Dropins {
			if !strings.HasSuffix(d.Name, ".conf") || strings.Contains(d.Name, "/") {
				add(fielderr.Index(p+".dropins", j)+".name", "%q must be a file name ending in .conf", d.Name)
			}
		}
	}
	return l.Err()
}
