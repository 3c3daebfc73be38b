package authz

import (
	"net/url"
	"regexp"
	"strings"
)

// route maps a Docker API request to an action name, in authz-broker's
// naming (object_verb).
type route struct {
	method *regexp.Regexp
	path   *regexp.Regexp
	action string
}

func r(method, path, action string) route {
	return route{regexp.MustCompile("^(?:" + method + ")$"), regexp.MustCompile("^" + path + "$"), action}
}

const id = `[^/]+`

// routes cover the Docker Engine API; order matters where paths overlap.
var routes = []route{
	r("GET", "/_ping", "docker_ping"), r("HEAD", "/_ping", "docker_ping"),
	r("GET", "/version", "docker_version"), r("GET", "/info", "docker_info"),
	r("GET", "/events", "docker_events"), r("GET", "/system/df", "docker_df"),
	r("POST", "/auth", "docker_auth"),
	r("GET", "/containers/json", "container_list"),
	r("POST", "/containers/create", "container_create"),
	r("POST", "/containers/prune", "container_prune"),
	r("GET", "/containers/"+id+"/json", "container_inspect"),
	r("GET", "/containers/"+id+"/top", "container_top"),
	r("GET", "/containers/"+id+"/logs", "container_logs"),
	r("GET", "/containers/"+id+"/changes", "container_changes"),
	r("GET", "/containers/"+id+"/export", "container_export"),
	r("GET", "/containers/"+id+"/stats", "container_stats"),
	r("POST", "/containers/"+id+"/resize", "container_resize"),
	r("POST", "/containers/"+id+"/start", "container_start"),
	r("POST", "/containers/"+id+"/stop", "container_stop"),
	r("POST", "/containers/"+id+"/restart", "container_restart"),
	r("POST", "/containers/"+id+"/kill", "container_kill"),
	r("POST", "/containers/"+id+"/update", "container_update"),
	r("POST", "/containers/"+id+"/rename", "container_rename"),
	r("POST", "/containers/"+id+"/pause", "container_pause"),
	r("POST", "/containers/"+id+"/unpause", "container_unpause"),
	r("POST", "/containers/"+id+"/attach", "container_attach"),
	r("GET", "/containers/"+id+"/attach/ws", "container_attach_websocket"),
	r("POST", "/containers/"+id+"/wait", "container_wait"),
	r("DELETE", "/containers/"+id, "container_delete"),
	r("HEAD", "/containers/"+id+"/archive", "container_archive_info"),
	r("GET", "/containers/"+id+"/archive", "container_archive"),
	r("PUT", "/containers/"+id+"/archive", "container_archive_extract"),
	r("POST", "/containers/"+id+"/exec", "container_exec_create"),
	r("POST", "/exec/"+id+"/start", "container_exec_start"),
	r("POST", "/exec/"+id+"/resize", "container_exec_resize"),
	r("GET", "/exec/"+id+"/json", "container_exec_inspect"),
	r("POST", "/commit", "container_commit"),
	r("GET", "/images/json", "image_list"),
	r("POST", "/build", "image_build"),
	r("POST", "/build/prune", "image_build_prune"),
	r("POST", "/images/create", "image_pull"),
	r("POST", "/images/load", "image_load"),
	r("GET", "/images/get", "image_save"),
	r("POST", "/images/prune", "image_prune"),
	r("GET", "/images/search", "image_search"),
	r("GET", "/images/.+/json", "image_inspect"),
	r("GET", "/images/.+/history", "image_history"),
	r("GET", "/images/.+/get", "image_save"),
	r("POST", "/images/.+/push", "image_push"),
	r("POST", "/images/.+/tag", "image_tag"),
	r("DELETE", "/images/.+", "image_delete"),
	r("GET", "/networks", "network_list"),
	r("POST", "/networks/create", "network_create"),
	r("POST", "/networks/prune", "network_prune"),
	r("GET", "/networks/"+id, "network_inspect"),
	r("POST", "/networks/"+id+"/connect", "network_connect"),
	r("POST", "/networks/"+id+"/disconnect", "network_disconnect"),
	r("DELETE", "/networks/"+id, "network_delete"),
	r("GET", "/volumes", "volume_list"),
	r("POST", "/volumes/create", "volume_create"),
	r("POST", "/volumes/prune", "volume_prune"),
	r("GET", "/volumes/"+id, "volume_inspect"),
	r("DELETE", "/volumes/"+id, "volume_delete"),
	r("GET", "/plugins", "plugin_list"),
	r("POST", "/plugins/pull", "plugin_pull"),
	r("POST", "/plugins/"+id+"/(enable|disable|upgrade|set|push)", "plugin_manage"),
	r("DELETE", "/plugins/"+id, "plugin_delete"),
	r("GET", "/plugins/"+id+"/json", "plugin_inspect"),
	r("POST", "/session", "docker_session"),
	r("GET", "/distribution/.+/json", "image_distribution"),
	r("GET", "/(swarm|nodes|services|tasks|secrets|configs)(/.*)?", "swarm_read"),
	r("(POST|DELETE)", "/(swarm|nodes|services|tasks|secrets|configs)(/.*)?", "swarm_write"),
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)?`)

// Action names the action of a Docker API request, or "" if unknown.
func Action(method, uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	path := versionPrefix.ReplaceAllString(u.Path, "")
	path = strings.TrimSuffix(path, "/")
	for _, rt := range routes {
		if rt.method.MatchString(method) && rt.path.MatchString(path) {
			return rt.action
		}
	}
	return ""
}

// Actions lists every known action name.
func Actions() []string {
	seen := map[string]bool{}
	var out []string
	for _, rt := range routes {
		if !seen[rt.action] {
			seen[rt.action] = true
			out = append(out, rt.action)
		}
	}
	return out
}
