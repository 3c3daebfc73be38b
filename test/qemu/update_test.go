//go:build qemu

package qemu_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild"
	"github.com/bulwark/bulwark/internal/qemu"
	"github.com/bulwark/bulwark/internal/qemu/checkunit"
	"github.com/bulwark/bulwark/internal/runlog"
	"github.com/bulwark/bulwark/internal/signedsums"
	"github.com/bulwark/bulwark/internal/sysupdate"
	"golang.org/x/sys/unix"
)

// The update chain's versions: v1 is installed, v2 is a good update, v3
// is built with a docker that cannot start.
const (
	updV1 = "1.1"
	updV2 = "1.2"
	updV3 = "1.3"
)

// brokenDocker is v3's extra tree: docker.service fails before dockerd
// starts, so the node's health check fails on every boot of v3.
const brokenDocker = "[Service]\n# The update chain's v3: a release whose docker cannot start.\nExecStartPre=/bin/false\n"

// release is one built version: its output directory (the update source
// serves it as is) and manifest.
type release struct {
	version, dir string
	img          *manifest.Image
}

// releases builds v1, v2 and v3 of the spec for the arch, signed with a key
// minted for the run (so v1 trusts it), and a refused twin of v2 for each
// way a payload must be refused: one byte of /usr flipped, and SHA256SUMS
// signed by another key.
type releases struct {
	v1, v2, v3  release
	flipped     string // v2 with one byte of its /usr payload flipped
	flippedFile string // the file with the flipped byte
	foreign     string // v2 signed by a key v1 does not trust
}

// mintGPGKey makes a signing key in a new GNUPGHOME (under /tmp: gpg's
// agent socket lives there and its path is limited) and returns the home
// and the key's user id.
func mintGPGKey(t testing.TB, name string) (home, uid string) {
	t.Helper()
	home, err := os.MkdirTemp("", "bulwark-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "all")
		kill.Env = append(os.Environ(), "GNUPGHOME="+home)
		kill.Run()
		os.RemoveAll(home)
	})
	uid = name + " <" + strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "@bulwark.invalid>"
	cmd := exec.Command("gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("minting %s: %v\n%s", name, err, out)
	}
	return home, uid
}

func buildReleases(t testing.TB, e *env, base string) *releases {
	t.Helper()
	if *specFlag == "" {
		t.Fatal("-spec is required for the update tests (make test-qemu passes it)")
	}
	cache := e.cache
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Three builds, the twins and the booted overlay need a few GiB, and a
	// full disk fails a build deep in a step: say so before starting.
	for _, d := range []string{base, cache} {
		if free, err := freeBytes(d); err == nil && free < chainMinFree {
			t.Fatalf("the update chain needs %d GiB free in %s (releases and the build's work directory); %s",
				chainMinFree>>30, d, freeSpace(d))
		}
	}
	home, uid := mintGPGKey(t, "Bulwark update test")
	// osbuild signs with gpg from the caller's GNUPGHOME.
	old, had := os.LookupEnv("GNUPGHOME")
	os.Setenv("GNUPGHOME", home)
	defer func() {
		if had {
			os.Setenv("GNUPGHOME", old)
		} else {
			os.Unsetenv("GNUPGHOME")
		}
	}()
	broken := filepath.Join(base, "v3-tree")
	unitDir := filepath.Join(broken, "usr/lib/systemd/system/docker.service.d")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, "90-update-test-broken.conf"), []byte(brokenDocker), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := &releases{}
	for _, b := range []struct {
		rel   *release
		v     string
		trees []string
	}{{&rs.v1, updV1, nil}, {&rs.v2, updV2, nil}, {&rs.v3, updV3, []string{broken}}} {
		dir := filepath.Join(base, "v"+b.v)
		var log bytes.Buffer
		start := time.Now()
		img, err := osbuild.Build(context.Background(), osbuild.BuildOptions{SpecPath: *specFlag, Arch: e.arch, OutDir: dir,
			CacheDir: cache, SignKey: uid, ImageVersion: b.v, ExtraTrees: b.trees, Stdout: &log})
		if err != nil {
			t.Fatalf("building %s: %v (%s)\nthe build's last lines:\n%s", b.v, err, freeSpace(base, cache), tail(log.String(), 20))
		}
		t.Logf("built %s in %s (usrhash %.16s…)", b.v, time.Since(start).Round(time.Second), img.VerityRootHash)
		*b.rel = release{version: b.v, dir: dir, img: img}
		// Only the payload is served; only v1's qcow2 is booted.
		pruneRelease(t, dir, img, b.rel == &rs.v1)
	}
	rs.flipped = twin(t, rs.v2.dir, filepath.Join(base, "flipped"))
	a, err := arch.Lookup(e.arch)
	if err != nil {
		t.Fatal(err)
	}
	usr := sysupdate.Image{Name: rs.v2.img.Name, Arch: a.Systemd, Version: updV2}
	rs.flippedFile = flipByte(t, rs.flipped, usr)
	rs.foreign = twin(t, rs.v2.dir, filepath.Join(base, "foreign"))
	fhome, fuid := mintGPGKey(t, "Foreign update key")
	os.Setenv("GNUPGHOME", fhome)
	if err := signedsums.Sign(context.Background(), rs.foreign, fuid); err != nil {
		t.Fatal(err)
	}
	return rs
}

// chainMinFree is the free space the update chain asks for before it
// builds: a floor for one arch's three releases and build work beside the
// other arch's, which make test runs at the same time. Not a measured peak:
// what was measured is the whole fresh-clone make test, ~13 GB above the
// level before the clone (README).
const chainMinFree = 8 << 30

// pruneRelease removes what the chain never reads from a release's
// output: the raw disk image and SBOM of every release and the qcow2 of
// all but the one booted (v1). About 0.4 GiB per file, and both arches'
// chains run at once.
func pruneRelease(t testing.TB, dir string, img *manifest.Image, booted bool) {
	t.Helper()
	drop := []string{img.Name + "-" + img.Arch + ".raw", img.Name + "-" + img.Arch + ".spdx.json"}
	if !booted {
		drop = append(drop, img.Name+"-"+img.Arch+".qcow2")
	}
	for _, name := range drop {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// freeBytes is the space an unprivileged writer has left on dir's
// filesystem.
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// freeSpace says how much room is left in each of dirs, for an error
// message: a full disk is the likeliest cause of a build that passes
// elsewhere failing here.
func freeSpace(dirs ...string) string {
	var parts []string
	for _, d := range dirs {
		if free, err := freeBytes(d); err == nil {
			parts = append(parts, fmt.Sprintf("%.1f GiB free in %s", float64(free)/(1<<30), d))
		}
	}
	return strings.Join(parts, ", ")
}

// tail is s's last n lines: a failed build's error is at its log's end.
func tail(s string, n int) string {
	lines, before := runlog.LastLines(s, n)
	if before > 0 {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", before)}, lines...)
	}
	return strings.Join(lines, "\n")
}

// twin makes a copy of a release directory out of hard links, so a test
// can replace single files without touching the original.
func twin(t testing.TB, src, dst string) string {
	t.Helper()
	os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if en.Type().IsRegular() {
			if err := os.Link(filepath.Join(src, en.Name()), filepath.Join(dst, en.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// flipByte replaces dir's /usr payload with a copy that has one byte
// flipped in its middle; SHA256SUMS and its signature stay v2's.
func flipByte(t testing.TB, dir string, img sysupdate.Image) string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		name := en.Name()
		if !img.IsPayload(name) || !strings.HasSuffix(name, ".usr-"+img.Arch+".raw") {
			continue
		}
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		os.Remove(p) // the hard link: v2's file stays intact
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("flipped byte %d of %s", len(b)/2, name)
		return name
	}
	t.Fatalf("no /usr payload in %s", dir)
	return ""
}

// updateServer serves the releases over HTTP on the host's loopback,
// which QEMU's user network shows the guest as 10.0.2.2: /stable/ is the
// node's update source and serves whichever release the test publishes,
// /flipped/ and /foreign/ serve the payloads that must be refused.
type updateServer struct {
	port   int
	stable atomic.Pointer[string]
	srv    *http.Server
	// requests counts what the guest asked for, for the chain's summary.
	requests atomic.Int64
}

func serveUpdates(t testing.TB, rs *releases) *updateServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &updateServer{port: l.Addr().(*net.TCPAddr).Port}
	empty := ""
	u.stable.Store(&empty)
	mux := http.NewServeMux()
	mux.Handle("/flipped/", http.StripPrefix("/flipped/", http.FileServer(http.Dir(rs.flipped))))
	mux.Handle("/foreign/", http.StripPrefix("/foreign/", http.FileServer(http.Dir(rs.foreign))))
	mux.HandleFunc("/stable/", func(w http.ResponseWriter, r *http.Request) {
		dir := *u.stable.Load()
		if dir == "" {
			http.NotFound(w, r)
			return
		}
		http.StripPrefix("/stable/", http.FileServer(http.Dir(dir))).ServeHTTP(w, r)
	})
	u.srv = &http.Server{Handler: countRequests(u, mux)}
	go u.srv.Serve(l)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

// countRequests counts the requests h serves.
func countRequests(u *updateServer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		h.ServeHTTP(w, r)
	})
}

// publish makes /stable/ serve rel.
func (u *updateServer) publish(rel release) { d := rel.dir; u.stable.Store(&d) }

// url is the update source for path (a directory) as the guest sees it.
func (u *updateServer) url(path string) string {
	if path = strings.Trim(path, "/"); path != "" {
		path += "/"
	}
	return fmt.Sprintf("http://10.0.2.2:%d/%s", u.port, path)
}

// chainTries is the update chain node's update.tries: each try of v3 is a
// whole boot that fails, and one proves the counting and the fallback as
// well as the image's default three (which TestUpdateStart's -update-tries
// default and the unit tests of internal/sysupdate keep checked).
const chainTries = 1

// The guest checks of each stage of the chain; the registry entry lists
// their union, so a renamed check fails the run (missingGuestTests) instead
// of silently matching nothing in its stage. v1's come after the node's
// because the guest runs checks in source order.
var (
	chainV1Tests       = slices.Concat(nodeTLSAuthzTests, []string{"TestUpdateRefused", "TestUpdateStart"})
	chainV2Tests       = []string{"TestWaitForHost", "TestNodecfgRanOnce", "TestHostname", "TestSELinuxMode", "TestUpdateApplied", "TestUpdateStart", "TestNoSELinuxDenials"}
	chainRollbackTests = []string{"TestWaitForHost", "TestRolledBack", "TestNoSELinuxDenials"}
)

// updateNodeYAML is the node spec of the update chain: the TLS and authz
// node with the host's server as its update source and chainTries tries.
func updateNodeYAML(source string) string {
	return nodeSpecYAML + "update:\n  url: " + source + "\n  tries: " + strconv.Itoa(chainTries) + "\n"
}

// runUpdateChain boots v1 with a rendered TLS and authz node config and
// checks the node from inside and outside (node-tls-authz's checks: the
// first boot of a configured node), refuses bad payloads, takes v2
// (published on the node's update source), reboots into v2 (blessed, config
// not applied again, state kept, TLS from the host), takes v3, whose docker
// cannot start, and lets the node reboot itself until systemd-boot falls
// back to v2. Every
// QEMU start after the first is the guest's own reboot (the harness runs
// QEMU with -no-reboot and starts it again on the same disk and variable
// store, as firmware would), except the one from v1 to v2 and v2 to v3's
// first try, which follow the checks' poweroff, as an operator's reboot.
func runUpdateChain(t testing.TB, e *env, tc vmTest) {
	start := time.Now()
	dir := artifactDir(t, e.arch)
	rs := buildReleases(t, e, filepath.Join(dir, "releases"))
	builds := time.Since(start)
	srv := serveUpdates(t, rs)
	r := &run{dir: dir, forwards: map[int]int{22: freePort(t)}, extra: map[string]string{}, checkFiles: map[string]string{}}
	timeout := time.Duration(float64(tc.timeout) * qemu.Scale(e.arch, e.kvm))
	ctx, cancel := context.WithTimeout(context.Background(), 8*timeout+5*time.Minute)
	defer cancel()
	v1 := filepath.Join(rs.v1.dir, rs.v1.img.Name+"-"+rs.v1.img.Arch+".qcow2")
	var err error
	if r.disk, err = qemu.PrepareDisk(ctx, v1, r.dir, "8G"); err != nil {
		t.Fatal(err)
	}
	setupNodeSpec(t, e, r, updateNodeYAML(srv.url("stable")))
	m := qemu.Machine{Arch: e.arch, KVM: e.kvm, Ignition: r.ignition}
	cfg, err := m.Config(r.disk, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Report = true
	for g, h := range r.forwards {
		cfg.Forwards = append(cfg.Forwards, qemu.Forward{Host: h, Guest: g})
	}
	common := []string{"-arch", e.arch, "-update-source", srv.url(""), "-update-image", rs.v1.img.Name,
		"-busybox", "busybox", "-bad-version", updV3, "-update-tries", strconv.Itoa(chainTries)}
	stage := func(name string, tests []string, extra ...string) {
		args := append([]string{"-test.run", guestRunPattern(tests), "-update-stage", name}, common...)
		args = append(args, extra...)
		disk := filepath.Join(r.dir, "guestcheck-"+name+".disk")
		files := maps.Clone(e.checkFiles)
		maps.Copy(files, r.checkFiles)
		if err := checkunit.Disk(files, disk); err != nil {
			t.Fatal(err)
		}
		cfg.ExtraDisks = []qemu.ExtraDisk{{Path: disk, Serial: checkunit.Serial}}
		cfg.Credentials = append(checkunit.Credentials(args), checkunit.BootReport(bootMarker)...)
	}
	var times []string
	boot := func(label string, tcb vmTest) *result {
		res, err := runVM(ctx, t, e, tcb, r, cfg, timeout, "console-"+label+".log")
		if err != nil {
			t.Fatalf("%s: %v\nartifacts kept in %s", label, err, r.dir)
		}
		times = append(times, fmt.Sprintf("%s %s", label, res.elapsed.Round(time.Second)))
		if err := resultError(res); err != nil {
			t.Fatalf("%s: %v\nartifacts kept in %s", label, err, r.dir)
		}
		t.Logf("%s: guest checks:\n    %s", label, strings.Join(res.checkOut, "\n    "))
		return res
	}

	// Boot 1, v1: the configured node's checks, inside and from the host
	// (which releases the guest's TestWaitForHost); then refuse the bad
	// payloads, keep state, take v2.
	srv.publish(rs.v2)
	stage("v1", chainV1Tests,
		append(nodeTLSAuthzArgs(e, r), "-bad-sources", "flipped:Checksum of "+srv.url("flipped")+rs.flippedFile+" file did not check out;foreign:Signature verification failed", "-update-next", updV2)...)
	boot("boot1-v1", vmTest{host: checkNodeFromHost})

	// Boot 2, v2: running, blessed, the config kept and not applied again,
	// state kept, TLS from the host; take v3.
	srv.publish(rs.v3)
	stage("v2", chainV2Tests,
		"-want-version", updV2, "-want-usrhash", rs.v2.img.VerityRootHash, "-update-next", updV3,
		"-second-boot", "-hostname", nodeHostname, "-selinux-mode", selinuxMode(e))
	boot("boot2-v2", vmTest{host: checkUpdatedFromHost})

	// Boots 3…: v3 fails its health check and the node reboots itself
	// until systemd-boot's tries for v3 are spent and it boots v2.
	stage("rollback", chainRollbackTests,
		"-want-version", updV2, "-want-usrhash", rs.v2.img.VerityRootHash)
	var selfReboots int
	for n := 3; ; n++ {
		label := fmt.Sprintf("boot%d", n)
		log := "console-" + label + ".log"
		bootStart := time.Now()
		vm, err := qemu.Start(ctx, cfg, filepath.Join(r.dir, log), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.vm = vm
		line, err := vm.Console.WaitFor(ctx, checkunit.MarkerReady, timeout)
		if err == nil && strings.Contains(bootVersion(vm.Console.Lines()), updV2) {
			// v2 again: the fallback. Finish it as a normal boot.
			times = append(times, fmt.Sprintf("%s-v2 ready %s", label, time.Since(bootStart).Round(time.Second)))
			t.Logf("%s: %s", label, line)
			checkUpdatedFromHost(t, e, r)
			res := &result{elapsed: time.Since(bootStart)}
			res.readReady(line)
			err := res.collect(ctx, vm, timeout)
			vm.Kill()
			if err != nil {
				t.Fatalf("%s: %v\nartifacts kept in %s", label, err, r.dir)
			}
			if err := resultError(res); err != nil {
				t.Fatalf("%s (v2 after the fallback): %v\nartifacts kept in %s", label, err, r.dir)
			}
			t.Logf("%s: guest checks:\n    %s", label, strings.Join(res.checkOut, "\n    "))
			break
		}
		// A v3 boot: it must end in a reboot the guest made itself.
		wctx, wcancel := context.WithTimeout(ctx, timeout)
		werr := vm.Wait(wctx)
		wcancel()
		lines := vm.Console.Lines()
		vm.Kill()
		ver := bootVersion(lines)
		if !strings.Contains(ver, updV3) {
			t.Fatalf("%s: booted %q (%v), neither v2 nor v3\nartifacts kept in %s", label, ver, err, r.dir)
		}
		if !containsText(lines, "reboot: Restarting system") {
			t.Fatalf("%s: v3 did not reboot itself (QEMU: %v)\nartifacts kept in %s", label, werr, r.dir)
		}
		// Why it rebooted: the health check's own verdict (nodecfg health
		// writes to the console too), or the check unit's report of the
		// failed units if it got that far before the reboot.
		if !containsText(lines, "FAIL dockerd answers on") && !containsText(lines, "failed=bulwark-health.service") {
			t.Errorf("%s: neither the console nor the report shows bulwark-health.service failing on dockerd", label)
		}
		selfReboots++
		times = append(times, fmt.Sprintf("%s-v3 self-reboot %s", label, time.Since(bootStart).Round(time.Second)))
		t.Logf("%s: %s rebooted itself after %s", label, ver, time.Since(bootStart).Round(time.Second))
		if selfReboots > chainTries+1 {
			t.Fatalf("v3 booted %d times: systemd-boot never fell back\nartifacts kept in %s", selfReboots, r.dir)
		}
	}
	if selfReboots != chainTries {
		t.Errorf("v3 booted %d times before the fallback, want %d (the node's update.tries)", selfReboots, chainTries)
	}
	t.Logf("update chain: builds %s, boots: %s; whole %s; update requests: %d",
		builds.Round(time.Second), strings.Join(times, ", "), time.Since(start).Round(time.Second), srv.requests.Load())
	if !t.Failed() {
		os.RemoveAll(r.dir)
	}
}

// bootMarker is printed by the chain's boot reporter (bootReporter) with
// the version and the systemd-boot entry of each boot.
const bootMarker = "BULWARK-BOOTED"

// bootVersion is the version the boot reporter saw in lines, "" if none.
func bootVersion(lines []string) string {
	for _, l := range lines {
		if _, v, ok := strings.Cut(l, bootMarker+" "); ok {
			return v
		}
	}
	return ""
}

func containsText(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// checkUpdatedFromHost: after an update the node still answers over TLS
// with its v1 certificates, the container started on v1 runs again, and
// then it releases the guest.
func checkUpdatedFromHost(t testing.TB, e *env, r *run) {
	defer releaseGuest(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := dockerClient(t, fmt.Sprintf("127.0.0.1:%d", r.forwards[2376]), tlsConfig(t, r.pki.ca, r.pki.alice))
	var err error
	for i := 0; i < 40; i++ {
		if _, err = alice.Ping(ctx); err == nil {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err != nil {
		t.Errorf("host: alice: docker ping over TLS after the update: %v", err)
		return
	}
	var state string
	for i := 0; i < 40; i++ {
		c, err := alice.ContainerInspect(ctx, "keeper")
		if err == nil && c.State != nil && c.State.Running {
			state = "running"
			break
		}
		state = fmt.Sprint(err)
		time.Sleep(3 * time.Second)
	}
	if state != "running" {
		t.Errorf("host: container keeper (started on v1) is not running: %s", state)
		return
	}
	t.Logf("host: docker answers alice over TLS; container keeper from v1 runs")
}
