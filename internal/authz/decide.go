package authz

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/docker/go-plugins-helpers/authorization"
)

// AuthNTLS is the UserAuthNMethod dockerd sets for a TLS client certificate
// (pkg/authorization/middleware.go); User is then the certificate's CN.
const AuthNTLS = "TLS"

// Decision is an allow or deny with the reason, the deciding rule and what
// was asked, for the log.
type Decision struct {
	Allow  bool
	Rule   string
	Action string
	Reason string

	User, AuthN, Method, URI string

	// Took is how long the plugin spent deciding (Plugin.AuthZReq around
	// Authorize, body decoding included); zero outside the plugin.
	Took time.Duration
}

// Authorize decides on one request as dockerd passes it to the plugin. It
// is the only decision path: the plugin's AuthZReq and `nodecfg authz
// check` both call it.
//
// A request without method or URI is denied: dockerd never sends one.
// Identity: a request with neither user nor authentication method came in
// on the local unix socket, which only root and the docker group reach,
// and is allowed. A TLS request is decided by its certificate's CN and
// nothing else, so an empty or unusable CN is denied, as is any other
// method or a user without one.
func (p *Policy) Authorize(r authorization.Request) Decision {
	d := Decision{User: r.User, AuthN: r.UserAuthNMethod, Method: r.RequestMethod, URI: r.RequestURI}
	d.Action = Action(r.RequestMethod, r.RequestURI)
	switch {
	case r.RequestMethod == "" || r.RequestURI == "":
		// dockerd always sends both. go-plugins-helpers calls AuthZReq
		// even when it could not decode the call (it answers 400 and then
		// asks anyway, with an empty request), and an empty request looks
		// like the local socket: deny it here, so no undecodable call is
		// ever allowed, whatever the status code around the answer.
		d.Reason = "no request method or URI: not a request dockerd sends"
		return d
	case r.User == "" && r.UserAuthNMethod == "":
		d.Allow, d.Reason = true, "local unix socket (no TLS user)"
		return d
	case r.UserAuthNMethod != AuthNTLS:
		d.Reason = fmt.Sprintf("authentication method %q is not TLS: only client certificates identify users", r.UserAuthNMethod)
		return d
	}
	if err := usableUser(r.User); err != nil {
		d.Reason = fmt.Sprintf("TLS client certificate: %v", err)
		return d
	}
	rule := p.RuleFor(r.User)
	if rule == nil {
		d.Reason = fmt.Sprintf("user %q is in no policy rule", r.User)
		return d
	}
	d.Rule = rule.Name
	if d.Action == "" {
		d.Reason = fmt.Sprintf("unknown API request %s %s", r.RequestMethod, r.RequestURI)
		return d
	}
	if !rule.matches(d.Action) {
		d.Reason = fmt.Sprintf("rule %q does not allow %s", rule.Name, d.Action)
		return d
	}
	if ok, why := rule.mayAllow(d.Action); !ok {
		d.Reason = fmt.Sprintf("rule %q: %s", rule.Name, why)
		return d
	}
	if !rule.ReadOnly && !rule.unrestricted() {
		if why := p.checkRequest(rule, d.Action, r); len(why) > 0 {
			d.Reason = fmt.Sprintf("rule %q limits %s: %s", rule.Name, d.Action, strings.Join(why, "; "))
			return d
		}
	}
	d.Allow, d.Reason = true, fmt.Sprintf("rule %q allows %s", rule.Name, d.Action)
	return d
}

// checkRequest applies a restricted rule's limits to what the request asks
// for beyond its action: its body, or for a build its query.
func (p *Policy) checkRequest(rule *Rule, action string, r authorization.Request) []string {
	if action == "image_build" {
		u, err := url.ParseRequestURI(r.RequestURI)
		if err != nil {
			return []string{fmt.Sprintf("request URI: %v", err)}
		}
		return checkBuild(u.Query())
	}
	kind := bodyKinds[action]
	if kind == noBody {
		return nil
	}
	b, err := decodeBody(kind, r.RequestBody)
	if err != nil {
		return []string{err.Error()}
	}
	switch kind {
	case createBody:
		why := p.checkHostConfig(rule, "HostConfig", b.create.HostConfig)
		why = append(why, p.checkHostConfig(rule, "(top level)", b.legacy)...)
		if nc := b.create.NetworkingConfig; nc != nil {
			for name := range nc.EndpointsConfig {
				if strings.EqualFold(strings.TrimSpace(name), "host") {
					why = append(why, "NetworkingConfig.EndpointsConfig: the host network")
				}
			}
		}
		return why
	case updateBody:
		return checkResources("Resources", &b.update.Resources)
	case execBody:
		return checkExec(b.exec)
	case volumeBody:
		if len(b.volume.ClusterVolumeSpec) > 0 && !isZeroJSON(b.volume.ClusterVolumeSpec) {
			return []string{"ClusterVolumeSpec: cluster volumes are CSI plugins, not for restricted rules"}
		}
		return p.checkVolumeDriver(rule, "volume", b.volume.Driver, b.volume.DriverOpts)
	}
	return nil
}
