package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark/bulwark/internal/qemu"
	"github.com/bulwark/bulwark/internal/qemu/checkunit"
)

// Console markers of the bench's own marker unit, passed to the guest as
// SMBIOS credentials like the QEMU harness's check unit, so both images are
// measured by the same means and neither carries a test hook.
const (
	markerMultiUser = "BULWARK-BENCH-MULTI-USER"
	markerRunning   = "BULWARK-BENCH-RUNNING"
	markerAnalyze   = "BULWARK-BENCH-ANALYZE"
	markerBlame     = "BULWARK-BENCH-BLAME"
	markerChain     = "BULWARK-BENCH-CHAIN"
	markerCPU       = "BULWARK-BENCH-CPU"
)

// blameUnits is how many of systemd-analyze blame's slowest units a boot
// keeps: enough to say where a boot's time went, short enough for one
// console line. Device units are left out: blame counts the time until a
// device appeared from when the first unit asked for it, the same figure
// for each of a disk's ten aliases, and not work the boot waited on.
const blameUnits = 10

// BootOutcome is one boot, as the report keeps it.
type BootOutcome struct {
	Run       int     `json:"run"`
	MultiUser float64 `json:"multiUserSeconds"`  // QEMU start → multi-user.target reached
	DockerTLS float64 `json:"dockerdTLSSeconds"` // QEMU start → /_ping answered over mutual TLS
	// GuestUptime is the guest kernel's uptime at multi-user: the boot
	// without firmware and boot loader.
	GuestUptime float64 `json:"guestUptimeSeconds"`
	State       string  `json:"state"` // systemctl is-system-running, once the boot finished
	Failed      string  `json:"failedUnits,omitempty"`
	Analyze     string  `json:"systemdAnalyze,omitempty"`
	// Blame is systemd-analyze blame's slowest units ("16.503s
	// docker.service"): what the boot section's ratio is made of.
	Blame []string `json:"blame,omitempty"`
	// Chain is systemd-analyze critical-chain docker.service, one unit an
	// entry ("containerd.service @33.2s +10.5s"): what dockerd waited for.
	Chain []string `json:"criticalChain,omitempty"`
	// CPU is where the guest's CPU time went by the end of the boot: the
	// kernel's totals from /proc/stat, PID 1's own time (policy load,
	// relabelling, unit loading), the kernel threads', then the units
	// that used the most ("4.12s systemd-udevd.service"). Under TCG the
	// guest's vCPUs are the bottleneck, so this, not the wall-clock blame,
	// says which work a faster boot must remove.
	CPU   []string `json:"cpu,omitempty"`
	Error string   `json:"error,omitempty"`
}

// benchCredentials add a unit, ordered after multi-user.target and pulled
// in by it, that prints the markers on the report port (qemu.ReportPort): multi-user
// reached with the guest's uptime, then the finished boot's state and
// systemd-analyze's split and its slowest units on one line. Type=exec so is-system-running --wait does not
// wait for the unit itself.
func benchCredentials() []qemu.Credential {
	script := strings.Join([]string{
		`echo "` + markerMultiUser + ` uptime=$(cut -d" " -f1 /proc/uptime)"`,
		`state=$(systemctl is-system-running --wait)`,
		`failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | paste -sd, -)`,
		`echo "` + markerRunning + ` state=$state uptime=$(cut -d" " -f1 /proc/uptime) failed=$failed"`,
		`echo "` + markerAnalyze + ` $(systemd-analyze time 2>&1 | head -n1)"`,
		`echo "` + markerBlame + ` $(systemd-analyze blame --no-pager 2>&1 | grep -v '\.device$' | head -n` + strconv.Itoa(blameUnits) + ` | sed 's/^ *//' | paste -sd';' -)"`,
		`echo "` + markerChain + ` $(systemd-analyze critical-chain --no-pager docker.service 2>&1 | tail -n +3 | sed 's/^[^[:alnum:]]*//' | paste -sd';' -)"`,
		`echo "` + markerCPU + ` $(` + cpuScript + ` | paste -sd';' -)"`,
	}, "\n")
	return checkunit.Script("bulwark-bench", "Bulwark bench boot marker", script)
}

// cpuUnits is how many units the CPU marker names, the busiest first.
const cpuUnits = 15

// cpuScript prints one line per figure of the CPU marker. USER_HZ is 100
// on both architectures' kernels. Units that have finished keep their
// last CPUUsageNSec (systemd caches it when it removes the cgroup).
// systemctl show prints a unit's properties in its own order, one block a
// unit, and "--" keeps "-.mount" from being read as an option.
var cpuScript = `{ awk '/^cpu /{printf "user=%.1fs system=%.1fs idle=%.1fs iowait=%.1fs softirq=%.1fs\n", $2/100, $4/100, $5/100, $6/100, $8/100}' /proc/stat; ` +
	`awk '{printf "%.2fs PID1\n", ($14+$15)/100}' /proc/1/stat; ` +
	`cat /proc/[0-9]*/stat 2>/dev/null | awk '$4==2 {s+=$14+$15} END {printf "%.2fs kernel-threads\n", s/100}'; ` +
	`systemctl show -p Id -p CPUUsageNSec -- $(systemctl list-units --all --no-legend --plain --type=service,scope,socket,mount,swap | cut -d" " -f1) | ` +
	`awk -F= '/^Id=/ {id=$2} /^CPUUsageNSec=[0-9]+$/ {c=$2} /^$/ {if (c != "") printf "%.2fs %s\n", c/1e9, id; c=""} END {if (c != "") printf "%.2fs %s\n", c/1e9, id}' | sort -rn | head -n ` + strconv.Itoa(cpuUnits) + `; }`

// markerList splits a list marker's line ("MARKER 16.5s a.service;2.1s
// b.service") into its entries.
func markerList(line, marker string) []string {
	_, rest, ok := strings.Cut(line, marker)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range strings.Split(rest, ";") {
		if e = strings.Join(strings.Fields(e), " "); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// markerFields parses "MARKER k=v k=v" into its fields.
func markerFields(line, marker string) map[string]string {
	out := map[string]string{}
	_, rest, ok := strings.Cut(line, marker)
	if !ok {
		return out
	}
	for _, f := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// tlsClient is alice of the example node: the client certificate the
// dockerd check presents, and the CA the server must verify to.
func (b *bench) tlsClient() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(b.o.PKI, "client-alice.pem"), filepath.Join(b.o.PKI, "client-alice-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("example client certificate (make example-node): %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(b.o.PKI, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no certificate", filepath.Join(b.o.PKI, "ca.pem"))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}, nil
}

// pollTLS asks dockerd's /_ping over mutual TLS every 250 ms until it
// answers 200, and sends the time since start.
func pollTLS(ctx context.Context, port int, tc *tls.Config, start time.Time, got chan<- time.Duration) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	url := fmt.Sprintf("https://127.0.0.1:%d/_ping", port)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				got <- time.Since(start)
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bootTimeout bounds one boot: generous next to the 1m15-2m x86_64 TCG
// boots measured here, so a slow run is measured, a hung one is not waited on.
func bootTimeout(arch string, kvm bool) time.Duration {
	switch {
	case kvm:
		return 4 * time.Minute
	case arch == "aarch64":
		return 15 * time.Minute
	}
	return 10 * time.Minute
}

// bootOnce boots image (never written: a qcow2 overlay takes the writes)
// with the same QEMU settings for every image, the Ignition config on
// fw_cfg when ignition is set, and measures the milestones.
func (b *bench) bootOnce(ctx context.Context, a, image, ignition, dir string, tc *tls.Config, kvm bool) (BootOutcome, error) {
	var out BootOutcome
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	cfg, err := qemu.Prepare(ctx, qemu.Machine{Arch: a, KVM: kvm, Ignition: ignition}, image, dir, "8G")
	if err != nil {
		return out, err
	}
	port, err := qemu.FreePort()
	if err != nil {
		return out, err
	}
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 2376}}
	cfg.Credentials, cfg.Report = benchCredentials(), true
	timeout := bootTimeout(a, kvm)
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, cfg, filepath.Join(dir, "console.log"), nil)
	if err != nil {
		return out, err
	}
	defer func() { vm.Kill(); vm.Wait(context.Background()) }()
	tlsAt := make(chan time.Duration, 1)
	go pollTLS(ctx, port, tc, start, tlsAt)
	line, err := vm.Console.WaitFor(ctx, markerMultiUser, timeout)
	if err != nil {
		return out, fmt.Errorf("waiting for multi-user (console: %s): %w", filepath.Join(dir, "console.log"), err)
	}
	out.MultiUser = time.Since(start).Seconds()
	out.GuestUptime, _ = strconv.ParseFloat(markerFields(line, markerMultiUser)["uptime"], 64)
	select {
	case d := <-tlsAt:
		out.DockerTLS = d.Seconds()
	case <-time.After(timeout - time.Since(start)):
		return out, errors.New("dockerd did not answer /_ping over TLS in time")
	case <-ctx.Done():
		return out, ctx.Err()
	}
	// The finished boot's state says whether the boot was a healthy one;
	// it is not a figure, so it gets a short wait only.
	if l, err := vm.Console.WaitFor(ctx, markerRunning, 45*time.Second); err == nil {
		f := markerFields(l, markerRunning)
		out.State, out.Failed = f["state"], f["failed"]
		if l, err := vm.Console.WaitFor(ctx, markerAnalyze, 10*time.Second); err == nil {
			_, out.Analyze, _ = strings.Cut(l, markerAnalyze+" ")
		}
		if l, err := vm.Console.WaitFor(ctx, markerBlame, 10*time.Second); err == nil {
			out.Blame = markerList(l, markerBlame)
		}
		if l, err := vm.Console.WaitFor(ctx, markerChain, 10*time.Second); err == nil {
			out.Chain = markerList(l, markerChain)
		}
		if l, err := vm.Console.WaitFor(ctx, markerCPU, 20*time.Second); err == nil {
			out.CPU = markerList(l, markerCPU)
		}
	}
	return out, nil
}

// boots is the boot section: per arch, the Bulwark image, the plain
// Debian image and, with -before, the earlier build's image, in turn, the
// same number of times; each run starts one later in the rotation, so no
// image always boots first.
func (b *bench) boots(ctx context.Context) error {
	tc, err := b.tlsClient()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range b.o.Arches {
		raw := b.imageFor(a)
		if raw == "" {
			b.r.Skip(b.w, "boot."+a, "no built image (run the build section or `make image ARCH="+a+"`)")
			continue
		}
		accel, err := qemu.Accel(ctx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("boot %s: %w", a, err))
			continue
		}
		fmt.Fprintf(b.w, "bench: %s\n", accel)
		images := map[string]string{imgBulwark: raw}
		if b.o.Before != "" {
			p := filepath.Join(b.o.Before, b.spec.Name+"-"+a+".raw")
			if !exists(p) {
				errs = append(errs, fmt.Errorf("boot %s: -before %s has no %s", a, b.o.Before, filepath.Base(p)))
				continue
			}
			images[imgBefore] = p
		}
		if _, cached, _ := b.plainLocation(a); wantPlain(b.o, a, cached) {
			p, err := b.plainImage(ctx, a)
			if err != nil {
				errs = append(errs, fmt.Errorf("plain %s image: %w", a, err))
			} else {
				images[imgPlain] = p
			}
		}
		runs := b.o.Runs.Boot
		if a == "aarch64" {
			runs = b.o.Runs.A64Boot
		}
		outcomes := map[string][]BootOutcome{}
		for i := 0; i < runs && ctx.Err() == nil; i++ {
			var order []string
			for _, img := range []string{imgBulwark, imgPlain, imgBefore} {
				if images[img] != "" {
					order = append(order, img)
				}
			}
			k := i % len(order)
			order = append(order[k:], order[:k]...)
			for _, img := range order {
				ign := b.o.Ignition
				if img == imgPlain {
					ign = ""
				}
				dir := filepath.Join(b.o.Work, "boot", fmt.Sprintf("%s-%s-%d", a, img, i+1))
				fmt.Fprintf(b.w, "bench: boot %s %s #%d (%s)\n", a, img, i+1, filepath.Base(images[img]))
				o, err := b.bootOnce(ctx, a, images[img], ign, dir, tc, accel.KVM)
				o.Run = i + 1
				if err != nil {
					o.Error = err.Error()
					errs = append(errs, fmt.Errorf("%s %s boot %d: %w", a, img, i+1, err))
					fmt.Fprintf(b.w, "    failed: %s\n", firstLine(err.Error()))
				} else {
					os.RemoveAll(dir)
					fmt.Fprintf(b.w, "    multi-user %.1f s (guest uptime %.1f s), dockerd TLS %.1f s, state %s %s\n", o.MultiUser, o.GuestUptime, o.DockerTLS, o.State, o.Failed)
				}
				outcomes[img] = append(outcomes[img], o)
			}
		}
		for _, img := range []string{imgBulwark, imgPlain, imgBefore} {
			list, ok := outcomes[img]
			if !ok {
				continue
			}
			var mu, tlsS, up []float64
			for _, o := range list {
				if o.Error != "" {
					continue
				}
				mu, tlsS, up = append(mu, o.MultiUser), append(tlsS, o.DockerTLS), append(up, o.GuestUptime)
				if o.State != "running" {
					b.r.Note(b.w, "%s %s boot %d finished %q (failed units: %s)", a, img, o.Run, o.State, o.Failed)
				}
			}
			b.r.Add(bootKey(a, img, msMultiUser), unitSeconds, mu)
			b.r.Add(bootKey(a, img, msDockerTLS), unitSeconds, tlsS)
			b.r.Add(bootKey(a, img, "guest_uptime_s"), unitSeconds, up)
			if b.r.Boots == nil {
				b.r.Boots = map[string][]BootOutcome{}
			}
			b.r.Boots[a+"."+img] = list
		}
	}
	return errors.Join(errs...)
}
