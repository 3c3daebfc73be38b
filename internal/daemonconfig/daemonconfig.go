// Package daemonconfig checks Docker daemon.json files the way dockerd reads
// them (every key known, every value of the right type) and adds Bulwark's
// rules for a safe node: no TCP listener without mutual TLS and an
// authorization plugin, and no key the docker unit also passes as a flag
// (dockerd refuses to start on such a conflict, leaving the node without
// its engine).
package daemonconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/fielderr"
)

type kind int

const (
	kString kind = iota
	kBool
	kInt
	kStrings
	kStringMap
	kObject
	kObjects
)

func (k kind) String() string {
	return [...]string{"a string", "true or false", "an integer", "a list of strings", "an object of strings", "an object", "a list of objects"}[k]
}

// keys are dockerd 26's daemon.json options and their JSON types.
var keys = map[string]kind{
	"allow-nondistributable-artifacts": kStrings, "api-cors-header": kString, "authorization-plugins": kStrings,
	"bip": kString, "bridge": kString, "builder": kObject, "cgroup-parent": kString, "containerd": kString,
	"containerd-namespace": kString, "containerd-plugin-namespace": kString, "cpu-rt-period": kInt,
	"cpu-rt-runtime": kInt, "cri-containerd": kBool, "data-root": kString, "debug": kBool,
	"default-address-pools": kObjects, "default-cgroupns-mode": kString, "default-gateway": kString,
	"default-gateway-v6": kString, "default-ipc-mode": kString, "default-network-opts": kObject,
	"default-runtime": kString, "default-shm-size": kString, "default-ulimits": kObject, "dns": kStrings,
	"dns-opts": kStrings, "dns-search": kStrings, "exec-opts": kStrings, "exec-root": kString,
	"experimental": kBool, "features": kObject, "fixed-cidr": kString, "fixed-cidr-v6": kString,
	"group": kString, "host-gateway-ip": kString, "hosts": kStrings, "icc": kBool, "init": kBool,
	"init-path": kString, "insecure-registries": kStrings, "ip": kString, "ip-forward": kBool,
	"ip-masq": kBool, "ip6tables": kBool, "iptables": kBool, "ipv6": kBool, "labels": kStrings,
	"live-restore": kBool, "log-driver": kString, "log-format": kString, "log-level": kString,
	"log-opts": kStringMap, "max-concurrent-downloads": kInt, "max-concurrent-uploads": kInt,
	"max-download-attempts": kInt, "metrics-addr": kString, "mtu": kInt, "no-new-privileges": kBool,
	"node-generic-resources": kStrings, "oom-score-adjust": kInt, "pidfile": kString, "proxies": kObject,
	"raw-logs": kBool, "registry-mirrors": kStrings, "runtimes": kObject, "seccomp-profile": kString,
	"selinux-enabled": kBool, "shutdown-timeout": kInt, "storage-driver": kString, "storage-opts": kStrings,
	"swarm-default-advertise-addr": kString, "tls": kBool, "tlscacert": kString, "tlscert": kString,
	"tlskey": kString, "tlsverify": kBool, "userland-proxy": kBool, "userland-proxy-path": kString,
	"userns-remap": kString,
}

// flagKeys maps dockerd command-line flags to the daemon.json key they set.
var flagKeys = map[string]string{
	"-H": "hosts", "--host": "hosts", "--tlsverify": "tlsverify", "--tls": "tls", "--tlscacert": "tlscacert",
	"--tlscert": "tlscert", "--tlskey": "tlskey", "--containerd": "containerd", "--data-root": "data-root",
	"--log-driver": "log-driver", "--authorization-plugin": "authorization-plugins", "--selinux-enabled": "selinux-enabled",
	"--seccomp-profile": "seccomp-profile", "--userns-remap": "userns-remap", "--icc": "icc", "--live-restore": "live-restore",
	"--no-new-privileges": "no-new-privileges", "--userland-proxy": "userland-proxy", "--storage-driver": "storage-driver",
	"-D": "debug", "--debug": "debug", "--log-level": "log-level", "-l": "log-level", "-G": "group", "--group": "group",
}

// Config is a decoded daemon.json, keys in file order kept separately.
type Config map[string]any

// Parse decodes data strictly: one JSON object, no duplicate keys.
func Parse(file string, data []byte) (Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, &fielderr.Error{File: file, Path: "$", Msg: fmt.Sprintf("not a JSON object: %v", err)}
	}
	if dec.More() {
		return nil, &fielderr.Error{File: file, Path: "$", Msg: "trailing data after the JSON object"}
	}
	if c == nil {
		return nil, &fielderr.Error{File: file, Path: "$", Msg: "must be a JSON object"}
	}
	return c, nil
}

// Check validates c; unitFlags are the flags docker.service passes to
// dockerd. Every problem is returned at once.
func Check(file string, c Config, unitFlags []string) error {
	errs := &fielderr.List{File: file}
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		want, ok := keys[k]
		if !ok {
			errs.Add(0, "$."+k, "dockerd has no option %q%s", k, suggest(k))
			continue
		}
		if !hasKind(c[k], want) {
			errs.Add(0, "$."+k, "must be %s", want)
		}
	}
	for _, f := range unitFlags {
		name, _, _ := strings.Cut(f, "=")
		if k, ok := flagKeys[name]; ok {
			if _, set := c[k]; set {
				errs.Add(0, "$."+k, "also set by the docker unit's %s flag: dockerd refuses to start when an option is given twice", name)
			}
		}
	}
	hosts, _ := stringList(c["hosts"])
	for i, h := range hosts {
		if !strings.HasPrefix(h, "tcp://") {
			continue
		}
		p := fmt.Sprintf("$.hosts[%d]", i)
		if v, _ := c["tlsverify"].(bool); !v {
			errs.Add(0, p, "TCP listener %s without \"tlsverify\": true would expose an unauthenticated root API", h)
		}
		for _, k := range []string{"tlscacert", "tlscert", "tlskey"} {
			if s, _ := c[k].(string); s == "" {
				errs.Add(0, p, "TCP listener %s needs %q", h, k)
			}
		}
		if plugins, _ := stringList(c["authorization-plugins"]); len(plugins) == 0 {
			errs.Add(0, p, "TCP listener %s without an authorization plugin gives every certificate holder root", h)
		}
	}
	return errs.Err()
}

// Merge returns base with over's keys replacing base's.
func Merge(base, over Config) Config {
	out := Config{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Marshal renders c as indented JSON with sorted keys.
func (c Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(map[string]any(c), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func hasKind(v any, k kind) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kInt:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case kStrings:
		_, ok := stringList(v)
		return ok
	case kStringMap:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, x := range m {
			if _, ok := x.(string); !ok {
				return false
			}
		}
		return true
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	case kObjects:
		l, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range l {
			if _, ok := x.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// StringList returns a list of strings as decoded from JSON ([]any) or
// built in Go ([]string); ok is false for anything else.
func StringList(v any) ([]string, bool) { return stringList(v) }

func stringList(v any) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return l, true
	case []any:
		out := make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// suggest names a known key one edit away, for typos like "tlsverfy".
func suggest(k string) string {
	best, bestD := "", 3
	for known := range keys {
		if d := distance(k, known); d < bestD {
			best, bestD = known, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// RemapUser is the account dockerd uses for "userns-remap": "default".
const RemapUser = "dockremap"

// CheckUsernsRange checks a user-namespace remap range: the first
// subordinate uid and gid and the size of the range. Every id of the range
// must fit in 32 bits, or the kernel refuses the mapping at container start.
// The size may be up to 65536, the whole 16-bit id space a container's
// files commonly use (0 to 65535), which is also Docker's and shadow's
// default range and the image's (/etc/subuid: dockremap, 100000, 65536).
func CheckUsernsRange(uid, gid, offset int64) []string {
	var errs []string
	if uid < 0 || gid < 0 {
		errs = append(errs, fmt.Sprintf("uid %d and gid %d must not be negative", uid, gid))
	}
	if offset <= 0 || offset > 65536 {
		errs = append(errs, fmt.Sprintf("offset %d must be between 1 and 65536", offset))
	}
	const maxID = 1<<32 - 1
	if uid+offset > maxID {
		errs = append(errs, fmt.Sprintf("uid %d + offset %d exceeds 2^32-1", uid, offset))
	}
	if gid+offset > maxID {
		errs = append(errs, fmt.Sprintf("gid %d + offset %d exceeds 2^32-1", gid, offset))
	}
	return errs
}
