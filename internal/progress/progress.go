// Package progress shows a user which build step is running, how far along it
// is and how long each took. Builds take minutes; a silent terminal for that
// long reads as a hang.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Reporter prints numbered steps to w.
type Reporter struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	n     int
	start time.Time
	// Timings records each finished step's duration, for the manifest and
	// for benchmarks that break a build down by step.
	Timings []Timing
}

// Timing is one finished step.
type Timing struct {
	Step    string        `json:"step"`
	Elapsed time.Duration `json:"elapsedNs"`
}

// New returns a Reporter for a job of total steps.
func New(w io.Writer, total int) *Reporter {
	return &Reporter{w: w, total: total, start: time.Now()}
}

// Step starts the next step.
func (r *Reporter) Step(name string) *Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	fmt.Fprintf(r.w, "==> [%d/%d] %s\n", r.n, r.total, name)
	return &Step{r: r, name: name, start: time.Now()}
}

// Elapsed is the time since the reporter was made.
func (r *Reporter) Elapsed() time.Duration { return time.Since(r.start) }

// Step is one running step.
type Step struct {
	r     *Reporter
	name  string
	start time.Time
	last  time.Time
}

// Printf prints a line about the step.
func (s *Step) Printf(format string, args ...any) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	fmt.Fprintf(s.r.w, "    %s: %s\n", s.name, fmt.Sprintf(format, args...))
}

// Progress reports done out of total units, at most once a second so that a
// log stays readable.
func (s *Step) Progress(what string, done, total int64, unit string) {
	now := time.Now()
	if done < total && now.Sub(s.last) < time.Second {
		return
	}
	s.last = now
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	s.Printf("%s %3.0f%% (%s/%s %s, %s)", what, pct, human(done, unit), human(total, unit), unitLabel(unit), now.Sub(s.start).Round(100*time.Millisecond))
}

// Done ends the step with a one-line summary.
func (s *Step) Done(format string, args ...any) {
	d := time.Since(s.start)
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.Timings = append(s.r.Timings, Timing{Step: s.name, Elapsed: d})
	fmt.Fprintf(s.r.w, "    %s: done in %s: %s\n", s.name, d.Round(100*time.Millisecond), fmt.Sprintf(format, args...))
}

func human(n int64, unit string) string {
	if unit != "bytes" {
		return fmt.Sprint(n)
	}
	return Bytes(n)
}

// Bytes formats a byte count with a binary unit.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func unitLabel(unit string) string {
	if unit == "bytes" {
		return ""
	}
	return unit
}
