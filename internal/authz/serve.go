package authz

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
)

// SocketDir is where dockerd looks for plugin sockets by name.
const SocketDir = "/run/docker/plugins"

// Socket is the plugin's socket path under dir: <dir>/bulwark-authz.sock.
func Socket(dir string) string { return filepath.Join(dir, PluginName+".sock") }

// Serve runs the plugin for the policy file at policy on Socket(dir) until
// ctx ends: SIGHUP reloads the policy (Reload reports the outcome itself),
// and systemd is told the socket exists (sd_notify READY=1), so
// docker.service, ordered after the plugin, starts only when dockerd can
// reach it. A policy that does not load is an error before anything
// listens: dockerd then cannot start with the plugin and stays closed.
func Serve(ctx context.Context, policy, dir string) error {
	p, err := NewPlugin(policy)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				p.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	sock := Socket(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sock, err)
	}
	defer os.Remove(sock)
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Handler().Serve(l) }()
	daemon.SdNotify(false, daemon.SdNotifyReady)
	fmt.Printf("nodecfg: authz plugin %s serving policy %s on %s\n", PluginName, policy, sock)
	select {
	case <-ctx.Done():
		l.Close()
		return nil
	case err := <-errc:
		return err
	}
}
