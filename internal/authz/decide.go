package authz

import "fmt"

// Decision is an allow or deny with the reason and the deciding rule.
type Decision struct {
	Allow  bool
	Rule   string
	Action string
	Reason string
}

// Decide rules on a request by user (the TLS client CN; empty for the local
// unix socket, which only root and the docker group reach) for action.
func (p *Policy) Decide(user, method, action string) Decision {
	d := Decision{Action: action}
	if user == "" {
		d.Allow, d.Reason = true, "local unix socket (no TLS user)"
		return d
	}
	rule := p.RuleFor(user)
	if rule == nil {
		d.Reason = fmt.Sprintf("user %q is in no policy rule", user)
		return d
	}
	d.Rule = rule.Name
	if action == "" {
		d.Reason = "unknown API request"
		return d
	}
	if rule.ReadOnly && method != "GET" && method != "HEAD" {
		d.Reason = fmt.Sprintf("rule %q is read-only; %s %s is a write", rule.Name, method, action)
		return d
	}
	for _, re := range rule.patterns {
		if re.MatchString(action) {
			d.Allow, d.Reason = true, fmt.Sprintf("rule %q allows %s", rule.Name, action)
			return d
		}
	}
	d.Reason = fmt.Sprintf("rule %q does not allow %s", rule.Name, action)
	return d
}
