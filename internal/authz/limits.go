package authz

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// Limits of a restricted rule (not unrestricted, not read-only). Each
// check returns the reasons a request exceeds them; none means allowed.
//
// Namespaces: a restricted container gets its own pid, ipc, uts, user and
// cgroup namespaces and a network other than the host's. Joining another
// container's namespaces ("container:<id>" for pid, ipc, network, and the
// cgroup) is refused as well: the other container may be privileged, run
// on the host network or belong to someone else, and with its pid
// namespace comes ptrace and /proc/<pid>/root into it.

// checkHostConfig checks a container's host config, from a create body.
func (p *Policy) checkHostConfig(r *Rule, field string, hc *container.HostConfig) []string {
	if hc == nil {
		return nil
	}
	var why []string
	add := func(format string, a ...any) { why = append(why, field+"."+fmt.Sprintf(format, a...)) }
	if hc.Privileged {
		add("Privileged: a privileged container is root on the node")
	}
	for i, b := range hc.Binds {
		src, host, err := bindSource(b)
		switch {
		case err != nil:
			add("Binds[%d]: %v", i, err)
		case host:
			if w := p.checkHostPath(r, fmt.Sprintf("%s.Binds[%d]", field, i), src); w != "" {
				why = append(why, w)
			}
		}
	}
	if hc.VolumeDriver != "" && hc.VolumeDriver != "local" {
		add("VolumeDriver %q: volume plugins are not for restricted rules", hc.VolumeDriver)
	}
	if len(hc.VolumesFrom) > 0 {
		add("VolumesFrom %q: another container's volumes may be host binds this rule could not ask for", hc.VolumesFrom)
	}
	for i, m := range hc.Mounts {
		mf := fmt.Sprintf("%s.Mounts[%d]", field, i)
		switch m.Type {
		case "bind":
			if w := p.checkHostPath(r, mf, m.Source); w != "" {
				why = append(why, w)
			}
		case "volume":
			if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
				why = append(why, p.checkVolumeDriver(r, mf+".VolumeOptions.DriverConfig", m.VolumeOptions.DriverConfig.Name, m.VolumeOptions.DriverConfig.Options)...)
			}
		case "tmpfs", "image":
		default:
			why = append(why, fmt.Sprintf("%s: mount type %q is not for restricted rules", mf, m.Type))
		}
	}
	if hc.PidMode != "" {
		add("PidMode %q: the pid namespace of the host or another container", hc.PidMode)
	}
	if !slices.Contains([]container.IpcMode{"", "private", "shareable", "none"}, hc.IpcMode) {
		add("IpcMode %q: the ipc namespace of the host or another container", hc.IpcMode)
	}
	if hc.UTSMode != "" {
		add("UTSMode %q: the host's uts namespace", hc.UTSMode)
	}
	if nm := strings.ToLower(strings.TrimSpace(string(hc.NetworkMode))); nm == "host" || strings.HasPrefix(nm, "container:") {
		add("NetworkMode %q: the network namespace of the host or another container", hc.NetworkMode)
	}
	if hc.UsernsMode != "" && hc.UsernsMode != "private" {
		add("UsernsMode %q: leaving the user namespace makes container root the host's root", hc.UsernsMode)
	}
	if hc.CgroupnsMode != "" && hc.CgroupnsMode != "private" {
		add("CgroupnsMode %q: the host's cgroup namespace", hc.CgroupnsMode)
	}
	if hc.Cgroup != "" {
		add("Cgroup %q: another container's cgroup", hc.Cgroup)
	}
	for i, c := range hc.CapAdd {
		if n := normalizeCap(c); n == allCaps {
			add("CapAdd[%d] %q: every capability is root on the node", i, c)
		} else if !defaultCaps[n] && !r.caps[n] {
			add("CapAdd[%d] %q: rule %q allows adding only %q", i, c, r.Name, r.CapAdd)
		}
	}
	for i, o := range hc.SecurityOpt {
		if w := securityOptProblem(o); w != "" {
			add("SecurityOpt[%d] %q: %s", i, o, w)
		}
	}
	if len(hc.Sysctls) > 0 {
		add("Sysctls: setting kernel parameters is not for restricted rules")
	}
	if hc.Runtime != "" {
		add("Runtime %q: only the daemon's default runtime (which adds lxcfs) is for restricted rules", hc.Runtime)
	}
	if len(hc.Annotations) > 0 {
		add("Annotations: OCI annotations steer the runtime (runc's org.systemd.property.*) past Docker's checks")
	}
	if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
		add("MaskedPaths/ReadonlyPaths: replacing the masked /proc and /sys paths (systempaths=unconfined) exposes the host kernel")
	}
	why = append(why, checkResources(field, &hc.Resources)...)
	return why
}

// checkResources checks the device and cgroup parts of a create's host
// config or of an update.
func checkResources(field string, res *container.Resources) []string {
	var why []string
	if len(res.Devices) > 0 {
		why = append(why, field+".Devices: host devices are not for restricted rules")
	}
	if len(res.DeviceCgroupRules) > 0 {
		why = append(why, field+".DeviceCgroupRules: device access rules are not for restricted rules")
	}
	if len(res.DeviceRequests) > 0 {
		why = append(why, field+".DeviceRequests: device requests (GPUs) are not for restricted rules")
	}
	if res.CgroupParent != "" {
		why = append(why, fmt.Sprintf("%s.CgroupParent %q: placing a container in another cgroup escapes its limits", field, res.CgroupParent))
	}
	return why
}

// securityOptProblem says why a SecurityOpt entry may not be set by a
// restricted rule, parsing it as dockerd does (parseSecurityOpt: "key=value",
// or the old "key:value", or the bare "no-new-privileges", "disable",
// "writable-cgroups"). Only switching no-new-privileges on or
// writable-cgroups off is allowed: everything else replaces or disables a
// confinement the image sets up (seccomp: unconfined, a path or an inline
// profile; SELinux labels, including a chosen level, which reaches other
// containers' files; AppArmor profiles).
func securityOptProblem(opt string) string {
	switch opt {
	case "no-new-privileges":
		return ""
	case "writable-cgroups":
		return "writable cgroups let the container change its own limits"
	case "disable":
		return "disables SELinux labelling"
	}
	var k, v string
	var ok bool
	if strings.Contains(opt, "=") {
		k, v, ok = strings.Cut(opt, "=")
	} else {
		k, v, ok = strings.Cut(opt, ":")
	}
	if !ok {
		return "not a security option dockerd knows"
	}
	switch k {
	case "no-new-privileges":
		if b, err := strconv.ParseBool(v); err != nil || !b {
			return "no-new-privileges may only be switched on"
		}
		return ""
	case "writable-cgroups":
		if b, err := strconv.ParseBool(v); err != nil || b {
			return "writable cgroups let the container change its own limits"
		}
		return ""
	case "seccomp":
		return "replaces the image's seccomp profile"
	case "label":
		return "changes the container's SELinux label"
	case "apparmor":
		return "replaces the AppArmor profile"
	}
	return "not a security option dockerd knows"
}

// checkVolumeDriver checks a volume's driver and options (a volume create,
// or a mount that creates its volume): the local driver's options mount a
// filesystem on the host ("type=none,o=bind,device=/" binds the host's
// root), so only a tmpfs, a size, or a bind of an allowed host path pass.
func (p *Policy) checkVolumeDriver(r *Rule, field, driver string, opts map[string]string) []string {
	if driver != "" && driver != "local" {
		return []string{fmt.Sprintf("%s: volume driver %q: volume plugins are not for restricted rules", field, driver)}
	}
	if len(opts) == 0 {
		return nil
	}
	for k := range opts {
		if !slices.Contains([]string{"type", "o", "device", "size"}, k) {
			return []string{fmt.Sprintf("%s: local volume option %q is unknown", field, k)}
		}
	}
	flags := map[string]bool{}
	for _, f := range strings.Split(opts["o"], ",") {
		name, _, _ := strings.Cut(f, "=")
		flags[name] = true
	}
	switch {
	case flags["bind"] || flags["rbind"]:
		if w := p.checkHostPath(r, field+`["device"]`, opts["device"]); w != "" {
			return []string{w}
		}
		return nil
	case opts["type"] == "tmpfs" && !flags["remount"]:
		return nil
	case opts["type"] == "" && opts["device"] == "" && opts["o"] == "":
		return nil // size alone
	}
	return []string{fmt.Sprintf("%s: local volume options mount %q from %q on the host: only tmpfs and binds of allowed paths are for restricted rules", field, opts["type"], opts["device"])}
}

// checkExec checks an exec's options: no privileges and no root user. An
// exec without a user runs as the container's user; the container's owner
// chose that.
func checkExec(e *container.ExecOptions) []string {
	var why []string
	if e.Privileged {
		why = append(why, "Privileged: a privileged exec has every capability and no confinement")
	}
	if rootUser(e.User) {
		why = append(why, fmt.Sprintf("User %q: exec as root is not for restricted rules", e.User))
	}
	return why
}

// rootUser reports whether a "user[:group]" names uid 0 as runc reads it:
// "root", or a number that parses to 0 ("0", "00", "+0").
func rootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	if name == "root" {
		return true
	}
	n, err := strconv.Atoi(name)
	return err == nil && n == 0
}

// checkBuild checks the query of POST /build: its network mode joins the
// host's or another container's network for every RUN step, and its
// cgroup parent escapes limits.
func checkBuild(query url.Values) []string {
	var why []string
	for _, nm := range query["networkmode"] {
		if n := strings.ToLower(strings.TrimSpace(nm)); n == "host" || strings.HasPrefix(n, "container:") {
			why = append(why, fmt.Sprintf("networkmode=%s: the network namespace of the host or another container", nm))
		}
	}
	for _, cp := range query["cgroupparent"] {
		if cp != "" {
			why = append(why, fmt.Sprintf("cgroupparent=%s: placing build steps in another cgroup escapes their limits", cp))
		}
	}
	return why
}
