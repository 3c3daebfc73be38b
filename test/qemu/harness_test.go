//go:build qemu

// Package qemu_test boots the built Bulwark images under QEMU and checks them
// from inside (a cross-compiled test binary) and outside the guest. Run it
// with `make test-qemu ARCH=x86_64|aarch64`.
package qemu_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/audit"
	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/cachedir"
	"github.com/bulwark/bulwark/internal/qemu"
	"github.com/bulwark/bulwark/internal/qemu/checkunit"
)

var (
	imagePath = flag.String("image", "", "built image (.raw); its .qcow2 is used when present")
	archFlag  = flag.String("arch", "x86_64", "guest architecture")
	artifacts = flag.String("artifacts", "", "where failed tests keep console logs (default: out/qemu-tests)")
	cacheDir  = flag.String("cache", "", "download cache (default: the repo's .cache)")
)

// env is what every VM test shares: the image, its manifest entry and the
// guest check binary for the arch.
type env struct {
	arch     string
	kvm      bool // qemu.Accel's decision, made once for the whole run
	image    string
	manifest *manifest.Image
	// spec is the image's spec (-spec), nil without the flag.
	spec     *imagespec.Spec
	guestBin string
	// guestTests are the Test functions that guestBin holds.
	guestTests []string
	repo       string
	// cache is osbuild's cache (-cache, default the repo's .cache): the
	// tests' own builds and downloads share it with make image.
	cache string
	// checkFiles go on the guest check disk: the check binary and a static
	// busybox (from trixie's busybox-static) that the container checks
	// import as an image, so no registry is needed.
	checkFiles map[string]string
}

func setup(t testing.TB) *env {
	t.Helper()
	if *imagePath == "" {
		t.Fatal("-image is required (make test-qemu passes it)")
	}
	repo, _ := filepath.Abs("../..")
	e := &env{arch: *archFlag, image: *imagePath, repo: repo}
	if q := strings.TrimSuffix(e.image, ".raw") + ".qcow2"; fileExists(q) {
		e.image = q
	}
	var err error
	if *specFlag != "" {
		if e.spec, err = imagespec.Load(*specFlag); err != nil {
			t.Fatal(err)
		}
	}
	if e.manifest, err = manifest.ForImage(*imagePath); err != nil {
		t.Fatal(err)
	}
	a, err := arch.Lookup(e.arch)
	if err != nil {
		t.Fatal(err)
	}
	goarch := a.GoArch
	e.guestBin = filepath.Join(t.TempDir(), "guestcheck.test")
	cmd := exec.Command("go", "test", "-c", "-tags", "guest", "-trimpath", "-ldflags=-s -w", "-o", e.guestBin, "./guest")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building guest checks for %s: %v\n%s", goarch, err, out)
	}
	if e.guestTests, err = guestTests(filepath.Join(repo, "test/qemu/guest"), goarch); err != nil {
		t.Fatal(err)
	}
	e.cache = *cacheDir
	if e.cache == "" {
		e.cache = filepath.Join(repo, ".cache")
	}
	bb := cachedir.Dir(e.cache).Host("busybox-static-" + a.Debian)
	fetch := exec.Command(filepath.Join(repo, "scripts/fetch-deb.sh"), bb, a.Debian, "busybox-static")
	if out, err := fetch.CombinedOutput(); err != nil {
		t.Fatalf("fetching busybox-static for %s: %v\n%s", a.Debian, err, out)
	}
	// What `auditctl -l` must list in the guest, from the repo's rule files.
	rules, _, err := audit.Load(e.arch, filepath.Join(repo, "policies/audit"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := audit.List(rules, e.arch)
	if err != nil {
		t.Fatal(err)
	}
	auditList := filepath.Join(t.TempDir(), "audit.rules")
	if err := os.WriteFile(auditList, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	e.checkFiles = map[string]string{checkunit.Binary: e.guestBin, "busybox": filepath.Join(bb, "root/usr/bin/busybox"), "audit.rules": auditList}
	accel, err := qemu.Accel(context.Background(), e.arch)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(accel)
	e.kvm = accel.KVM
	return e
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort(t testing.TB) int {
	p, err := qemu.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// vmTest is one registered test: the arches it runs on, its timeout under
// KVM (scaled for TCG and aarch64), how the VM is set up, and its checks.
type vmTest struct {
	name     string
	arches   []string
	timeout  time.Duration
	ignition string // file under test/qemu/testdata passed as opt/com.coreos/config
	// guestTests names the guest checks to run, each of which must exist
	// in test/qemu/guest for the arch (a renamed one fails the run rather
	// than silently not running), and guestArgs adds flags.
	guestTests []string
	guestArgs  func(e *env, r *run) []string
	setup      func(t testing.TB, e *env, r *run)
	creds      []qemu.Credential
	host       func(t testing.TB, e *env, r *run)
	// wantFail, if set, means the boot must fail with this in the error,
	// reported promptly once the console has shown the failure (see
	// failFastLag), not after waiting out the timeout.
	wantFail string
	// expect, if set, judges a finished boot instead of the default rule
	// (running, no failed units, no console problems, guest checks pass).
	expect func(t testing.TB, res *result)
	// secureBoot boots with the arch's Secure Boot firmware, its variable
	// store in setup mode, and first lets the image enroll its keys (a
	// boot that ends when systemd-boot resets after enrolling).
	secureBoot bool
	// chain, if set, runs the test instead of the single boot above: a
	// test of several boots of one disk (the update chain).
	chain func(t testing.TB, e *env, tc vmTest)
}

// run is one VM's state.
type run struct {
	ignition string // config passed as opt/com.coreos/config, if set by setup
	pki      *nodePKI
	dir      string
	disk     string
	forwards map[int]int // guest port → host port
	vm       *qemu.VM
	extra    map[string]string
	// checkFiles go on this run's check disk besides env's (name on the
	// disk → host path), e.g. a client certificate minted by setup.
	checkFiles map[string]string
}

// result is what a boot reported.
type result struct {
	state, failed string
	checkExit     string
	checkOut      []string
	problems      []qemu.Problem
	console       []string
	elapsed       time.Duration
}

// archArtifacts is where one arch's runs keep their artifacts and summary.
func archArtifacts(arch string) string {
	base := *artifacts
	if base == "" {
		base, _ = filepath.Abs("../../out/qemu-tests")
	}
	return filepath.Join(base, arch)
}

func artifactDir(t testing.TB, arch string) string {
	d := filepath.Join(archArtifacts(arch), strings.ReplaceAll(t.Name(), "/", "_"))
	os.RemoveAll(d)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// boot runs one VM to completion and returns what it reported, or the
// harness error (fatal console pattern, timeout, early exit).
func boot(t testing.TB, e *env, tc vmTest) (*result, *run, error) {
	timeout := time.Duration(float64(tc.timeout) * qemu.Scale(e.arch, e.kvm))
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	r := &run{dir: artifactDir(t, e.arch), forwards: map[int]int{22: freePort(t)}, extra: map[string]string{}, checkFiles: map[string]string{}}
	var err error
	if r.disk, err = qemu.PrepareDisk(ctx, e.image, r.dir, "8G"); err != nil {
		t.Fatal(err)
	}
	if tc.setup != nil {
		tc.setup(t, e, r)
	}
	args := []string{"-test.run", guestRunPattern(tc.guestTests), "-arch", e.arch}
	if tc.guestArgs != nil {
		args = append(args, tc.guestArgs(e, r)...)
	}
	checkDisk := filepath.Join(r.dir, "guestcheck.disk")
	files := maps.Clone(e.checkFiles)
	maps.Copy(files, r.checkFiles)
	if err := checkunit.Disk(files, checkDisk); err != nil {
		t.Fatal(err)
	}
	m := qemu.Machine{Arch: e.arch, KVM: e.kvm, SecureBoot: tc.secureBoot, Ignition: r.ignition}
	if m.Ignition == "" && tc.ignition != "" {
		m.Ignition = filepath.Join(e.repo, "test/qemu/testdata", tc.ignition)
	}
	cfg, err := m.Config(r.disk, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtraDisks = []qemu.ExtraDisk{{Path: checkDisk, Serial: checkunit.Serial}}
	cfg.Report = true
	for g, h := range r.forwards {
		cfg.Forwards = append(cfg.Forwards, qemu.Forward{Host: h, Guest: g})
	}
	cfg.Credentials = append(checkunit.Credentials(args), tc.creds...)
	if tc.secureBoot {
		if err := enroll(ctx, t, r, cfg, timeout); err != nil {
			return nil, r, err
		}
	}
	res, err := runVM(ctx, t, e, tc, r, cfg, timeout, "console.log")
	return res, r, err
}

// runVM boots cfg once, runs the host checks after readiness and collects
// the guest's report.
func runVM(ctx context.Context, t testing.TB, e *env, tc vmTest, r *run, cfg qemu.Config, timeout time.Duration, logName string) (*result, error) {
	start := time.Now()
	t.Logf("booting %s (%s, timeout %s); console: %s", filepath.Base(e.image), map[bool]string{true: "KVM", false: "TCG"}[cfg.KVM], timeout, filepath.Join(r.dir, logName))
	vm, err := qemu.Start(ctx, cfg, filepath.Join(r.dir, logName), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.vm = vm
	defer vm.Kill()
	os.WriteFile(filepath.Join(r.dir, "qemu-cmdline.txt"), []byte(vm.CommandLine()+"\n"), 0o644)
	res := &result{}
	line, err := vm.Console.WaitFor(ctx, checkunit.MarkerReady, timeout)
	if err != nil {
		return nil, err
	}
	res.elapsed = time.Since(start)
	t.Logf("ready after %s: %s", res.elapsed.Round(100*time.Millisecond), line)
	res.readReady(line)
	if tc.host != nil {
		tc.host(t, e, r)
	}
	if err := res.collect(ctx, vm, timeout-res.elapsed); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(r.dir, "guest-checks.txt"), []byte(strings.Join(res.checkOut, "\n")+"\n"), 0o644)
	return res, nil
}

// readReady takes the system state and failed units from the check
// unit's ready line.
func (res *result) readReady(line string) {
	for _, f := range strings.Fields(strings.TrimPrefix(line, checkunit.MarkerReady)) {
		if v, ok := strings.CutPrefix(f, "state="); ok {
			res.state = v
		}
		if v, ok := strings.CutPrefix(f, "failed="); ok {
			res.failed = v
		}
	}
}

// collect waits for the check unit to finish and the guest to power off,
// then takes the checks' output, exit code and the console's problems.
func (res *result) collect(ctx context.Context, vm *qemu.VM, timeout time.Duration) error {
	if _, err := vm.Console.WaitFor(ctx, checkunit.MarkerDone, timeout); err != nil {
		return err
	}
	if err := vm.Wait(ctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("guest did not power off: %w", err)
	}
	lines := vm.Console.Lines()
	for _, l := range lines {
		if _, v, ok := strings.Cut(l, checkunit.MarkerCheck); ok {
			res.checkOut = append(res.checkOut, v)
		}
		if i := strings.Index(l, checkunit.MarkerExit); i >= 0 {
			res.checkExit = strings.TrimSpace(strings.TrimPrefix(l[i:], checkunit.MarkerExit))
		}
	}
	res.problems = qemu.Problems(lines)
	res.console = lines
	return nil
}

// failFastLag bounds how long after the console showed a failure the
// harness may take to report it. It measures the harness's own reaction (a
// watcher waking up, QEMU reaped, the report parsed), not the guest's
// speed, so it holds on a slow machine as on a fast one; waiting out a
// timeout instead of reacting takes minutes and breaks it.
const failFastLag = 10 * time.Second

// shownAt is when the console showed the failure err reports: the fatal
// line or QEMU's exit for a console error, else (a finished boot judged
// from its report) the last console line, the guest's last progress.
func shownAt(err error, r *run) time.Time {
	var ce *qemu.ConsoleError
	if errors.As(err, &ce) && !ce.At.IsZero() {
		return ce.At
	}
	if r.vm == nil {
		return time.Time{}
	}
	return r.vm.Console.LastLineAt()
}

func runVMTest(t testing.TB, e *env, tc vmTest) {
	if tc.chain != nil {
		tc.chain(t, e, tc)
		return
	}
	start := time.Now()
	res, r, err := boot(t, e, tc)
	reported := time.Now()
	if tc.wantFail != "" {
		if err == nil {
			err = resultError(res)
		}
		if err == nil {
			t.Fatalf("boot succeeded; want a failure matching %q", tc.wantFail)
		}
		if !strings.Contains(err.Error(), tc.wantFail) {
			t.Fatalf("failure %v\ndoes not mention %q", err, tc.wantFail)
		}
		shown := shownAt(err, r)
		if shown.IsZero() {
			t.Fatalf("failure %v\nhas no console line or exit to time it from", err)
		}
		if lag := reported.Sub(shown); lag > failFastLag {
			t.Errorf("harness reported the failure %s after the console showed it; want under %s (fail fast, not wait out the timeout)", lag.Round(time.Second), failFastLag)
		}
		t.Logf("harness failed as it should, %s after the console showed it (%s after the start):\n%v",
			reported.Sub(shown).Round(time.Millisecond), reported.Sub(start).Round(time.Second), err)
		os.RemoveAll(r.dir)
		return
	}
	if err != nil {
		t.Fatalf("%v\nartifacts kept in %s", err, r.dir)
	}
	if tc.expect != nil {
		tc.expect(t, res)
		if t.Failed() {
			t.Logf("artifacts kept in %s", r.dir)
		} else {
			os.RemoveAll(r.dir)
		}
		return
	}
	if err := resultError(res); err != nil {
		t.Fatalf("%v\nartifacts kept in %s", err, r.dir)
	}
	t.Logf("guest checks:\n    %s", strings.Join(res.checkOut, "\n    "))
	if !t.Failed() {
		os.RemoveAll(r.dir)
	} else {
		t.Logf("artifacts kept in %s", r.dir)
	}
}

// resultError turns a finished boot's report into an error, if anything in
// it is wrong: not running, failed units, console problems, failed checks.
func resultError(res *result) error {
	var msgs []string
	if res.state != "running" {
		msgs = append(msgs, fmt.Sprintf("system state %q (failed units: %s)", res.state, res.failed))
	}
	for _, p := range res.problems {
		msgs = append(msgs, fmt.Sprintf("console %s: %s", p.Pattern, p.Line))
	}
	if res.checkExit != "0" {
		msgs = append(msgs, fmt.Sprintf("guest checks exited %q; failed: %s", res.checkExit, strings.Join(failedGuestTests(res.checkOut), ", ")))
	}
	if len(msgs) == 0 {
		return nil
	}
	// The guest's whole output goes last: the lines that say what failed
	// lead (the run summary keeps an error's first lines).
	if res.checkExit != "0" {
		msgs = append(msgs, "guest checks' output:\n    "+strings.Join(res.checkOut, "\n    "))
	}
	return fmt.Errorf("%s", strings.Join(msgs, "\n"))
}

// failedGuestTests names the guest tests whose "--- FAIL" lines are in
// out, or says that none did (the check binary itself failed).
func failedGuestTests(out []string) []string {
	var names []string
	for _, l := range out {
		if _, name, ok := strings.Cut(strings.TrimSpace(l), "--- FAIL: "); ok {
			name, _, _ = strings.Cut(name, " ")
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return []string{"no guest test (the check binary did not finish)"}
	}
	return names
}

// sha256File hashes p; an unreadable file hashes as "unreadable", which no
// guest will match, so the check fails rather than the harness.
func sha256File(p string) string {
	d, err := manifest.FileDigest(p)
	if err != nil {
		return "unreadable"
	}
	return d
}
