package authz

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// route maps a Docker API request to an action name, in authz-broker's
// naming (object_verb). The path is a template: {id} stands for one path
// segment (a container, network, volume, exec or swarm object), {name} for
// one or more (image and plugin references contain slashes).
type route struct {
	method   string
	template string
	action   string
	path     *regexp.Regexp
}

func rt(method, template, action string) route {
	re := regexp.QuoteMeta(template)
	re = strings.ReplaceAll(re, `\{id\}`, `[^/]+`)
	re = strings.ReplaceAll(re, `\{name\}`, `.+`)
	return route{method: method, template: template, action: action, path: regexp.MustCompile("^" + re + "$")}
}

// routes cover the Docker Engine API (dockerd 26-28); the first match wins,
// so fixed paths come before templated ones that would also match them.
// dockerd routes by the last path segment (its {name:.*} patterns all end
// in a fixed suffix), and so does this table: a request this table cannot
// name is denied, never guessed.
var routes = []route{
	rt("GET", "/_ping", "docker_ping"), rt("HEAD", "/_ping", "docker_ping"),
	rt("GET", "/version", "docker_version"), rt("GET", "/info", "docker_info"),
	rt("GET", "/events", "docker_events"), rt("GET", "/system/df", "docker_df"),
	rt("POST", "/auth", "docker_auth"),
	rt("POST", "/session", "docker_session"),
	rt("POST", "/grpc", "docker_grpc"),
	rt("GET", "/debug/{name}", "docker_debug"),

	rt("GET", "/containers/json", "container_list"),
	rt("POST", "/containers/create", "container_create"),
	rt("POST", "/containers/prune", "container_prune"),
	rt("GET", "/containers/{id}/json", "container_inspect"),
	rt("GET", "/containers/{id}/top", "container_top"),
	rt("GET", "/containers/{id}/logs", "container_logs"),
	rt("GET", "/containers/{id}/changes", "container_changes"),
	rt("GET", "/containers/{id}/export", "container_export"),
	rt("GET", "/containers/{id}/stats", "container_stats"),
	rt("POST", "/containers/{id}/resize", "container_resize"),
	rt("POST", "/containers/{id}/start", "container_start"),
	rt("POST", "/containers/{id}/stop", "container_stop"),
	rt("POST", "/containers/{id}/restart", "container_restart"),
	rt("POST", "/containers/{id}/kill", "container_kill"),
	rt("POST", "/containers/{id}/update", "container_update"),
	rt("POST", "/containers/{id}/rename", "container_rename"),
	rt("POST", "/containers/{id}/pause", "container_pause"),
	rt("POST", "/containers/{id}/unpause", "container_unpause"),
	rt("POST", "/containers/{id}/attach", "container_attach"),
	rt("GET", "/containers/{id}/attach/ws", "container_attach_websocket"),
	rt("POST", "/containers/{id}/wait", "container_wait"),
	rt("DELETE", "/containers/{id}", "container_delete"),
	rt("HEAD", "/containers/{id}/archive", "container_archive_info"),
	rt("GET", "/containers/{id}/archive", "container_archive"),
	rt("PUT", "/containers/{id}/archive", "container_archive_extract"),
	rt("POST", "/containers/{id}/exec", "container_exec_create"),
	rt("GET", "/containers/{id}/checkpoints", "container_checkpoint_list"),
	rt("POST", "/containers/{id}/checkpoints", "container_checkpoint_create"),
	rt("DELETE", "/containers/{id}/checkpoints/{id}", "container_checkpoint_delete"),
	rt("POST", "/exec/{id}/start", "container_exec_start"),
	rt("POST", "/exec/{id}/resize", "container_exec_resize"),
	rt("GET", "/exec/{id}/json", "container_exec_inspect"),
	rt("POST", "/commit", "container_commit"),

	rt("GET", "/images/json", "image_list"),
	rt("POST", "/build", "image_build"),
	rt("POST", "/build/prune", "image_build_prune"),
	rt("POST", "/build/cancel", "image_build_cancel"),
	rt("POST", "/images/create", "image_pull"),
	rt("POST", "/images/load", "image_load"),
	rt("GET", "/images/get", "image_save"),
	rt("POST", "/images/prune", "image_prune"),
	rt("GET", "/images/search", "image_search"),
	rt("GET", "/images/{name}/json", "image_inspect"),
	rt("GET", "/images/{name}/history", "image_history"),
	rt("GET", "/images/{name}/get", "image_save"),
	rt("POST", "/images/{name}/push", "image_push"),
	rt("POST", "/images/{name}/tag", "image_tag"),
	rt("DELETE", "/images/{name}", "image_delete"),
	rt("GET", "/distribution/{name}/json", "image_distribution"),

	rt("GET", "/networks", "network_list"),
	rt("POST", "/networks/create", "network_create"),
	rt("POST", "/networks/prune", "network_prune"),
	rt("GET", "/networks/{id}", "network_inspect"),
	rt("POST", "/networks/{id}/connect", "network_connect"),
	rt("POST", "/networks/{id}/disconnect", "network_disconnect"),
	rt("DELETE", "/networks/{id}", "network_delete"),

	rt("GET", "/volumes", "volume_list"),
	rt("POST", "/volumes/create", "volume_create"),
	rt("POST", "/volumes/prune", "volume_prune"),
	rt("GET", "/volumes/{id}", "volume_inspect"),
	rt("PUT", "/volumes/{id}", "volume_update"),
	rt("DELETE", "/volumes/{id}", "volume_delete"),

	rt("GET", "/plugins", "plugin_list"),
	rt("GET", "/plugins/privileges", "plugin_privileges"),
	rt("POST", "/plugins/pull", "plugin_pull"),
	rt("POST", "/plugins/create", "plugin_create"),
	rt("GET", "/plugins/{name}/json", "plugin_inspect"),
	rt("POST", "/plugins/{name}/enable", "plugin_enable"),
	rt("POST", "/plugins/{name}/disable", "plugin_disable"),
	rt("POST", "/plugins/{name}/upgrade", "plugin_upgrade"),
	rt("POST", "/plugins/{name}/set", "plugin_set"),
	rt("POST", "/plugins/{name}/push", "plugin_push"),
	rt("DELETE", "/plugins/{name}", "plugin_delete"),

	rt("GET", "/swarm", "swarm_inspect"),
	rt("GET", "/swarm/unlockkey", "swarm_unlockkey"),
	rt("POST", "/swarm/init", "swarm_init"),
	rt("POST", "/swarm/join", "swarm_join"),
	rt("POST", "/swarm/leave", "swarm_leave"),
	rt("POST", "/swarm/unlock", "swarm_unlock"),
	rt("POST", "/swarm/update", "swarm_update"),
	rt("GET", "/nodes", "node_list"),
	rt("GET", "/nodes/{id}", "node_inspect"),
	rt("POST", "/nodes/{id}/update", "node_update"),
	rt("DELETE", "/nodes/{id}", "node_delete"),
	rt("GET", "/services", "service_list"),
	rt("POST", "/services/create", "service_create"),
	rt("GET", "/services/{id}", "service_inspect"),
	rt("GET", "/services/{id}/logs", "service_logs"),
	rt("POST", "/services/{id}/update", "service_update"),
	rt("DELETE", "/services/{id}", "service_delete"),
	rt("GET", "/tasks", "task_list"),
	rt("GET", "/tasks/{id}", "task_inspect"),
	rt("GET", "/tasks/{id}/logs", "task_logs"),
	rt("GET", "/secrets", "secret_list"),
	rt("POST", "/secrets/create", "secret_create"),
	rt("GET", "/secrets/{id}", "secret_inspect"),
	rt("POST", "/secrets/{id}/update", "secret_update"),
	rt("DELETE", "/secrets/{id}", "secret_delete"),
	rt("GET", "/configs", "config_list"),
	rt("POST", "/configs/create", "config_create"),
	rt("GET", "/configs/{id}", "config_inspect"),
	rt("POST", "/configs/{id}/update", "config_update"),
	rt("DELETE", "/configs/{id}", "config_delete"),
}

// versionPrefix is dockerd's /v{version:[0-9.]+} route prefix.
var versionPrefix = regexp.MustCompile(`^/v[0-9.]+(/|$)`)

// Action names the action of a Docker API request (method and request URI
// as dockerd passes them), or "" if unknown. The version prefix, the query
// and trailing slashes are ignored; a path dockerd would not route as it
// stands (empty, "." or ".." segments: its router redirects those) is
// unknown.
func Action(method, uri string) string {
	p, ok := apiPath(uri)
	if !ok {
		return ""
	}
	for _, r := range routes {
		if r.method == method && r.path.MatchString(p) {
			return r.action
		}
	}
	return ""
}

// apiPath is the route path of a request URI: without query, version
// prefix and trailing slashes.
func apiPath(uri string) (string, bool) {
	u, err := url.ParseRequestURI(uri)
	if err != nil || u.Path == "" {
		return "", false
	}
	p := u.Path
	if m := versionPrefix.FindString(p); m != "" {
		p = "/" + strings.TrimPrefix(p, m)
	}
	p = strings.TrimRight(p, "/")
	if p == "" || path.Clean(p) != p {
		return "", false
	}
	return p, true
}

// Actions lists every known action name, in route table order.
func Actions() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		if !seen[r.action] {
			seen[r.action] = true
			out = append(out, r.action)
		}
	}
	return out
}

// RouteOf returns the method and a request URI of the first route that
// defines action, so that a caller naming an action (`nodecfg authz check
// --action`) is decided on the request dockerd would see. Placeholders
// become sample names; ok is false for an unknown action.
func RouteOf(action string) (method, uri string, ok bool) {
	for _, r := range routes {
		if r.action == action {
			uri := strings.ReplaceAll(r.template, "{id}", "example")
			uri = strings.ReplaceAll(uri, "{name}", "example")
			return r.method, uri, true
		}
	}
	return "", "", false
}
