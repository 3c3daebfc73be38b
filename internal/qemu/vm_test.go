package qemu

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestConsoleErrorAt checks that a console failure carries the time the
// console showed it, which the QEMU harness times its reaction from.
func TestConsoleErrorAt(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lines      []string
		close      bool
		wantReason string
		// wantAt picks the moment At must equal: the index of the line
		// read, or -1 for QEMU's exit.
		wantAt int
	}{
		{"fatal line", []string{"[  OK  ] Started a.service", "[   12.3] Kernel panic - not syncing: sysrq triggered crash", "more"}, false, "fatal console pattern kernel panic", 1},
		{"vm exited", []string{"[  OK  ] Started a.service"}, true, "VM exited before BULWARK-READY", -1},
		{"timeout", []string{"[  OK  ] Started a.service", "then silence"}, false, `no "BULWARK-READY" within 300ms`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsole()
			r, w := io.Pipe()
			go c.consume(r)
			for _, l := range tc.lines {
				io.WriteString(w, l+"\r\n")
				time.Sleep(20 * time.Millisecond) // distinct read times
			}
			if tc.close {
				w.Close()
				c.close()
			}
			defer w.Close()
			_, err := c.WaitFor(context.Background(), "BULWARK-READY", 300*time.Millisecond)
			var ce *ConsoleError
			if !errors.As(err, &ce) || !strings.Contains(ce.Reason, tc.wantReason) {
				t.Fatalf("got %v; want a console error %q", err, tc.wantReason)
			}
			c.mu.Lock()
			want := c.closedAt
			if tc.wantAt >= 0 {
				want = c.lines[tc.wantAt].At
			}
			c.mu.Unlock()
			if want.IsZero() || !ce.At.Equal(want) {
				t.Errorf("got At %v; want %v", ce.At, want)
			}
		})
	}
}

func TestConsoleLastLineAt(t *testing.T) {
	c := newConsole()
	if !c.LastLineAt().IsZero() {
		t.Errorf("got %v before any line; want zero", c.LastLineAt())
	}
	before := time.Now()
	c.consume(strings.NewReader("one\r\n\x1b[0;1;31mtwo\x1b[0m\n"))
	if got := c.Lines(); strings.Join(got, "|") != "one|two" {
		t.Errorf("got lines %q; want one, two", got)
	}
	if at := c.LastLineAt(); at.Before(before) || at.After(time.Now()) {
		t.Errorf("got LastLineAt %v; want the time the last line was read", at)
	}
}
