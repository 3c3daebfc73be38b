package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
)

// hostArch names the host's architecture as users write it (x86_64).
func hostArch() string {
	if h, err := arch.Host(); err == nil {
		return h.Name
	}
	return runtime.GOARCH
}

// PrepareDisk makes a qcow2 overlay of base in dir, sized size (e.g. "8G")
// so ROOT has room to grow. The base image is never written.
func PrepareDisk(ctx context.Context, base, dir, size string) (string, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", err
	}
	format := "raw"
	if strings.HasSuffix(base, ".qcow2") {
		format = "qcow2"
	}
	p := filepath.Join(dir, "overlay.qcow2")
	args := []string{"create", "-q", "-f", "qcow2", "-F", format, "-b", abs, p}
	if size != "" {
		args = append(args, size)
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("qemu-img create overlay: %w: %s", err, out)
	}
	return p, nil
}

// VM is a running QEMU.
type VM struct {
	cmd     *exec.Cmd
	Console *Console
	done    chan struct{}
	waitErr error
}

// Start launches QEMU for c, writing the console to logPath and, if tee is
// not nil, also to tee. With c.Report, the report port's lines join the
// Console too and are written to the same name with "-report" before the
// extension. The VM is killed when ctx ends and, through Pdeathsig, when
// this process dies, so no QEMU outlives its test.
func Start(ctx context.Context, c Config, logPath string, tee io.Writer) (*VM, error) {
	var sockDir string
	if c.Report {
		// Under /tmp, not beside the log: a Unix socket path is limited
		// to 107 bytes, and test directories in a deep checkout are not.
		var err error
		if sockDir, err = os.MkdirTemp("", "bulwark-vm-"); err != nil {
			return nil, err
		}
		c.reportSocket = filepath.Join(sockDir, "report.sock")
	}
	bin, args, err := Command(c)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		os.RemoveAll(sockDir)
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	vm := &VM{cmd: cmd, Console: newConsole(), done: make(chan struct{})}
	// QEMU has exited once its stdout ends and Wait returns; Wait only after
	// every read from the pipe (os/exec closes it).
	exited := make(chan struct{})
	go func() {
		w := io.Writer(logf)
		if tee != nil {
			w = io.MultiWriter(logf, tee)
		}
		vm.Console.consume(io.TeeReader(stdout, w))
		vm.waitErr = cmd.Wait()
		close(exited)
	}()
	var report sync.WaitGroup
	if c.Report {
		report.Add(1)
		go func() {
			defer report.Done()
			defer os.RemoveAll(sockDir)
			conn, err := dialReport(c.reportSocket, exited)
			if err != nil {
				vm.Console.add("qemu: report port: " + err.Error())
				return
			}
			defer conn.Close()
			var r io.Reader = conn
			if rlog, err := os.Create(strings.TrimSuffix(logPath, filepath.Ext(logPath)) + "-report" + filepath.Ext(logPath)); err != nil {
				vm.Console.add("qemu: report port log: " + err.Error())
			} else {
				defer rlog.Close()
				r = io.TeeReader(conn, rlog)
			}
			vm.Console.consume(r)
		}()
	}
	go func() {
		<-exited
		report.Wait()
		logf.Close()
		vm.Console.close()
		close(vm.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.Kill()
		case <-vm.done:
		}
	}()
	return vm, nil
}

// dialReport connects to the report port's socket once QEMU has made it,
// giving up when QEMU exits first.
func dialReport(path string, exited <-chan struct{}) (net.Conn, error) {
	for {
		conn, err := net.Dial("unix", path)
		if err == nil {
			return conn, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("QEMU exited before its socket %s answered: %w", path, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CommandLine is the QEMU command line the VM runs, for logs.
func (vm *VM) CommandLine() string { return strings.Join(vm.cmd.Args, " ") }

// Kill stops the VM at once.
func (vm *VM) Kill() {
	if vm.cmd.Process != nil {
		syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Wait waits for QEMU to exit (the guest powered off, or it was killed).
func (vm *VM) Wait(ctx context.Context) error {
	select {
	case <-vm.done:
		return vm.waitErr
	case <-ctx.Done():
		vm.Kill()
		<-vm.done
		return ctx.Err()
	}
}

// Console collects the lines of the serial console and of the report port
// (Config.Report), each with the time it was read, and lets callers wait for a marker while failing fast on fatal
// patterns. The times let a test judge the harness against the guest's own
// progress rather than against a wall-clock limit.
type Console struct {
	mu       sync.Mutex
	lines    []Line
	notify   chan struct{}
	closed   bool
	closedAt time.Time
}

// Line is one console line and when the harness read it.
type Line struct {
	Text string
	At   time.Time
}

func newConsole() *Console { return &Console{notify: make(chan struct{})} }

func (c *Console) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		c.add(sc.Text())
	}
}

// add appends one line; consume calls it for each stream (the serial
// console and the report port), so their lines interleave as they come.
func (c *Console) add(text string) {
	c.mu.Lock()
	c.lines = append(c.lines, Line{Text: cleanLine(text), At: time.Now()})
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

func (c *Console) close() {
	c.mu.Lock()
	c.closed, c.closedAt = true, time.Now()
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

// Lines returns the text of the lines so far.
func (c *Console) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return texts(c.lines)
}

// LastLineAt is when the latest console line was read (zero before any):
// the guest's last sign of progress.
func (c *Console) LastLineAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return time.Time{}
	}
	return c.lines[len(c.lines)-1].At
}

func texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// ErrConsoleClosed means QEMU exited before the awaited marker appeared.
var ErrConsoleClosed = errors.New("VM exited")

// WaitFor waits until a line starting with marker appears and returns it.
// It returns early, quoting the console, if a fatal pattern appears or the
// VM exits, and when ctx or timeout ends.
func (c *Console) WaitFor(ctx context.Context, marker string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		c.mu.Lock()
		lines, notify, closed, closedAt := c.lines, c.notify, c.closed, c.closedAt
		c.mu.Unlock()
		for ; seen < len(lines); seen++ {
			l := lines[seen].Text
			if i := strings.Index(l, marker); i >= 0 {
				return l[i:], nil
			}
			if p := Fatal(l); p != "" {
				return "", &ConsoleError{Reason: "fatal console pattern " + p, Lines: Context(texts(lines), seen, 15), At: lines[seen].At}
			}
		}
		if closed {
			return "", &ConsoleError{Reason: ErrConsoleClosed.Error() + " before " + marker, Lines: Tail(texts(lines), 20), At: closedAt}
		}
		select {
		case <-notify:
		case <-deadline.C:
			// The guest last showed progress at its last line: a test
			// that times the harness from there sees the whole wait.
			var last time.Time
			if len(lines) > 0 {
				last = lines[len(lines)-1].At
			}
			return "", &ConsoleError{Reason: fmt.Sprintf("no %q within %s", marker, timeout), Lines: Tail(texts(lines), 20), At: last}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// ConsoleError quotes the console lines that explain a failure.
type ConsoleError struct {
	Reason string
	Lines  []string
	// At is when the console showed what Reason says: the fatal line was
	// read or QEMU exited; on a timeout, the last line before the wait.
	At time.Time
}

func (e *ConsoleError) Error() string {
	return e.Reason + "; console:\n    " + strings.Join(e.Lines, "\n    ")
}

// cleanLine strips terminal escape sequences and carriage returns that
// firmware and getty write, so patterns and logs read cleanly.
func cleanLine(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 0x1b {
			// Skip OSC (ESC ] ... BEL or ESC \\), CSI (ESC [ ... final
			// byte) and two-byte escapes.
			if i+1 < len(s) && s[i+1] == ']' {
				j := i + 2
				for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
					j++
				}
				if j < len(s) && s[j] == 0x1b {
					j++
				}
				i = j
				continue
			}
			if i+1 < len(s) && s[i+1] == '[' {
				j := i + 2
				for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
					j++
				}
				i = j
				continue
			}
			i++
			continue
		}
		if ch == '\r' || (ch < 0x20 && ch != '\t') {
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// RunInteractive runs QEMU for c attached to the terminal until it exits.
func RunInteractive(ctx context.Context, c Config) error {
	c.Interactive = true
	bin, args, err := Command(c)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd.Run()
}
