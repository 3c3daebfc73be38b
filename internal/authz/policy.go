// Package authz is Bulwark's Docker authorization: the policy (authz-broker's
// format, one JSON rule per line, plus limits on what a rule's users may ask
// for), the mapping of Docker API requests to action names, the decoding of
// request bodies, and the decision. The user is the CN of the TLS client
// certificate, which dockerd passes to authorization plugins.
//
// The plugin and `nodecfg authz check` decide through the one entry point,
// Policy.Authorize, on an authorization.Request.
package authz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// Rule grants users a set of actions. A rule is unrestricted when it says so
// or grants every action ("*"); every other rule is limited in what a
// container create, update or exec may ask for (see limits.go), and Binds
// and CapAdd widen those limits. A read-only rule allows only read-safe
// actions (see classes.go), whatever its patterns match.
type Rule struct {
	Name     string   `json:"name"`
	Users    []string `json:"users"`
	Actions  []string `json:"actions"`
	ReadOnly bool     `json:"readonly"`
	// Unrestricted lifts every limit on request bodies.
	Unrestricted bool `json:"unrestricted,omitempty"`
	// Binds lists the host directories (absolute, clean) the rule's users
	// may bind into containers, each with everything below it.
	Binds []string `json:"binds,omitempty"`
	// CapAdd lists the capabilities the rule's users may add beyond
	// Docker's default set, spelled as for `docker run --cap-add`.
	CapAdd []string `json:"capAdd,omitempty"`

	patterns []*regexp.Regexp
	caps     map[string]bool // CapAdd, normalized
}

// unrestricted reports whether the rule's requests go without body limits.
func (r *Rule) unrestricted() bool {
	return !r.ReadOnly && (r.Unrestricted || slices.Contains(r.Actions, "*"))
}

// Policy is an ordered list of rules. The first rule naming a user decides
// for that user, which is why a user may appear in one rule only.
type Policy struct {
	Rules []Rule

	// resolve turns a host path into the one a bind would reach, following
	// symlinks; nil means the real file system (resolveHost).
	resolve func(string) (string, error)
}

// Load reads and validates the policy file at path.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return Parse(path, b)
}

// Parse reads and validates a policy. file names it in errors; every
// problem is reported, each with its line and JSON path.
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
			errs.Add(line, path, "not a policy rule (want {\"name\",\"users\",\"actions\",\"readonly\",\"unrestricted\",\"binds\",\"capAdd\"}): %v", err)
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
		checkUsers(errs, line, path, &r, users)
		checkActions(errs, line, path, &r)
		checkLimits(errs, line, path, &r)
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

// compileAction turns an action or pattern into a regexp that must match a
// whole action name; "*" alone means every action. The pattern is parsed
// on its own first, and anchored as a syntax tree rather than by pasting
// strings: pasted into "^(?:" + a + ")$", a pattern such as
// `container_list)|(.*` closes the group itself and matches everything.
func compileAction(a string) (*regexp.Regexp, error) {
	if a == "*" {
		a = ".*"
	}
	re, err := syntax.Parse(a, syntax.Perl)
	if err != nil {
		return nil, err
	}
	anchored := &syntax.Regexp{Op: syntax.OpConcat, Flags: syntax.Perl, Sub: []*syntax.Regexp{
		{Op: syntax.OpBeginText}, re, {Op: syntax.OpEndText},
	}}
	return regexp.Compile(anchored.String())
}

// RuleFor returns the rule that decides for user, or nil.
func (p *Policy) RuleFor(user string) *Rule {
	for i := range p.Rules {
		if slices.Contains(p.Rules[i].Users, user) {
			return &p.Rules[i]
		}
	}
	return nil
}

// matches reports whether one of the rule's patterns matches action.
func (r *Rule) matches(action string) bool {
	for _, re := range r.patterns {
		if re.MatchString(action) {
			return true
		}
	}
	return false
}
