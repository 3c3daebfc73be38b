package authz

import (
	"fmt"
	"os"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/docker/go-plugins-helpers/authorization"
)

// PluginName is the name dockerd knows the plugin by (daemon.json
// "authorization-plugins"); its socket is /run/docker/plugins/<name>.sock.
const PluginName = "bulwark-authz"

// Plugin serves Docker's authorization plugin protocol from a policy file.
// The policy is swapped atomically on Reload, so requests in flight finish
// under the old one and none is dropped.
type Plugin struct {
	path   string
	mu     sync.RWMutex
	policy *Policy
	// Log records each decision; by default to the journal.
	Log func(d Decision)
}

// NewPlugin loads the policy at path.
func NewPlugin(path string) (*Plugin, error) {
	p := &Plugin{path: path, Log: journalLog}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload re-reads the policy. An invalid policy is refused and the current
// one stays in force: a typo must not open or close the whole API.
func (p *Plugin) Reload() error {
	pol, err := Load(p.path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.policy = pol
	p.mu.Unlock()
	return nil
}

// AuthZReq decides on a request before dockerd handles it.
func (p *Plugin) AuthZReq(r authorization.Request) authorization.Response {
	p.mu.RLock()
	pol := p.policy
	p.mu.RUnlock()
	d := pol.Authorize(r)
	if p.Log != nil {
		p.Log(d)
	}
	if !d.Allow {
		return authorization.Response{Allow: false, Msg: "bulwark-authz: " + d.Reason}
	}
	return authorization.Response{Allow: true}
}

// AuthZRes lets every response through: decisions are made on requests.
func (p *Plugin) AuthZRes(authorization.Request) authorization.Response {
	return authorization.Response{Allow: true}
}

// Handler returns the plugin protocol handler.
func (p *Plugin) Handler() *authorization.Handler { return authorization.NewHandler(p) }

// journalLog records a decision with who asked, how they were identified,
// what for, the rule and the reason; denials at notice priority.
func journalLog(d Decision) {
	verdict := "deny"
	prio := journal.PriNotice
	if d.Allow {
		verdict, prio = "allow", journal.PriInfo
	}
	msg := fmt.Sprintf("%s user=%q authn=%q %s %s action=%s rule=%q: %s", verdict, d.User, d.AuthN, d.Method, d.URI, d.Action, d.Rule, d.Reason)
	vars := map[string]string{
		"BULWARK_AUTHZ_DECISION": verdict, "BULWARK_AUTHZ_USER": d.User, "BULWARK_AUTHZ_AUTHN": d.AuthN,
		"BULWARK_AUTHZ_ACTION": d.Action, "BULWARK_AUTHZ_RULE": d.Rule, "BULWARK_AUTHZ_REASON": d.Reason,
	}
	if journal.Enabled() {
		if err := journal.Send(msg, prio, vars); err == nil {
			return
		}
	}
	fmt.Fprintln(os.Stderr, msg)
}
