//go:build qemu

package qemu_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A VM test's failure is one line among thousands of console and guest
// lines, and CI keeps only a run's last lines. So each VM test's errors are
// recorded as they are reported and said again, a few lines each, at the
// end of TestVM and in summary.txt beside the artifacts (make test-qemu
// prints it when the run fails).

// summary collects, per VM test, its outcome and the first lines of each
// error it reported.
type summary struct {
	mu    sync.Mutex
	tests []*outcome
}

type outcome struct {
	name    string
	elapsed time.Duration
	failed  bool
	errs    []string
}

// maxErrLines bounds what one error contributes to the summary: the lines
// that name the failure come first (resultError puts the guest's output
// last).
const maxErrLines = 6

// recorder is the testing.TB a VM test runs with: it passes everything on
// and keeps a copy of each error for the summary.
type recorder struct {
	testing.TB
	o  *outcome
	mu *sync.Mutex
}

func (s *summary) start(t testing.TB) (*recorder, func()) {
	o := &outcome{name: t.Name()}
	s.mu.Lock()
	s.tests = append(s.tests, o)
	s.mu.Unlock()
	begin := time.Now()
	return &recorder{TB: t, o: o, mu: &s.mu}, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		o.elapsed = time.Since(begin)
		o.failed = t.Failed()
	}
}

func (r *recorder) keep(msg string) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if len(lines) > maxErrLines {
		lines = append(lines[:maxErrLines], fmt.Sprintf("... (%d more lines in the test's log)", len(lines)-maxErrLines))
	}
	r.mu.Lock()
	r.o.errs = append(r.o.errs, strings.Join(lines, "\n"))
	r.mu.Unlock()
}

func (r *recorder) Error(args ...any) {
	r.TB.Helper()
	r.keep(fmt.Sprint(args...))
	r.TB.Error(args...)
}
func (r *recorder) Errorf(format string, args ...any) {
	r.TB.Helper()
	r.keep(fmt.Sprintf(format, args...))
	r.TB.Errorf(format, args...)
}
func (r *recorder) Fatal(args ...any) {
	r.TB.Helper()
	r.keep(fmt.Sprint(args...))
	r.TB.Fatal(args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.TB.Helper()
	r.keep(fmt.Sprintf(format, args...))
	r.TB.Fatalf(format, args...)
}

// String is the summary: one line per VM test, then each failed test's
// recorded errors, indented.
func (s *summary) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	failed := 0
	for _, o := range s.tests {
		status := "ok"
		if o.failed {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(&b, "  %-4s %-44s %7s\n", status, o.name, o.elapsed.Round(time.Second))
	}
	for _, o := range s.tests {
		if !o.failed {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", o.name)
		if len(o.errs) == 0 {
			b.WriteString("    (no error recorded by the harness: see the test's log above)\n")
		}
		for _, e := range o.errs {
			b.WriteString("    " + strings.ReplaceAll(e, "\n", "\n    ") + "\n")
		}
	}
	return fmt.Sprintf("VM tests (%d failed of %d):\n%s", failed, len(s.tests), b.String())
}

// briefWidth bounds a line of the brief: CI shows a run's last lines, and
// a folded line pushes the others out.
const briefWidth = 200

// Brief is one line per failed VM test with the first line of its first
// error, prefixed with prefix (the arch): what make test prints last, after
// its phase table, so that the end of a failed run's log says why.
func (s *summary) Brief(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, o := range s.tests {
		if !o.failed {
			continue
		}
		why := "no error recorded by the harness"
		if len(o.errs) > 0 {
			why, _, _ = strings.Cut(o.errs[0], "\n")
		}
		line := fmt.Sprintf("%s FAIL %s: %s", prefix, o.name, why)
		if len(line) > briefWidth {
			line = line[:briefWidth-3] + "..."
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// write puts the summary in dir/summary.txt and the brief in
// dir/failures.txt.
func (s *summary) write(dir, prefix string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(s.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "failures.txt"), []byte(s.Brief(prefix)), 0o644)
}

func TestSummaryNamesFailures(t *testing.T) {
	var sum summary
	func() {
		// A stand-in TB whose failures stay out of this test's result.
		rt, done := sum.start(&fakeTB{name: "TestVM/node"})
		rt.Errorf("host: alice: ping: %s", "refused")
		rt.Errorf("guest checks exited %q; failed: %s\n1\n2\n3\n4\n5\n6\n7", "1", "TestHostname")
		done()
	}()
	got := sum.String()
	for _, want := range []string{"VM tests (1 failed of 1):", "FAIL TestVM/node", "host: alice: ping: refused", "failed: TestHostname", "(2 more lines in the test's log)"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\n    7\n") {
		t.Errorf("summary kept more than %d lines of an error:\n%s", maxErrLines, got)
	}
	if got, want := sum.Brief("[x86_64]"), "[x86_64] FAIL TestVM/node: host: alice: ping: refused\n"; got != want {
		t.Errorf("Brief = %q, want %q", got, want)
	}
}

func TestFailedGuestTests(t *testing.T) {
	for _, tc := range []struct {
		out  []string
		want string
	}{
		{[]string{"=== RUN   TestA", "--- PASS: TestA (0.01s)", "    --- FAIL: TestB (1.20s)", "--- FAIL: TestC (0.00s)", "FAIL"}, "TestB, TestC"},
		{[]string{"panic: boom"}, "no guest test (the check binary did not finish)"},
	} {
		if got := strings.Join(failedGuestTests(tc.out), ", "); got != tc.want {
			t.Errorf("failedGuestTests(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// fakeTB records failures without failing the real test.
type fakeTB struct {
	testing.TB
	name   string
	failed bool
}

func (f *fakeTB) Name() string          { return f.name }
func (f *fakeTB) Helper()               {}
func (f *fakeTB) Failed() bool          { return f.failed }
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Error(...any)          { f.failed = true }
