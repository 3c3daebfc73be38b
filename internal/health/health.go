// Package health decides whether a booted node is healthy enough to keep
// the /usr version it runs: the node's first-boot config was applied,
// dockerd answers on its local socket, and no unit has failed. It is what
// boot-complete.target requires (units/bulwark-health.service), so a boot
// of a freshly installed update is blessed (systemd-bless-boot) only when
// it holds, and otherwise the node reboots until systemd-boot's tries run
// out and it falls back to the version before (README "Updates").
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// Check is one health check: what it proves, and the probe.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Probes are the node's facts the checks read; the defaults are the real
// node's, tests swap them.
type Probes struct {
	// Record is nodecfg apply's record of the applied config.
	Record string
	// DockerSocket is dockerd's local socket.
	DockerSocket string
	// FailedUnits lists the units systemd reports failed.
	FailedUnits func(ctx context.Context) ([]string, error)
	// Self is the health unit, which is not counted among the failed.
	Self string
	// DockerWait is how long dockerd gets to answer (it may be starting,
	// or restarting under Restart=always).
	DockerWait time.Duration
	// DockerFailed reports whether docker.service has failed for good
	// (systemd's ActiveState "failed": its restarts are spent), which
	// ends the wait at once: a node whose docker cannot start then
	// reboots in seconds rather than after DockerWait.
	DockerFailed func(ctx context.Context) (bool, error)
}

// Checks are the health checks, in the order they run.
func (p Probes) Checks() []Check {
	return []Check{
		{"first-boot config applied (" + p.Record + ")", func(context.Context) error {
			if _, err := os.Stat(p.Record); err != nil {
				return fmt.Errorf("no record of an applied config: %w", err)
			}
			return nil
		}},
		{"dockerd answers on " + p.DockerSocket, func(ctx context.Context) error { return ping(ctx, p.DockerSocket, p.DockerWait, p.DockerFailed) }},
		{"no failed units", func(ctx context.Context) error {
			failed, err := p.FailedUnits(ctx)
			if err != nil {
				return err
			}
			failed = slices.DeleteFunc(failed, func(u string) bool { return u == p.Self })
			if len(failed) > 0 {
				return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
			}
			return nil
		}},
	}
}

// Run runs every check and reports each result to report; the error joins
// the failures (nil: healthy).
func Run(ctx context.Context, checks []Check, report func(name string, err error)) error {
	var errs []error
	for _, c := range checks {
		err := c.Run(ctx)
		report(c.Name, err)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// ping asks dockerd's /_ping over its unix socket until it answers OK,
// wait has passed, or failed (if not nil) says docker will not come.
func ping(ctx context.Context, socket string, wait time.Duration, failed func(context.Context) (bool, error)) error {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
	deadline := time.Now().Add(wait)
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /_ping: %s", resp.Status)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %w", wait, last)
		}
		if failed != nil {
			if gone, ferr := failed(ctx); ferr == nil && gone {
				return fmt.Errorf("%s has failed and systemd will not restart it: %w", DockerUnit, last)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(2*time.Second, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// Unit is the systemd unit that runs the checks before boot-complete.target.
const Unit = "bulwark-health.service"

// DockerUnit is the engine's unit.
const DockerUnit = "docker.service"

// Node are the probes of the running node: systemd's failed units over
// D-Bus (go-systemd), dockerd's socket, apply's record.
func Node(record, dockerSocket string) Probes {
	return Probes{Record: record, DockerSocket: dockerSocket, Self: Unit, DockerWait: 3 * time.Minute,
		DockerFailed: func(ctx context.Context) (bool, error) {
			conn, err := sdbus.NewSystemConnectionContext(ctx)
			if err != nil {
				return false, fmt.Errorf("connecting to systemd: %w", err)
			}
			defer conn.Close()
			prop, err := conn.GetUnitPropertyContext(ctx, DockerUnit, "ActiveState")
			if err != nil {
				return false, fmt.Errorf("asking systemd about %s: %w", DockerUnit, err)
			}
			return prop.Value.Value() == "failed", nil
		},
		FailedUnits: func(ctx context.Context) ([]string, error) {
			conn, err := sdbus.NewSystemConnectionContext(ctx)
			if err != nil {
				return nil, fmt.Errorf("connecting to systemd: %w", err)
			}
			defer conn.Close()
			units, err := conn.ListUnitsFilteredContext(ctx, []string{"failed"})
			if err != nil {
				return nil, fmt.Errorf("listing failed units: %w", err)
			}
			var names []string
			for _, u := range units {
				names = append(names, u.Name)
			}
			return names, nil
		}}
}
