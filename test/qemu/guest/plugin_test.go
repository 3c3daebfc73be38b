//go:build guest

package guest

// The authz plugin under load and fault. This file sorts after node_test.go
// on purpose: go test runs files in name order, so these checks start once
// TestWaitForHost has returned, when the host's own checks over TLS are
// done, and a killed plugin or a changed policy cannot fail them.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

var (
	authzCA   = flag.String("authz-ca", "", "CA certificate (PEM) of the node's Docker API (on the check disk)")
	authzCert = flag.String("authz-cert", "", "client certificate (PEM) of a user the node's policy lets do anything")
	authzKey  = flag.String("authz-key", "", "the client certificate's key")
	authzLoad = flag.Int("authz-load", 1000, "requests TestAuthzLoad sends at once")
)

const (
	authzUnit  = "bulwark-authz.service"
	policyFile = "/etc/bulwark/authz/policy.json"
	// tlsAPI is dockerd's TLS listener seen from inside the guest: the
	// load stays on the loopback interface.
	tlsAPI = "127.0.0.1:2376"
	// pluginFailed is how dockerd answers when an authorization plugin
	// fails (pkg/authorization/authz.go); the error after it names the
	// plugin call, AuthZPlugin.AuthZReq.
	pluginFailed = "plugin bulwark-authz failed with error: "
)

// tlsUser is the check's Docker client over mutual TLS on loopback as the
// user whose certificate the harness passed, and that user's CN. conns
// sizes the idle pool so that a burst's connections are kept, not redialed;
// 0 keeps none: every request makes a new TLS connection.
func tlsUser(t *testing.T, conns int) (*client.Client, string) {
	t.Helper()
	if *authzCA == "" || *authzCert == "" || *authzKey == "" {
		t.Fatal("-authz-ca, -authz-cert and -authz-key are required: the harness passes a client certificate for these checks")
	}
	cert, err := tls.LoadX509KeyPair(*authzCert, *authzKey)
	if err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(*authzCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if blk, _ := pem.Decode(caPEM); blk == nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: no CA certificate", *authzCA)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: conns, DisableKeepAlives: conns == 0}, Timeout: 5 * time.Minute}
	c, err := client.NewClientWithOpts(client.WithHost("tcp://"+tlsAPI), client.WithHTTPClient(hc), client.WithScheme("https"), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, leaf.Subject.CommonName
}

// quantile is the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", r(quantile(s, 0.5)), r(quantile(s, 0.9)), r(quantile(s, 0.99)), r(s[len(s)-1]))
}

// TestAuthzLoad sends -authz-load Docker API requests (GET /_ping) at
// once over mutual TLS on loopback, each decided by the plugin, and wants
// every one answered without error. It reports two timings, neither a
// limit (under TCG they measure the emulator as much as the code): the
// plugin's own decision time (BULWARK_AUTHZ_TOOK_NS, measured in AuthZReq
// around Policy.Authorize, read back from the journal for exactly these
// requests) and the client's whole round trip (TLS handshake, dockerd, the
// two plugin calls).
func TestAuthzLoad(t *testing.T) {
	n := *authzLoad
	c, user := tlsUser(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// /_ping, not /version: the plugin decides both alike, but dockerd
	// spends ~130 ms on each /version under TCG, which made the burst
	// measure dockerd (3.5 minutes on x86_64) rather than the plugin.
	if _, err := c.ServerVersion(ctx); err != nil { // negotiates the API version
		t.Fatalf("%s: GET /version over TLS: %v", user, err)
	}
	// What one request costs on its own, with and without a new TLS
	// handshake: the figures that explain the burst's.
	fresh, _ := tlsUser(t, 0)
	fresh.NegotiateAPIVersion(ctx)
	var alone, kept []time.Duration
	for range 10 {
		t0 := time.Now()
		if _, err := fresh.Ping(ctx); err != nil {
			t.Fatalf("%s: GET /_ping on a new connection: %v", user, err)
		}
		alone = append(alone, time.Since(t0))
		t0 = time.Now()
		if _, err := c.Ping(ctx); err != nil {
			t.Fatalf("%s: GET /_ping on a kept connection: %v", user, err)
		}
		kept = append(kept, time.Since(t0))
	}
	t.Logf("authz load: one request at a time, 10 each: new TLS connection %s; kept connection %s", spread(alone), spread(kept))

	// The journal is read from the next whole second: nothing of ours but
	// the burst is logged after it.
	since := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(since) + 50*time.Millisecond)

	took := make([]time.Duration, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			_, errs[i] = c.Ping(ctx)
			took[i] = time.Since(t0)
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)

	var failed []string
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		t.Errorf("%d of %d concurrent requests failed; first distinct errors:\n%s", len(failed), n, strings.Join(slices.Compact(failed)[:min(5, len(slices.Compact(failed)))], "\n"))
	}
	t.Logf("authz load: %d concurrent GET /_ping over mutual TLS on loopback as %q: %d errors, all answered in %s", n, user, len(failed), wall.Round(time.Millisecond))
	t.Logf("authz load: client round trip (TLS, dockerd, plugin): %s", spread(took))

	var decided []time.Duration
	for _, e := range journalEntries(t, authzUnit, since) {
		if e["BULWARK_AUTHZ_USER"] != user || e["BULWARK_AUTHZ_ACTION"] != "docker_ping" {
			continue
		}
		if e["BULWARK_AUTHZ_DECISION"] != "allow" {
			t.Errorf("plugin denied a load request: %s", e["MESSAGE"])
		}
		ns, err := strconv.ParseInt(e["BULWARK_AUTHZ_TOOK_NS"], 10, 64)
		if err != nil {
			t.Errorf("journal entry without a decision time: %s", e["MESSAGE"])
			continue
		}
		decided = append(decided, time.Duration(ns))
	}
	if len(decided) != n {
		t.Fatalf("the journal has %d decisions on %s's docker_ping since %s; want one per request, %d", len(decided), user, since.Format(time.TimeOnly), n)
	}
	t.Logf("authz load: plugin decision time (its own, from the journal): %s", spread(decided))
}

// journalEntries returns the unit's journal entries from since on, each as
// its fields. journalctl is run in the check's own domain (runcon with the
// current context): started plainly from a service it enters
// systemd_journal_init_t, a domain made for `journalctl --flush` that may
// not map journal files; an admin's journalctl never runs there.
func journalEntries(t *testing.T, unit string, since time.Time) []map[string]string {
	t.Helper()
	self, err := os.ReadFile("/proc/self/attr/current")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runcon", strings.TrimRight(string(self), "\x00\n"), "journalctl", "-u", unit,
		"--since", "@"+strconv.FormatInt(since.Unix(), 10), "-o", "json", "--no-pager")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("journalctl -u %s: %v\n%s", unit, err, stderr.String())
	}
	var entries []map[string]string
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" {
			continue
		}
		// Fields are strings, or byte arrays for binary values: keep the
		// strings, which is all the checks read.
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("journalctl -o json: %v: %q", err, l)
		}
		e := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// unitState is what systemd says of unit right now.
type unitState struct {
	active, sub string
	result      string
	pid         int
	restarts    int
}

func showUnit(t *testing.T, unit string) unitState {
	t.Helper()
	out, err := exec.Command("systemctl", "show", unit, "-p", "ActiveState,SubState,Result,MainPID,NRestarts").Output()
	if err != nil {
		t.Fatalf("systemctl show %s: %v", unit, err)
	}
	var s unitState
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "ActiveState":
			s.active = v
		case "SubState":
			s.sub = v
		case "Result":
			s.result = v
		case "MainPID":
			s.pid, _ = strconv.Atoi(v)
		case "NRestarts":
			s.restarts, _ = strconv.Atoi(v)
		}
	}
	return s
}

// waitUnit polls unit until ok holds, or fails the test after limit.
func waitUnit(t *testing.T, unit, what string, limit time.Duration, ok func(unitState) bool) unitState {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := showUnit(t, unit)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s after %s: %+v", unit, what, limit, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func systemctl(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("systemctl", args...).CombinedOutput(); err != nil {
		t.Fatalf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAuthzPluginKilled kills the plugin (SIGKILL) twice. First with its
// restart held back by a runtime drop-in (RestartSec=45s; the unit's
// Restart= is untouched), long enough to outlast dockerd's retries of the
// plugin socket (about 15 s): a request then is refused, and the answer
// names the plugin's failure, until systemd has restarted the plugin, after
// which requests pass. Then with the shipped unit (RestartSec=1): the
// restart comes within dockerd's retry window, so a request sent during
// the outage waits and passes, decided by the new process.
func TestAuthzPluginKilled(t *testing.T) {
	c, user := tlsUser(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.ServerVersion(ctx); err != nil {
		t.Fatalf("%s: GET /version before the kill: %v", user, err)
	}
	before := showUnit(t, authzUnit)
	if before.active != "active" || before.pid == 0 {
		t.Fatalf("%s before the kill: %+v; want active with a main PID", authzUnit, before)
	}

	hold := "/run/systemd/system/" + authzUnit + ".d/90-check-hold-restart.conf"
	if err := os.MkdirAll(filepath.Dir(hold), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hold, []byte("[Service]\nRestartSec=45s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unhold := func() {
		os.Remove(hold)
		os.Remove(filepath.Dir(hold))
		exec.Command("systemctl", "daemon-reload").Run()
	}
	defer unhold()
	systemctl(t, "daemon-reload")

	if err := syscall.Kill(before.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", before.pid, err)
	}
	killed := time.Now()
	waitUnit(t, authzUnit, "waiting to restart", time.Minute, func(s unitState) bool { return s.sub == "auto-restart" })
	_, err := c.ServerVersion(ctx)
	refusedAfter := time.Since(killed)
	during := showUnit(t, authzUnit)
	if err == nil {
		t.Errorf("%s: GET /version answered %s after the plugin was killed (unit %+v); want refused", user, refusedAfter.Round(time.Millisecond), during)
	} else if !strings.Contains(err.Error(), pluginFailed) || !strings.Contains(err.Error(), "AuthZPlugin.AuthZReq") {
		t.Errorf("%s: GET /version with the plugin dead: %v; want the answer to name the plugin's failure (%q ... AuthZPlugin.AuthZReq)", user, err, pluginFailed)
	} else {
		t.Logf("plugin killed (pid %d): request refused %s later, unit %s/%s: %v", before.pid, refusedAfter.Round(time.Millisecond), during.active, during.sub, err)
	}
	if during.sub != "auto-restart" {
		t.Errorf("the refusal came with the unit %s/%s; the hold should have kept it down", during.active, during.sub)
	}
	after := waitUnit(t, authzUnit, "restarted", 2*time.Minute, func(s unitState) bool {
		return s.active == "active" && s.pid != 0 && s.pid != before.pid
	})
	if after.restarts != before.restarts+1 {
		t.Errorf("NRestarts %d → %d; want one restart by systemd", before.restarts, after.restarts)
	}
	if _, err := c.ServerVersion(ctx); err != nil {
		t.Errorf("%s: GET /version after systemd restarted the plugin (pid %d, %s after the kill): %v", user, after.pid, time.Since(killed).Round(time.Second), err)
	} else {
		t.Logf("systemd restarted the plugin (pid %d, NRestarts %d) %s after the kill; requests pass again", after.pid, after.restarts, time.Since(killed).Round(time.Second))
	}

	unhold()
	killed = time.Now()
	if err := syscall.Kill(after.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", after.pid, err)
	}
	// Ask once the process is gone. A request the plugin was reading at
	// the kill is refused instead (dockerd resends it with the body the
	// dead plugin consumed, which the new one denies as undecodable): it
	// fails closed, but it is not what this step measures.
	waitUnit(t, authzUnit, "down or restarted", time.Minute, func(s unitState) bool { return s.pid != after.pid })
	sent := time.Now()
	_, err = c.ServerVersion(ctx)
	waited := time.Since(sent)
	again := waitUnit(t, authzUnit, "restarted", time.Minute, func(s unitState) bool {
		return s.active == "active" && s.pid != 0 && s.pid != after.pid
	})
	if err != nil {
		t.Errorf("%s: GET /version sent %s after the plugin was killed, shipped unit (RestartSec=1): %v; want it to wait for the restart and pass", user, sent.Sub(killed).Round(time.Millisecond), err)
	} else {
		t.Logf("shipped unit: plugin killed again (pid %d), restarted as pid %d; a request sent %s after the kill passed %s later", after.pid, again.pid, sent.Sub(killed).Round(time.Millisecond), waited.Round(time.Millisecond))
	}
	if again.restarts != after.restarts+1 {
		t.Errorf("NRestarts %d → %d; want one more restart", after.restarts, again.restarts)
	}
}

// TestAuthzPolicyReload reloads the plugin (systemctl reload: SIGHUP) with
// a broken policy file, then a good one. The broken file drops the user's
// rule and has a bad line: refused as a whole, the user is still allowed,
// and the journal says the reload was refused with the file, line and JSON
// path. The good file limits the user to docker_ping: it is in force at
// once. The node's policy is put back at the end.
func TestAuthzPolicyReload(t *testing.T) {
	c, user := tlsUser(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	orig, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	var others []string // the policy's rules for everyone but user
	for _, l := range strings.Split(string(orig), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(l, strconv.Quote(user)) {
			others = append(others, l)
		}
	}
	reload := func(content string) time.Time {
		t.Helper()
		if err := os.WriteFile(policyFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Truncate(time.Second)
		systemctl(t, "reload", authzUnit)
		return at
	}
	// reloadEvent waits for the plugin's entry on the reload sent at at.
	reloadEvent := func(at time.Time, outcome string) map[string]string {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			for _, e := range journalEntries(t, authzUnit, at) {
				if e["BULWARK_AUTHZ_RELOAD"] == outcome {
					return e
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no journal entry of a reload %s since %s", outcome, at.Format(time.TimeOnly))
			}
			time.Sleep(time.Second)
		}
	}
	defer func() {
		at := reload(string(orig))
		e := reloadEvent(at, "taken")
		if _, err := c.ServerVersion(ctx); err != nil {
			t.Errorf("%s after the node's policy was put back (%s): %v", user, e["MESSAGE"], err)
		}
	}()
	if _, err := c.ServerVersion(ctx); err != nil {
		t.Fatalf("%s: GET /version before the reloads: %v", user, err)
	}

	broken := append(slices.Clone(others), `{"name":"typo","users":["dave"],"actions":["container_list"],"readonly":tru}`)
	badLine := len(broken) // every line of the file is a rule
	e := reloadEvent(reload(strings.Join(broken, "\n")+"\n"), "refused")
	msg := e["MESSAGE"]
	for _, want := range []string{"policy " + policyFile + ": reload refused", fmt.Sprintf("%s:%d: $[%d]: not a policy rule", policyFile, badLine, badLine-1)} {
		if !strings.Contains(msg, want) {
			t.Errorf("journal on the broken reload: %q\ndoes not say %q", msg, want)
		}
	}
	t.Logf("journal on the broken reload (priority %s): %s", e["PRIORITY"], msg)
	if _, err := c.ServerVersion(ctx); err != nil {
		t.Errorf("%s after a refused reload: %v; the policy in force must not change", user, err)
	} else {
		t.Logf("%s still allowed: the broken file (which drops %s's rule) was not taken, not even in part", user, user)
	}

	limited := append(slices.Clone(others), fmt.Sprintf(`{"name":"check-limited","users":[%q],"actions":["docker_ping"]}`, user))
	e = reloadEvent(reload(strings.Join(limited, "\n")+"\n"), "taken")
	t.Logf("journal on the good reload: %s", e["MESSAGE"])
	_, err = c.ServerVersion(ctx)
	want := `rule "check-limited" does not allow docker_version`
	if err == nil || !strings.Contains(err.Error(), "authorization denied by plugin bulwark-authz") || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: GET /version after the good reload: %v; want denied by the new rule (%s)", user, err, want)
	} else {
		t.Logf("the good reload is in force: %v", err)
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Errorf("%s: ping, which the new rule allows: %v", user, err)
	}
}
