// Package lxcfs gives every container lxcfs's views of /proc without the
// user passing bind mounts by hand.
//
// Docker has no OCI hook directory, so the image sets a default runtime that
// is a thin wrapper around runc: on `runc create` it adds bind mounts of
// lxcfs's files (/var/lib/lxcfs/proc/meminfo over /proc/meminfo, ...) to the
// bundle's config.json and then execs the real runc with the same
// arguments. runc allows exactly these /proc destinations for this purpose.
// The files are bind-mounted from the FUSE mount, which survives an lxcfs
// reload (SIGUSR1 swaps the library, not the mount), so running containers
// keep working across `systemctl reload lxcfs`.
package lxcfs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/nodepaths"
)

const (
	// Dir is where lxcfs.service mounts its filesystem.
	Dir = "/var/lib/lxcfs"
	// Runc is the real runtime the wrapper execs.
	Runc = nodepaths.Runc
	// WrapperName is the name (argv[0] base) that makes nodecfg act as the
	// runtime wrapper; the image links /usr/libexec/bulwark/bulwark-runc to it.
	WrapperName = "bulwark-runc"
)

// Views are the files lxcfs virtualises, as container destinations. They are
// the paths runc permits bind mounts onto inside /proc and /sys.
var Views = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/loadavg", "/proc/meminfo",
	"/proc/stat", "/proc/swaps", "/proc/uptime",
	"/sys/devices/system/cpu/online",
}

// Mount is an OCI runtime-spec mount entry.
type Mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Mounts returns the bind mounts for the views lxcfs serves under dir,
// skipping any view whose source is missing (lxcfs not running, or a view
// the running lxcfs version does not provide): a container without lxcfs
// still starts, with the host's /proc.
func Mounts(dir string) []Mount {
	var ms []Mount
	for _, v := range Views {
		src := filepath.Join(dir, v)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		ms = append(ms, Mount{Destination: v, Type: "bind", Source: src,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return ms
}

// Patch adds ms to the runtime config in spec (config.json bytes), leaving
// every other field exactly as it was and skipping destinations the
// container already mounts (a user's own -v wins). It reports whether
// anything changed.
func Patch(spec []byte, ms []Mount) ([]byte, bool, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(spec, &top); err != nil {
		return nil, false, fmt.Errorf("parsing config.json: %w", err)
	}
	var mounts []json.RawMessage
	if raw, ok := top["mounts"]; ok {
		if err := json.Unmarshal(raw, &mounts); err != nil {
			return nil, false, fmt.Errorf("parsing config.json mounts: %w", err)
		}
	}
	taken := map[string]bool{}
	for _, raw := range mounts {
		var m Mount
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, false, fmt.Errorf("parsing config.json mount: %w", err)
		}
		taken[filepath.Clean(m.Destination)] = true
	}
	changed, proc := false, procMounted(mounts)
	for _, m := range ms {
		if taken[m.Destination] || !proc && strings.HasPrefix(m.Destination, "/proc/") {
			continue
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, false, err
		}
		mounts = append(mounts, b)
		changed = true
	}
	if !changed {
		return spec, false, nil
	}
	b, err := json.Marshal(mounts)
	if err != nil {
		return nil, false, err
	}
	top["mounts"] = b
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		return nil, false, err
	}
	return out.Bytes(), true, nil
}

// procMounted reports whether the container mounts a procfs at /proc; the
// views can only be bound over files of that mount.
func procMounted(mounts []json.RawMessage) bool {
	for _, raw := range mounts {
		var m Mount
		if json.Unmarshal(raw, &m) == nil && m.Destination == "/proc" && m.Type == "proc" {
			return true
		}
	}
	return false
}

// valueFlags are runc's global flags that take a separate value.
var valueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// Parse finds runc's subcommand in args (without argv[0]) and, for create
// and run, the bundle directory (--bundle/-b, default the working directory).
func Parse(args []string) (cmd, bundle string) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if valueFlags[a] {
			i++
		}
	}
	if i >= len(args) {
		return "", ""
	}
	cmd = args[i]
	if cmd != "create" && cmd != "run" {
		return cmd, ""
	}
	bundle = "."
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--bundle" || a == "-b":
			if j+1 < len(args) {
				bundle = args[j+1]
			}
			j++
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case strings.HasPrefix(a, "-b="):
			bundle = strings.TrimPrefix(a, "-b=")
		}
	}
	return cmd, bundle
}

// Prepare patches the bundle's config.json for a create or run, atomically
// so runc never reads a half-written file. A missing lxcfs is not an error
// (no views to add); an unreadable or invalid config.json is, since runc
// would fail on it anyway and the message should say where.
func Prepare(args []string, dir string) error {
	cmd, bundle := Parse(args)
	if bundle == "" {
		return nil
	}
	path := filepath.Join(bundle, "config.json")
	spec, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lxcfs: %s %s: %w", cmd, bundle, err)
	}
	out, changed, err := Patch(spec, Mounts(dir))
	if err != nil {
		return fmt.Errorf("lxcfs: %s: %w", path, err)
	}
	if !changed {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, out, fi.Mode().Perm())
}
