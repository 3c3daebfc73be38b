// Package runlog runs external tools (mmdebstrap, mkfs.erofs, ukify, ...)
// with their output turned into progress lines, and keeps the tail of it so
// that a failure quotes what the tool said instead of "exit status 1".
package runlog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Cmd describes one tool run.
type Cmd struct {
	Name string
	Args []string
	Env  []string // added to the environment
	Dir  string
	// OnLine, if set, sees every output line (stdout and stderr merged).
	OnLine func(string)
	// Log, if set, receives the full output.
	Log io.Writer
}

// Run runs c and returns its error with the last lines of output attached.
func Run(ctx context.Context, c Cmd) error {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if c.Log != nil {
				fmt.Fprintln(c.Log, line)
			}
			if c.OnLine != nil {
				c.OnLine(line)
			}
			tail = append(tail, line)
			if len(tail) > 40 {
				tail = tail[1:]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	pw.Close()
	wg.Wait()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", c.Name, ctx.Err())
		}
		return fmt.Errorf("%s failed: %w\n--- last output of %s ---\n%s", c.Name, err, c.Name, strings.Join(tail, "\n"))
	}
	return nil
}

// Output runs a command and returns its stdout, quoting stderr on failure.
func Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// LastLines splits s into lines (without its trailing newlines) and returns
// the last n of them and how many came before: a failed command's reason is
// at the end of its output, which callers quote in errors.
func LastLines(s string, n int) (last []string, before int) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	before = max(0, len(lines)-n)
	return lines[before:], before
}
