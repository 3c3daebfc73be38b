//go:build qemu

package qemu

import (
	"context"
	"testing"
	"time"
)

// TestAccelHost probes this host's KVM for real (QEMU and the firmware
// must be installed; `go test -tags qemu -run AccelHost -v ./internal/qemu/`)
// and logs what it decided and how long the probe took. The probe's cost is
// bounded by its own timeout, not by this machine's speed.
func TestAccelHost(t *testing.T) {
	arch := hostArch()
	p := Prober{CacheDir: t.TempDir()}
	t.Setenv(AccelEnv, "")
	start := time.Now()
	d, err := p.Accel(context.Background(), arch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; probe %s, call %s", d, d.Probe.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if d.Cached {
		t.Errorf("got a cached answer from an empty cache dir: %s", d)
	}
	again, err := p.Accel(context.Background(), arch)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.KVM != d.KVM {
		t.Errorf("second call: got %s; want the first answer, cached", again)
	}
	t.Setenv(AccelEnv, "tcg")
	forced, err := Prober{CacheDir: t.TempDir()}.Accel(context.Background(), arch)
	if err != nil {
		t.Fatal(err)
	}
	if forced.KVM || forced.Probe != 0 || forced.Cached {
		t.Errorf("%s=tcg: got %s (probe %s); want TCG without a probe", AccelEnv, forced, forced.Probe)
	}
	t.Log(forced)
}
