package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDocker serves /_ping with status on a unix socket in dir.
func fakeDocker(t *testing.T, dir string, status int) string {
	t.Helper()
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		record    bool
		docker    int // 0: no socket
		failed    []string
		unitsErr  error
		wantFails []string // check names (prefixes) that must fail
	}{
		{"healthy", true, 200, nil, nil, nil},
		{"only itself failed", true, 200, []string{"bulwark-health.service"}, nil, nil},
		{"config not applied", false, 200, nil, nil, []string{"first-boot config applied"}},
		{"dockerd down", true, 0, nil, nil, []string{"dockerd answers"}},
		{"dockerd unhealthy", true, 500, nil, nil, []string{"dockerd answers"}},
		{"a failed unit", true, 200, []string{"docker.service"}, nil, []string{"no failed units"}},
		{"units unknown", true, 200, nil, errors.New("no bus"), []string{"no failed units"}},
		{"everything", false, 0, []string{"x.service"}, nil, []string{"first-boot", "dockerd", "no failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := Probes{Record: filepath.Join(dir, "applied.json"), DockerSocket: filepath.Join(dir, "none.sock"),
				Self: "bulwark-health.service", DockerWait: 100 * time.Millisecond,
				FailedUnits: func(context.Context) ([]string, error) { return tc.failed, tc.unitsErr }}
			if tc.record {
				os.WriteFile(p.Record, []byte("{}"), 0o644)
			}
			if tc.docker != 0 {
				p.DockerSocket = fakeDocker(t, dir, tc.docker)
			}
			var failed []string
			err := Run(context.Background(), p.Checks(), func(name string, err error) {
				if err != nil {
					failed = append(failed, name)
				}
			})
			if (err != nil) != (len(tc.wantFails) > 0) || len(failed) != len(tc.wantFails) {
				t.Fatalf("Run = %v (failed %v), want failures %v", err, failed, tc.wantFails)
			}
			for i, w := range tc.wantFails {
				if !strings.HasPrefix(failed[i], w) {
					t.Errorf("failure %d is %q, want %q", i, failed[i], w)
				}
			}
		})
	}
}

// TestDockerFailedEndsWait: once systemd has given docker.service up, the
// wait for dockerd ends at once instead of after DockerWait (an hour
// here: the test's deadline would end it first).
func TestDockerFailedEndsWait(t *testing.T) {
	dir := t.TempDir()
	asked := 0
	p := Probes{DockerSocket: filepath.Join(dir, "none.sock"), DockerWait: time.Hour,
		DockerFailed: func(context.Context) (bool, error) { asked++; return asked >= 2, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Checks()[1].Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "docker.service has failed") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want docker.service has failed", err)
	}
	if asked != 2 {
		t.Errorf("asked systemd %d times, want 2 (once per try until it said failed)", asked)
	}
}
