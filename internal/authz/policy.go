// Package authz is Bulwark's Docker authorization: the policy (authz-broker's
// format, one JSON rule per line), the mapping of Docker API requests to
// action names, and the decision. The user is the CN of the TLS client
// certificate, which dockerd passes to authorization plugins.
package authz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// Rule grants users a set of actions; readonly users may only read.
type Rule struct {
	Name     string   `json:"name"`
	Users    []string `json:"users"`
	Actions  []string `json:"actions"`
	ReadOnly bool     `json:"readonly"`

	patterns []*regexp.Regexp
}

// Policy is an ordered list of rules. The first rule naming a user decides
// for that user, which is why a user may appear in one rule only.
type Policy struct {
	Rules []Rule
}

// Parse reads and validates a policy. file names it in errors; every
// problem is reported, each with its line.
func Parse(file string, data []byte) (*Policy, error) {
	errs := &fielderr.List{File: file}
	p := &Policy{}
	names := map[string]int{}
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		path := fmt.Sprintf("$[%d]", len(p.Rules))
		var r Rule
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			errs.Add(line, path, "not a policy rule (want {\"name\",\"users\",\"actions\",\"readonly\"}): %v", err)
			continue
		}
		if dec.More() {
			errs.Add(line, path, "more than one JSON object on the line")
			continue
		}
		if r.Name == "" {
			errs.Add(line, path+".name", "must not be empty")
		} else if prev, ok := names[r.Name]; ok {
			errs.Add(line, path+".name", "rule name %q is already used on line %d", r.Name, prev)
		}
		names[r.Name] = line
		if len(r.Users) == 0 {
			errs.Add(line, path+".users", "must list at least one user (the client certificate CN)")
		}
		for i, u := range r.Users {
			up := fmt.Sprintf("%s.users[%d]", path, i)
			switch prev, dup := users[u]; {
			case u == "":
				errs.Add(line, up, "user must not be empty")
			case dup:
				errs.Add(line, up, "user %q is already in rule %q: the first rule decides, so this one would never apply", u, prev)
			default:
				users[u] = r.Name
			}
		}
		if len(r.Actions) == 0 {
			errs.Add(line, path+".actions", "must list at least one action or pattern")
		}
		for i, a := range r.Actions {
			ap := fmt.Sprintf("%s.actions[%d]", path, i)
			re, err := compileAction(a)
			if err != nil {
				errs.Add(line, ap, "%q does not compile: %v", a, err)
				continue
			}
			if !matchesAny(re) {
				errs.Add(line, ap, "%q matches no Docker API action (known actions look like container_create, image_list)", a)
				continue
			}
			r.patterns = append(r.patterns, re)
		}
		p.Rules = append(p.Rules, r)
	}
	if err := sc.Err(); err != nil {
		errs.Add(line, "$", "reading policy: %v", err)
	}
	if len(p.Rules) == 0 && errs.Len() == 0 {
		errs.Add(0, "$", "policy has no rules: every TLS user would be denied")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// compileAction turns an action or pattern into an anchored regexp; "*"
// alone means every action.
func compileAction(a string) (*regexp.Regexp, error) {
	if a == "*" {
		a = ".*"
	}
	return regexp.Compile("^(?:" + a + ")$")
}

func matchesAny(re *regexp.Regexp) bool {
	for _, r := range routes {
		if re.MatchString(r.action) {
			return true
		}
	}
	return false
}

// RuleFor returns the rule that decides for user, or nil.
func (p *Policy) RuleFor(user string) *Rule {
	for i := range p.Rules {
		for _, u := range p.Rules[i].Users {
			if u == user {
				return &p.Rules[i]
			}
		}
	}
	return nil
}
