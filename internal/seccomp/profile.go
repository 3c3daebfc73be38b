// Package seccomp loads, checks, generates and compiles the seccomp profiles
// Bulwark's container engine applies to containers.
//
// Profiles are in Docker's JSON format (github.com/moby/profiles/seccomp),
// because that is what dockerd reads; this package adds what dockerd does
// not do: strict decoding (an unknown or misspelt key is an error, not a
// silently ignored setting), validation against libseccomp for each target
// architecture, warnings where a block can be walked around through an alias
// system call (chmod blocked but fchmodat allowed), and the two outputs the
// image needs besides JSON: LXC's text format and a compiled BPF program.
//
// Rules are interpreted the way dockerd, runc and libseccomp do, warts
// included, because that is what runs: conditions on a rule are resolved
// against the container's architecture, capabilities and kernel, a rule
// whose action equals the default is dropped, repeated comparisons on one
// argument are OR-ed, and an unconditional rule for a system call overrides
// every conditional rule for it.
package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Profile is a seccomp profile and where it came from.
type Profile struct {
	// File names the profile in messages: the path it was read from,
	// or the name it will be written as.
	File    string
	Seccomp *mobyseccomp.Seccomp
	// lines maps a JSON path to its line in File, when read from one.
	lines map[string]int
}

// Load reads and strictly decodes the profile at path.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp profile: %w", err)
	}
	return Parse(path, data)
}

// Parse strictly decodes a profile read from file: every key must be one
// dockerd knows, spelt with the right case, holding the right type.
func Parse(file string, data []byte) (*Profile, error) {
	var s mobyseccomp.Seccomp
	lines, err := decodeStrict(file, data, &s)
	if err != nil {
		return nil, err
	}
	return &Profile{File: file, Seccomp: &s, lines: lines}, nil
}

// Marshal renders the profile as indented JSON. Field order is fixed by
// the Go types, so the same profile always gives the same bytes.
func (p *Profile) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p.Seccomp); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", p.File, err)
	}
	return b.Bytes(), nil
}

// line returns the line of path, or of its nearest decoded parent.
func (p *Profile) line(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// target describes one architecture Bulwark builds for, in the names each
// consumer uses for it.
type target struct {
	name   string     // Bulwark's name: x86_64, aarch64
	scmp   string     // libseccomp's and dockerd's name, matched by includes.arches
	spec   specs.Arch // the archMap key
	lxc    string     // LXC's section header
	kernel mobyseccomp.KernelVersion
}

// BulwarkKernel is the kernel Bulwark images ship (Debian trixie's 6.12):
// minKernel conditions are evaluated against it.
var BulwarkKernel = mobyseccomp.KernelVersion{Kernel: 6, Major: 12}

var targets = map[string]target{
	"x86_64":  {name: "x86_64", scmp: "amd64", spec: specs.ArchX86_64, lxc: "x86_64", kernel: BulwarkKernel},
	"aarch64": {name: "aarch64", scmp: "arm64", spec: specs.ArchAARCH64, lxc: "arm64", kernel: BulwarkKernel},
}

// Arches lists the architectures profiles are checked and compiled for.
func Arches() []string { return []string{"aarch64", "x86_64"} }

func lookupTarget(name string) (target, error) {
	t, ok := targets[name]
	if !ok {
		return target{}, fmt.Errorf("unknown architecture %q (known: %v)", name, Arches())
	}
	return t, nil
}

// DockerDefaultCaps is the capability set dockerd gives a container that
// asks for none more or less; exports resolve capability-gated rules
// against it unless told otherwise.
var DockerDefaultCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// rule is one entry of $.syscalls with its names normalised (the legacy
// "name" key folded into the list) and its action resolved.
type rule struct {
	index int // position in $.syscalls
	sc    *mobyseccomp.Syscall
	names []string
	act   action
}

func (r rule) path() string { return fmt.Sprintf("$.syscalls[%d]", r.index) }

// namePath is the path of the i-th name, pointing at "name" for the
// legacy single-name form.
func (r rule) namePath(i int) string {
	if r.sc.Name != "" && len(r.sc.Names) == 0 {
		return r.path() + ".name"
	}
	return fmt.Sprintf("%s.names[%d]", r.path(), i)
}

func (r rule) unconditional() bool { return len(r.sc.Args) == 0 }

// action is an action with the errno runc would return for it: ERRNO and
// TRACE without an explicit errnoRet mean EPERM.
type action struct {
	name  specs.LinuxSeccompAction
	errno uint
}

const eperm, enosys = 1, 38

func makeAction(a specs.LinuxSeccompAction, ret *uint) action {
	out := action{name: a}
	if a == specs.ActErrno || a == specs.ActTrace {
		out.errno = eperm
		if ret != nil {
			out.errno = *ret
		}
	}
	if a == specs.ActKill {
		// runc treats SCMP_ACT_KILL as killing the thread.
		out.name = specs.ActKillThread
	}
	return out
}

func (a action) String() string {
	if a.name == specs.ActErrno || a.name == specs.ActTrace {
		return fmt.Sprintf("%s(%d)", a.name, a.errno)
	}
	return string(a.name)
}

func (p *Profile) defaultAction() action {
	return makeAction(p.Seccomp.DefaultAction, p.Seccomp.DefaultErrnoRet)
}

func (p *Profile) rules() []rule {
	out := make([]rule, 0, len(p.Seccomp.Syscalls))
	for i, sc := range p.Seccomp.Syscalls {
		if sc == nil {
			continue
		}
		names := sc.Names
		if sc.Name != "" && len(names) == 0 {
			names = []string{sc.Name}
		}
		out = append(out, rule{index: i, sc: sc, names: names, act: makeAction(sc.Action, sc.ErrnoRet)})
	}
	return out
}

// env is one situation a container can be in: its architecture, the
// capabilities in its bounding set and its kernel. A rule's includes and
// excludes are decided against it exactly as dockerd decides them.
type env struct {
	arch   string // libseccomp name, as dockerd compares it
	caps   map[string]bool
	kernel mobyseccomp.KernelVersion
}

func (e env) applies(sc *mobyseccomp.Syscall) bool {
	if x := sc.Excludes; x != nil {
		if slices.Contains(x.Arches, e.arch) {
			return false
		}
		for _, c := range x.Caps {
			if e.caps[c] {
				return false
			}
		}
		if x.MinKernel != nil && kernelAtLeast(e.kernel, *x.MinKernel) {
			return false
		}
	}
	if in := sc.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, e.arch) {
			return false
		}
		for _, c := range in.Caps {
			if !e.caps[c] {
				return false
			}
		}
		if in.MinKernel != nil && !kernelAtLeast(e.kernel, *in.MinKernel) {
			return false
		}
	}
	return true
}

func kernelAtLeast(have, want mobyseccomp.KernelVersion) bool {
	if have.Kernel != want.Kernel {
		return have.Kernel > want.Kernel
	}
	return have.Major >= want.Major
}

// Target is what a profile is resolved for when it is exported: dockerd
// resolves capability- and kernel-gated rules when it starts a container,
// while LXC text and BPF are fixed, so the export has to pick.
type Target struct {
	Arch string   // x86_64 or aarch64
	Caps []string // the container's bounding set; nil means DockerDefaultCaps
}

func (t Target) env() (env, target, error) {
	tg, err := lookupTarget(t.Arch)
	if err != nil {
		return env{}, target{}, err
	}
	caps := t.Caps
	if caps == nil {
		caps = DockerDefaultCaps
	}
	e := env{arch: tg.scmp, caps: map[string]bool{}, kernel: tg.kernel}
	for _, c := range caps {
		e.caps[c] = true
	}
	return e, tg, nil
}

// filterArches is every libseccomp architecture the filter for tg covers:
// the target and, as runc does, the sub-architectures the profile's archMap
// lists for it (or the flat architectures list, when that is used instead).
func (p *Profile) filterArches(tg target) []string {
	out := []string{tg.scmp}
	add := func(a specs.Arch) {
		if n, ok := specArches[a]; ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, a := range p.Seccomp.Architectures {
		add(a)
	}
	for _, m := range p.Seccomp.ArchMap {
		if m.Arch == tg.spec {
			for _, a := range m.SubArches {
				add(a)
			}
		}
	}
	return out
}

// specArches maps the archMap names to libseccomp's.
var specArches = map[specs.Arch]string{
	specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32", specs.ArchARM: "arm",
	specs.ArchAARCH64: "arm64", specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64",
	specs.ArchMIPS64N32: "mips64n32", specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64",
	specs.ArchMIPSEL64N32: "mipsel64n32", specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64",
	specs.ArchPPC64LE: "ppc64le", specs.ArchS390: "s390", specs.ArchS390X: "s390x",
	specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64", specs.ArchRISCV64: "riscv64",
	specs.ArchLOONGARCH64: "loongarch64", specs.ArchM68K: "m68k", specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
}
