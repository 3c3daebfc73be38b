// Package dockerfloor owns the hardened base daemon.json every Bulwark node
// runs on (the floor) and the rule that keeps it: a node's settings merge
// over it and may not weaken it unless the node spec names each weakening.
//
// The floor is one file, embedded here. osbuild installs it in the image's
// verity-protected /usr (and as the image's default /etc/docker/daemon.json);
// nodecfg render merges over the embedded copy, whatever directory it runs
// in; nodecfg apply merges over the copy in the node's own /usr on every
// apply, whatever tool made the Ignition config. The floor is enforced where
// it takes effect, so a config made by hand or by Butane cannot drop it.
package dockerfloor

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/opts"

	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/fielderr"
	"github.com/bulwark/bulwark/internal/nodepaths"
)

// NodePath is where the image carries the floor: under /usr, so dm-verity
// protects it and a node cannot be given another.
const NodePath = nodepaths.Floor

// WeakenPath is the file of an Ignition config that lists, as a JSON array,
// the floor keys the node spec allowed to be weakened (docker.weaken).
const WeakenPath = nodepaths.Weaken

//go:embed daemon.json
var embedded []byte

// Embedded returns the floor built into this binary.
func Embedded() []byte { return slices.Clone(embedded) }

// Digest names a floor by its content, so a user sees which one was used.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])[:16]
}

// Parse reads a floor, strictly: it must itself be a valid daemon.json
// that keeps every rule it stands for.
func Parse(file string, b []byte) (daemonconfig.Config, error) {
	c, err := daemonconfig.Parse(file, b)
	if err != nil {
		return nil, err
	}
	if err := daemonconfig.Check(file, c, nil); err != nil {
		return nil, err
	}
	for _, r := range rules {
		if _, ok := c[r.key]; !ok {
			return nil, &fielderr.Error{File: file, Path: "$." + r.key, Msg: "the floor must set " + r.key}
		}
	}
	return c, nil
}

// rule is one key of the floor and what keeps it.
type rule struct {
	key string
	// weaker reports why node's value is weaker than the floor's, or "".
	weaker func(floor, node any) string
}

// mustEqual keeps a value exactly: another seccomp profile, runtime or
// runtime definition is a different confinement, not a stronger one.
func mustEqual(what string) func(floor, node any) string {
	return func(floor, node any) string {
		if reflect.DeepEqual(floor, node) {
			return ""
		}
		return fmt.Sprintf("%s %v replaces the floor's %v", what, show(node), show(floor))
	}
}

// mustBe keeps a boolean at the floor's value.
func mustBe(why string) func(floor, node any) string {
	return func(floor, node any) string {
		if reflect.DeepEqual(floor, node) {
			return ""
		}
		return fmt.Sprintf("%v %s (the floor sets %v)", show(node), why, show(floor))
	}
}

// rules are the floor's keys that a node may weaken only by name.
var rules = []rule{
	{"selinux-enabled", mustBe("turns off SELinux labelling of containers")},
	{"no-new-privileges", mustBe("lets container processes gain privileges through setuid binaries")},
	{"seccomp-profile", mustEqual("seccomp profile")},
	{"icc", mustBe("lets containers on the default bridge talk to each other")},
	{"default-runtime", mustEqual("default runtime")},
	{"runtimes", mustEqual("runtimes")},
	{"userland-proxy", mustBe("puts docker-proxy in front of published ports")},
	// Container root is the remap user's first subordinate id, not the
	// host's root. The node's ranges come from /etc/subuid and /etc/subgid
	// (the image's, or the node spec's docker.usernsRemap); "" turns the
	// remap off, which the node spec asks for by naming the key in
	// docker.weaken.
	{"userns-remap", mustEqual("user-namespace remap")},
}

// Keys lists the floor keys a node spec may name in docker.weaken.
func Keys() []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.key
	}
	return out
}

func show(v any) string {
	if v == nil {
		return "(unset)"
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// Result is a node's daemon.json on the floor.
type Result struct {
	Config daemonconfig.Config
	// Weakened lists, for each allowed weakening, what it does.
	Weakened []string
}

// Apply merges node over floor and refuses every weakening that allow does
// not name, each as an error at the key's path in file. A key the node
// leaves out keeps the floor's value; removing a floor key is not possible
// by leaving it out. It also refuses listeners that are not the local
// socket or TCP with mutual TLS, as dockerd would parse them.
func Apply(file string, floor, node daemonconfig.Config, allow []string) (*Result, error) {
	errs := &fielderr.List{File: file}
	known := map[string]bool{}
	for _, r := range rules {
		known[r.key] = true
	}
	for i, a := range allow {
		if !known[a] {
			errs.Add(0, fmt.Sprintf("docker.weaken[%d]", i), "%q is not a floor key (floor keys: %s)", a, strings.Join(Keys(), ", "))
		}
	}
	merged := daemonconfig.Merge(floor, node)
	res := &Result{Config: merged}
	for _, r := range rules {
		nv, set := node[r.key]
		if !set {
			continue
		}
		why := r.weaker(floor[r.key], nv)
		if why == "" {
			continue
		}
		if slices.Contains(allow, r.key) {
			res.Weakened = append(res.Weakened, r.key+": "+why)
			continue
		}
		errs.Add(0, "$."+r.key, "weakens the node's floor: %s; name %q in the node spec's docker.weaken to allow it", why, r.key)
	}
	checkHosts(errs, merged)
	sort.Strings(res.Weakened)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// checkHosts parses every listener with dockerd's own parser (so
// "0.0.0.0:2375", ":2375" and " tcp://..." are the TCP listeners dockerd
// makes of them) and allows only unix sockets and TCP with mutual TLS and
// an authorization plugin. This one is never negotiable: a TCP listener
// without them is an unauthenticated root shell on the network.
func checkHosts(errs *fielderr.List, c daemonconfig.Config) {
	raw, ok := daemonconfig.StringList(c["hosts"])
	if !ok {
		if _, set := c["hosts"]; set {
			errs.Add(0, "$.hosts", "must be a list of strings")
		}
		return
	}
	tlsverify, _ := c["tlsverify"].(bool)
	for i, s := range raw {
		p := fmt.Sprintf("$.hosts[%d]", i)
		host, err := opts.ParseHost(tlsverify, false, s)
		if err != nil {
			errs.Add(0, p, "dockerd cannot parse %q: %v", s, err)
			continue
		}
		switch {
		case strings.HasPrefix(host, "unix://"):
		case strings.HasPrefix(host, "tcp://"):
			if !tlsverify {
				errs.Add(0, p, "%q is the TCP listener %s without \"tlsverify\": true: an unauthenticated root API", s, host)
				continue
			}
			for _, k := range []string{"tlscacert", "tlscert", "tlskey"} {
				if v, _ := c[k].(string); v == "" {
					errs.Add(0, p, "TCP listener %s needs %q", host, k)
				}
			}
			if pl, _ := daemonconfig.StringList(c["authorization-plugins"]); len(pl) == 0 {
				errs.Add(0, p, "TCP listener %s without an authorization plugin gives every certificate holder root", host)
			}
		default:
			errs.Add(0, p, "listener %s is neither a unix socket nor TCP with mutual TLS", host)
		}
	}
}
