// Package nodepaths names the files and devices of a Bulwark node that more
// than one program agrees on: what osbuild installs, what nodecfg render
// writes into an Ignition config, what nodecfg apply reads and writes at
// first boot, and what the authz plugin and the tests look at. One owner,
// so a path cannot drift between the writer and the reader.
package nodepaths

const (
	// DaemonJSON is the docker daemon config dockerd reads.
	DaemonJSON = "/etc/docker/daemon.json"
	// TLSDir holds the node's docker TLS material.
	TLSDir   = "/etc/docker/tls"
	CAPath   = TLSDir + "/ca.pem"
	CertPath = TLSDir + "/server-cert.pem"
	KeyPath  = TLSDir + "/server-key.pem"
	// PolicyPath is the authz plugin's policy.
	PolicyPath = "/etc/bulwark/authz/policy.json"
	// UnixSocket is dockerd's local listener, the only one without TLS.
	UnixSocket = "unix:///run/docker.sock"

	// Floor is the image's base daemon.json, under the verity-protected
	// /usr (internal/dockerfloor owns its content).
	Floor = "/usr/share/bulwark/docker/daemon.json"
	// Weaken lists, in a config, the floor keys its node spec may weaken.
	Weaken = "/etc/bulwark/nodecfg/docker-weaken.json"
	// Record is where nodecfg apply records the config it applied.
	Record = "/var/lib/bulwark/nodecfg/applied.json"

	// Dockerd and Runc are where the image keeps the Docker daemon and runc:
	// in /usr/bin, where Flatcar and the CIS Docker Benchmark (1.1.3, 1.1.18)
	// have them, and where the audit rules watch them. Debian installs both
	// in /usr/sbin; the build moves them and leaves links at Debian's paths
	// (internal/osbuild/customize: moveToBin).
	Dockerd = "/usr/bin/dockerd"
	Runc    = "/usr/bin/runc"

	// DockerRoot is dockerd's data root, the mount point of the image's
	// DOCKER partition when the spec has one (internal/layout).
	DockerRoot = "/var/lib/docker"

	// ContentTrustProfile sets DOCKER_CONTENT_TRUST=1 for login shells; the
	// image carries it, and a node spec with docker.contentTrust: false
	// replaces it with one that sets nothing.
	ContentTrustProfile = "/etc/profile.d/bulwark-docker-content-trust.sh"

	// OEMConfig is the config file's name on the OEM partition.
	OEMConfig = "config.ign"
)

// MovedToBin are the programs Debian installs in /usr/sbin that the image
// keeps in /usr/bin, with a link left at Debian's path (see Dockerd).
var MovedToBin = []string{Dockerd, Runc}

// FwCfgNames are the QEMU fw_cfg names first boot reads a config from, in
// order: CoreOS's and Flatcar's.
var FwCfgNames = []string{"opt/com.coreos/config", "opt/org.flatcar-linux/config"}

// PackageManager are the paths (shell globs) of apt and dpkg, their
// databases, configuration, caches and logs. A node is changed by replacing
// /usr whole, never by installing packages, so none of them may exist on a
// node: osbuild's trim step removes them (after the SBOM has what it needs
// from dpkg's database) and fails if any is left, and the guest checks
// look for them on a booted node.
var PackageManager = []string{
	"/usr/bin/apt", "/usr/bin/apt-*", "/usr/bin/dpkg", "/usr/bin/dpkg-*", "/usr/sbin/dpkg-*",
	"/usr/lib/apt", "/usr/lib/dpkg", "/usr/libexec/dpkg", "/usr/share/apt", "/usr/share/dpkg",
	"/usr/lib/*/libapt-pkg.so*", "/usr/lib/*/libapt-private.so*",
	"/etc/apt", "/etc/dpkg", "/var/lib/apt", "/var/lib/dpkg", "/var/cache/apt",
	"/var/log/apt", "/var/log/dpkg.log", "/var/backups/dpkg.*", "/var/backups/apt.*",
}
