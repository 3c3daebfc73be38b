package sysupdate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Status is what `nodecfg update status` tells: the running version, the
// versions installed in the /usr slots, and how systemd-bless-boot judges
// the current boot.
type Status struct {
	// Running is the booted image's version (os-release IMAGE_VERSION).
	// sysupdate's own "current" is the newest version installed, which
	// after an update is the one the next boot starts, not this one.
	Running   string
	Newest    string   // the newest installed version: what the next boot tries
	Installed []string // every installed version, oldest first
	// Boot is systemd-bless-boot's status: "good" (blessed), "bad",
	// "indeterminate" (being assessed: not yet blessed) or "clean" (no
	// boot counting: an installed image's or an already blessed entry).
	Boot string
}

// Other is the idle slot's version, or "" when only one is installed.
func (s Status) Other() string {
	for _, v := range s.Installed {
		if v != s.Running {
			return v
		}
	}
	return ""
}

// Blessed says whether this boot keeps its version: judged good, or not
// under assessment at all.
func (s Status) Blessed() bool { return s.Boot == "good" || s.Boot == "clean" }

// Runner runs a program and returns its standard output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec runs programs for real.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(ee.Stderr)))
	}
	return out, err
}

// Programs on the node.
const (
	SysupdateBin = "/usr/lib/systemd/systemd-sysupdate"
	BlessBootBin = "/usr/lib/systemd/systemd-bless-boot"
)

// OSRelease is where the booted /usr names its version.
const OSRelease = "/usr/lib/os-release"

// RunningVersion reads IMAGE_VERSION from an os-release file.
func RunningVersion(osRelease string) (string, error) {
	b, err := os.ReadFile(osRelease)
	if err != nil {
		return "", fmt.Errorf("reading the running version: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "IMAGE_VERSION="); ok {
			return strings.Trim(v, `"'`), nil
		}
	}
	return "", fmt.Errorf("%s: no IMAGE_VERSION", osRelease)
}

// ReadStatus asks systemd-sysupdate (offline: the local slots only) and
// systemd-bless-boot; running is the booted version (RunningVersion).
func ReadStatus(ctx context.Context, run Runner, running string) (Status, error) {
	out, err := run(ctx, SysupdateBin, "--offline", "--json=short", "list")
	if err != nil {
		return Status{}, fmt.Errorf("listing installed versions: %w", err)
	}
	var list struct {
		Current string   `json:"current"`
		All     []string `json:"all"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return Status{}, fmt.Errorf("reading systemd-sysupdate's list: %w", err)
	}
	st := Status{Running: running, Newest: list.Current, Installed: slices.Clone(list.All)}
	slices.Reverse(st.Installed) // sysupdate lists newest first
	b, err := run(ctx, BlessBootBin, "status")
	if err != nil {
		return Status{}, fmt.Errorf("asking systemd-bless-boot: %w", err)
	}
	st.Boot = strings.TrimSpace(string(b))
	return st, nil
}

// String is the status as nodecfg prints it.
func (s Status) String() string {
	other := s.Other()
	if other == "" {
		other = "(empty)"
	}
	blessed := map[string]string{"good": "blessed", "clean": "blessed (not under assessment)",
		"indeterminate": "NOT YET BLESSED: boot-complete.target not reached", "bad": "BAD: the next boot falls back"}[s.Boot]
	if blessed == "" {
		blessed = "unknown"
	}
	next := s.Running
	if s.Newest != "" && s.Newest != s.Running {
		next = s.Newest + " (newer: tried on the next boot, falls back to " + s.Running + " if never blessed)"
	}
	return fmt.Sprintf("running version: %s\nother slot:      %s\ninstalled:       %s\nnext boot:       %s\nthis boot:       %s (systemd-bless-boot: %s)\n",
		s.Running, other, strings.Join(s.Installed, ", "), next, blessed, s.Boot)
}
