package authz

// readSafe are the actions a read-only rule may allow: they change nothing
// and return nothing an operator would not show an auditor. Read-only used
// to mean "GET or HEAD", which let a read-only user attach to a container's
// stdin over a websocket GET, export a container's filesystem, save images
// and read the swarm unlock key; a GET is not a read.
//
// Accepted on purpose, and documented for operators: container_inspect,
// service_inspect and docker_events show environment variables and command
// lines, so secrets belong in files or Docker secrets, not in the
// environment; plugin_inspect shows a plugin's settings.
var readSafe = map[string]bool{
	"docker_ping": true, "docker_version": true, "docker_info": true,
	"docker_events": true, "docker_df": true,
	"container_list": true, "container_inspect": true, "container_top": true,
	"container_logs": true, "container_changes": true, "container_stats": true,
	"container_exec_inspect": true,
	"image_list":             true, "image_inspect": true, "image_history": true,
	"network_list": true, "network_inspect": true,
	"volume_list": true, "volume_inspect": true,
	"plugin_list": true, "plugin_inspect": true,
	"node_list": true, "node_inspect": true,
	"service_list": true, "service_inspect": true, "service_logs": true,
	"task_list": true, "task_inspect": true, "task_logs": true,
}

// notReadSafe says why a GET or HEAD action is kept from read-only rules.
// Writes (POST, PUT, DELETE) need no reason.
var notReadSafe = map[string]string{
	"container_attach_websocket": "attaching joins the container's streams: with stdin=1 (a query parameter of the same GET) it types into the container's process",
	"container_export":           "export returns the container's whole filesystem, secrets included",
	"container_archive":          "archive returns files from the container's filesystem (/etc/shadow, keys)",
	"container_archive_info":     "archive HEAD probes the container's filesystem, file by file",
	"container_checkpoint_list":  "checkpoints are experimental and hold process memory images",
	"image_save":                 "image_save returns whole images, including layers with baked-in secrets",
	"image_search":               "search makes the daemon query a registry the caller names (a request from the node)",
	"image_distribution":         "distribution makes the daemon query a registry the caller names (a request from the node)",
	"plugin_privileges":          "privileges makes the daemon fetch a plugin manifest from a registry the caller names",
	"swarm_inspect":              "swarm inspect returns the join tokens: the manager token joins a machine as a manager",
	"swarm_unlockkey":            "the unlock key decrypts the swarm's Raft log, secrets included",
	"secret_list":                "secrets are never for read-only users, not even their names and labels",
	"secret_inspect":             "secrets are never for read-only users, not even their names and labels",
	"config_list":                "configs are listed with their data, which often holds credentials",
	"config_inspect":             "config inspect returns the config's data, which often holds credentials",
	"docker_debug":               "debug endpoints expose the daemon's internals (profiles, command line, variables)",
}

// unrestrictedOnly are actions only an unrestricted rule may allow: their
// request carries what would grant root on the node (a plugin's privileges,
// a service's mounts and capabilities, a swarm to take orders from, a
// BuildKit session's entitlements) in a form this plugin does not inspect.
var unrestrictedOnly = map[string]string{
	"plugin_pull":    "a plugin runs with the privileges its installer accepts (host mounts, devices, capabilities)",
	"plugin_create":  "a plugin runs with the privileges its installer accepts (host mounts, devices, capabilities)",
	"plugin_upgrade": "an upgrade replaces a plugin and the privileges it runs with",
	"plugin_set":     "plugin settings choose the host paths and devices a plugin mounts",
	"service_create": "a service's task spec binds host paths and adds capabilities on every node; it is not inspected",
	"service_update": "a service's task spec binds host paths and adds capabilities on every node; it is not inspected",
	"swarm_init":     "a swarm manager runs whatever services its managers are told to",
	"swarm_join":     "joining a swarm makes the node run the services its managers schedule",
	"swarm_update":   "swarm settings include the CA and the join tokens",
	"node_update":    "node updates promote workers to managers",
	"docker_grpc":    "BuildKit over gRPC carries entitlements (network.host, security.insecure) that are not inspected",
}

// readSafeAction reports whether a read-only rule may allow action, and if
// not, why.
func readSafeAction(action string) (bool, string) {
	if readSafe[action] {
		return true, ""
	}
	if why, ok := notReadSafe[action]; ok {
		return false, why
	}
	return false, action + " changes the node"
}
