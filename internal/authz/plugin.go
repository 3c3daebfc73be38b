package authz

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

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
	// Event records what happens to the policy (a reload taken or
	// refused); by default to the journal, with BULWARK_AUTHZ_POLICY and
	// BULWARK_AUTHZ_RELOAD fields.
	Event func(e ReloadEvent)
}

// ReloadEvent is the outcome of one Reload.
type ReloadEvent struct {
	Path  string
	Rules int   // rules in force after the reload
	Err   error // why the file was refused; nil when it was taken
}

// Message is the line the journal gets: the file, what happened, and for
// a refusal every problem with its line and JSON path.
func (e ReloadEvent) Message() string {
	if e.Err != nil {
		return fmt.Sprintf("policy %s: reload refused, the policy loaded before stays in force (%d rules): %v", e.Path, e.Rules, e.Err)
	}
	return fmt.Sprintf("policy %s: reloaded (%d rules)", e.Path, e.Rules)
}

// NewPlugin loads the policy at path.
func NewPlugin(path string) (*Plugin, error) {
	pol, err := Load(path)
	if err != nil {
		return nil, err
	}
	return &Plugin{path: path, policy: pol, Log: journalLog, Event: journalEvent}, nil
}

// Reload re-reads the policy. An invalid policy is refused and the current
// one stays in force: a typo must not open or close the whole API. Either
// way the outcome goes to Event, so the operator who sent SIGHUP can read
// in the journal whether the new file is in force, and if not, why.
func (p *Plugin) Reload() error {
	pol, err := Load(p.path)
	p.mu.Lock()
	if err == nil {
		p.policy = pol
	}
	e := ReloadEvent{Path: p.path, Rules: len(p.policy.Rules), Err: err}
	p.mu.Unlock()
	if p.Event != nil {
		p.Event(e)
	}
	return err
}

// AuthZReq decides on a request before dockerd handles it.
func (p *Plugin) AuthZReq(r authorization.Request) authorization.Response {
	start := time.Now()
	p.mu.RLock()
	pol := p.policy
	p.mu.RUnlock()
	d := pol.Authorize(r)
	d.Took = time.Since(start)
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
// what for, the rule, the reason and how long deciding took (in
// BULWARK_AUTHZ_TOOK_NS, for load measurements); denials at notice priority.
func journalLog(d Decision) {
	verdict := "deny"
	prio := journal.PriNotice
	if d.Allow {
		verdict, prio = "allow", journal.PriInfo
	}
	msg := fmt.Sprintf("%s user=%q authn=%q %s %s action=%s rule=%q: %s", verdict, d.User, d.AuthN, d.Method, d.URI, d.Action, d.Rule, d.Reason)
	journalSend(msg, prio, map[string]string{
		"BULWARK_AUTHZ_DECISION": verdict, "BULWARK_AUTHZ_USER": d.User, "BULWARK_AUTHZ_AUTHN": d.AuthN,
		"BULWARK_AUTHZ_ACTION": d.Action, "BULWARK_AUTHZ_RULE": d.Rule, "BULWARK_AUTHZ_REASON": d.Reason,
		"BULWARK_AUTHZ_TOOK_NS": strconv.FormatInt(d.Took.Nanoseconds(), 10),
	})
}

// journalEvent records a reload: taken at notice priority, refused at
// warning, as one entry however many problems the file has.
func journalEvent(e ReloadEvent) {
	outcome, prio := "taken", journal.PriNotice
	if e.Err != nil {
		outcome, prio = "refused", journal.PriWarning
	}
	journalSend(e.Message(), prio, map[string]string{"BULWARK_AUTHZ_POLICY": e.Path, "BULWARK_AUTHZ_RELOAD": outcome})
}

// journalSend writes one entry to the journal, or to stderr (which systemd
// also puts in the journal, without the fields) when there is none.
func journalSend(msg string, prio journal.Priority, vars map[string]string) {
	if journal.Enabled() {
		if err := journal.Send(msg, prio, vars); err == nil {
			return
		}
	}
	fmt.Fprintln(os.Stderr, msg)
}
