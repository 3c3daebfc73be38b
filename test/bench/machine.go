package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/qemu"
)

// Machine describes where the figures were measured: they mean little
// without it (TCG against KVM alone is a factor of four).
type Machine struct {
	Arch        string `json:"arch"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpuModel"`
	MemoryBytes int64  `json:"memoryBytes"`
	KVM         bool   `json:"kvm"`
	OS          string `json:"os"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	QEMU        string `json:"qemu"`
	// Accel says why KVM or TCG (qemu.Accel's reason).
	Accel string `json:"accel,omitempty"`
	// Guests holds, per guest architecture, QEMU's machine, accelerator
	// and CPU arguments (qemu.MachineArgs): what the emulated CPU claims
	// moves the boot figures (2026-11-29: hiding ERMS from x86_64 guests
	// took a quarter off a Bulwark boot), so two runs are comparable only
	// if these match.
	Guests map[string]string `json:"guests,omitempty"`
}

// DescribeMachine looks at this host.
func DescribeMachine(ctx context.Context) Machine {
	m := Machine{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if h, err := arch.Host(); err == nil {
		m.Arch = h.Name
		if d, err := qemu.Accel(ctx, h.Name); err == nil {
			m.KVM, m.Accel = d.KVM, d.Reason
		} else {
			m.Accel = err.Error()
		}
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if m.CPUModel == "" {
		m.CPUModel = procField("/proc/cpuinfo", "CPU part") // arm64 has no model name
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		n, _ := strconv.ParseInt(strings.Fields(kb)[0], 10, 64)
		m.MemoryBytes = n * 1024
	}
	m.OS = strings.Trim(osRelease("PRETTY_NAME"), `"`)
	m.Kernel = firstLine(commandOutput(ctx, "uname", "-r"))
	m.QEMU = firstLine(commandOutput(ctx, "qemu-system-"+m.Arch, "--version"))
	m.Guests = guestArgs(m.Arch, m.KVM)
	return m
}

// guestArgs is qemu.MachineArgs joined, per guest architecture, as a host
// of arch runs it: KVM only for its own architecture, when usable.
func guestArgs(host string, kvm bool) map[string]string {
	g := map[string]string{}
	for _, a := range arch.Names() {
		if args, err := qemu.MachineArgs(a, kvm && a == host); err == nil {
			g[a] = strings.Join(args, " ")
		}
	}
	return g
}

// guestCPU returns the value of -cpu in a guest's joined arguments.
func guestCPU(args string) string {
	f := strings.Fields(args)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-cpu" {
			return f[i+1]
		}
	}
	return ""
}

// Describe is the one-line description the table and README carry.
func (m Machine) Describe() string {
	accel := "no KVM: QEMU TCG"
	if m.KVM {
		accel = "KVM"
	}
	d := fmt.Sprintf("%d × %s (%s), %s RAM, %s, %s, Linux %s, %s", m.CPUs, m.CPUModel, m.Arch,
		progress.Bytes(m.MemoryBytes), accel, m.OS, m.Kernel, m.Go)
	var cpus []string
	for _, a := range slices.Sorted(maps.Keys(m.Guests)) {
		if c := guestCPU(m.Guests[a]); c != "" {
			cpus = append(cpus, a+" "+c)
		}
	}
	if len(cpus) > 0 {
		d += "; guest CPUs: " + strings.Join(cpus, ", ")
	}
	return d
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osRelease(key string) string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

// commandOutput runs a command for a description; failure gives "".
func commandOutput(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// hostPackageVersion is the installed version of a host Debian package.
func hostPackageVersion(ctx context.Context, pkg string) string {
	return commandOutput(ctx, "dpkg-query", "-W", "-f", "${Version}", pkg)
}

// DescribeSource names the commit and the spec and lock measured.
func DescribeSource(ctx context.Context, repo, spec, lock string) Source {
	s := Source{Spec: spec}
	s.Commit = commandOutput(ctx, "git", "-C", repo, "rev-parse", "HEAD")
	s.Dirty = commandOutput(ctx, "git", "-C", repo, "status", "--porcelain") != ""
	s.Lock, _ = manifest.FileDigest(lock)
	return s
}
