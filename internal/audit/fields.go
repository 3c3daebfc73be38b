package audit

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// valueKind says how a field's value is read and printed.
type valueKind int

const (
	vUID      valueKind = iota // number, negative number or "unset"; printed signed
	vGID                       // number; printed signed
	vNum                       // number; printed signed
	vInode                     // number; printed unsigned
	vSession                   // number, negative number or "unset"
	vExit                      // number or errno name; negative errnos printed by name
	vMsgType                   // number or record type name
	vString                    // SELinux label parts
	vPath                      // path= and dir=: absolute, clean, no trailing slash
	vExe                       // exe=: absolute
	vArch                      // b64, b32, machine name or ELF number
	vPerm                      // subset of rwxa
	vFileType                  // file, dir, socket, link, character, block, fifo
	vFSType                    // number, debugfs or tracefs
	vArg                       // number; printed as hex
	vSaddrFam                  // address family number below AF_MAX
)

// Operator sets, from the kernel's audit_field_valid (kernel/auditfilter.c,
// Linux 6.12) and libaudit's audit_rule_fieldpair_data.
const (
	opsAll   = "= != < > <= >= & &="
	opsNoBit = "= != < > <= >="
	opsEqNe  = "= !="
	opsEq    = "="
)

type fieldSpec struct {
	kind  valueKind
	lists string // space-separated lists the field is valid on; "" means any
	ops   string
}

// fieldSpecs are the -F names of audit 4.0.2's lib/fieldtab.h. "loginuid"
// is an alias of "auid", which is what auditctl -l prints.
var fieldSpecs = map[string]fieldSpec{
	"pid":          {vNum, "", opsNoBit},
	"uid":          {vUID, "", opsNoBit},
	"euid":         {vUID, "", opsNoBit},
	"suid":         {vUID, "", opsNoBit},
	"fsuid":        {vUID, "", opsNoBit},
	"gid":          {vGID, "", opsNoBit},
	"egid":         {vGID, "", opsNoBit},
	"sgid":         {vGID, "", opsNoBit},
	"fsgid":        {vGID, "", opsNoBit},
	"auid":         {vUID, "", opsNoBit},
	"pers":         {vNum, "", opsAll},
	"arch":         {vArch, "", opsEqNe},
	"msgtype":      {vMsgType, "exclude user", opsNoBit},
	"subj_user":    {vString, "", opsEqNe},
	"subj_role":    {vString, "", opsEqNe},
	"subj_type":    {vString, "", opsEqNe},
	"subj_sen":     {vString, "", opsNoBit},
	"subj_clr":     {vString, "", opsNoBit},
	"ppid":         {vNum, "exit", opsNoBit},
	"obj_user":     {vString, "exit", opsEqNe},
	"obj_role":     {vString, "exit", opsEqNe},
	"obj_type":     {vString, "exit", opsEqNe},
	"obj_lev_low":  {vString, "exit", opsNoBit},
	"obj_lev_high": {vString, "exit", opsNoBit},
	"sessionid":    {vSession, "exclude user exit", opsNoBit},
	"devmajor":     {vNum, "exit", opsNoBit},
	"devminor":     {vNum, "exit", opsAll},
	"inode":        {vInode, "exit", opsEqNe},
	"exit":         {vExit, "exit", opsNoBit},
	"success":      {vNum, "exit", opsNoBit},
	"path":         {vPath, "exit", opsEq},
	"perm":         {vPerm, "exit exclude", opsEq},
	"dir":          {vPath, "exit", opsEq},
	"filetype":     {vFileType, "exit", opsEqNe},
	"fstype":       {vFSType, "filesystem", opsEqNe},
	"obj_uid":      {vUID, "", opsNoBit},
	"obj_gid":      {vGID, "", opsNoBit},
	"a0":           {vArg, "", opsAll},
	"a1":           {vArg, "", opsAll},
	"a2":           {vArg, "", opsAll},
	"a3":           {vArg, "", opsAll},
	"exe":          {vExe, "", opsEqNe},
	"saddr_fam":    {vSaddrFam, "", opsNoBit},
}

// fieldAlias maps accepted spellings to the name auditctl -l prints.
var fieldAlias = map[string]string{"loginuid": "auid"}

// splitPair splits NAME OP VALUE at the operator the way libaudit does: it
// looks for each operator anywhere in the string, two-character ones first,
// so "path=/a!=b" splits at "!=".
func splitPair(s string, ops []string) (name, op, value string, ok bool) {
	for _, o := range ops {
		if i := strings.Index(s, o); i >= 0 {
			return s[:i], o, s[i+len(o):], true
		}
	}
	return "", "", "", false
}

var fieldOps = []string{"!=", ">=", "<=", "&=", "=", ">", "<", "&"}

// parseField reads one -F argument (other than key=) on list.
func parseField(arg, list string) (Field, string) {
	name, op, value, ok := splitPair(arg, fieldOps)
	if !ok {
		return Field{}, fmt.Sprintf("-F %s: no operator (one of %s)", arg, opsAll)
	}
	if name == "" {
		return Field{}, fmt.Sprintf("-F %s: missing field name", arg)
	}
	if value == "" {
		return Field{}, fmt.Sprintf("-F %s: missing value", arg)
	}
	if a, ok := fieldAlias[name]; ok {
		name = a
	}
	spec, ok := fieldSpecs[name]
	if !ok {
		return Field{}, fmt.Sprintf("-F: unknown field %q", name)
	}
	if !strings.Contains(" "+spec.ops+" ", " "+op+" ") {
		return Field{}, fmt.Sprintf("-F %s: operator %s is not allowed (use %s)", name, op, spec.ops)
	}
	if spec.lists != "" && list != "" && !strings.Contains(" "+spec.lists+" ", " "+list+" ") {
		return Field{}, fmt.Sprintf("-F %s: not allowed on the %s list (only %s)", name, list, spec.lists)
	}
	if list == "filesystem" && name != "fstype" {
		return Field{}, fmt.Sprintf("-F %s: the filesystem list takes only fstype and key", name)
	}
	v, msg := canonValue(spec.kind, name, value)
	if msg != "" {
		return Field{}, fmt.Sprintf("-F %s: %s", name, msg)
	}
	return Field{Name: name, Op: op, Value: v, Raw: value}, ""
}

var msgTypeName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// canonValue checks a value and returns it as auditctl -l prints it.
func canonValue(kind valueKind, name, v string) (string, string) {
	if read, ok := valueReaders[kind]; ok {
		return read(v)
	}
	return "", fmt.Sprintf("field %s has no value reader", name)
}

// valueReaders check a value of each kind and return it as auditctl -l
// prints it, or a problem.
var valueReaders = map[valueKind]func(v string) (string, string){
	vUID: func(v string) (string, string) {
		return int32Value(v, true, true, "is not a number or unset (user names are looked up on the node at load time, so write the numeric uid)")
	},
	vGID: func(v string) (string, string) {
		return int32Value(v, false, false, "is not a number (group names are looked up on the node at load time, so write the numeric gid)")
	},
	vNum:     func(v string) (string, string) { return int32Value(v, false, false, "is not a number") },
	vSession: func(v string) (string, string) { return int32Value(v, true, true, "is not a number or unset") },
	vInode: func(v string) (string, string) {
		if n, ok := cNumber(v, false); ok {
			return strconv.FormatUint(uint64(n), 10), ""
		}
		return "", fmt.Sprintf("%q is not a number", v)
	},
	vExit:    canonExit,
	vMsgType: msgTypeValue,
	vString:  func(v string) (string, string) { return v, "" },
	vPath:    pathValue,
	vExe:     pathValue,
	vArch: func(v string) (string, string) {
		m, ok := machineOf(v)
		if !ok {
			return "", fmt.Sprintf("unknown architecture %q (b64, b32, x86_64, i386, aarch64, arm ...)", v)
		}
		return m.bits, ""
	},
	vPerm: canonPerms,
	vFileType: func(v string) (string, string) {
		// auditctl reads names only and lists the S_IF* number; the rule
		// keeps the name so that String reads back, and List prints the number.
		if _, ok := fileTypes[v]; ok {
			return v, ""
		}
		return "", fmt.Sprintf("unknown file type %q (file, dir, socket, link, character, block, fifo)", v)
	},
	vFSType: fsTypeValue,
	vArg: func(v string) (string, string) {
		if n, ok := cNumber(v, true); ok {
			return fmt.Sprintf("0x%X", n), ""
		}
		return "", fmt.Sprintf("%q is not a number", v)
	},
	vSaddrFam: func(v string) (string, string) {
		// AF_MAX is 46 in Linux 6.12.
		if n, ok := cNumber(v, false); ok && n < 46 {
			return strconv.Itoa(int(n)), ""
		}
		return "", fmt.Sprintf("%q is not an address family number below 46 (AF_MAX)", v)
	},
}

// int32Value reads a number that auditctl -l prints as a signed 32-bit
// value; with unset, the word "unset" is -1. want says what v must be.
func int32Value(v string, signed, unset bool, want string) (string, string) {
	if unset && v == "unset" {
		return "-1", ""
	}
	if n, ok := cNumber(v, signed); ok {
		return strconv.Itoa(int(int32(n))), ""
	}
	return "", fmt.Sprintf("%q %s", v, want)
}

// msgTypeValue reads a record type. auditctl -l prints known record types
// by name; Bulwark does not carry audit's record type table, so numbers
// stay numbers here and names are only checked for their shape.
func msgTypeValue(v string) (string, string) {
	if n, ok := cNumber(v, false); ok {
		return strconv.Itoa(int(int32(n))), ""
	}
	if !msgTypeName.MatchString(v) {
		return "", fmt.Sprintf("%q is not a record type such as EXECVE or a number", v)
	}
	return v, ""
}

// pathValue reads a path or exe value.
func pathValue(v string) (string, string) {
	if msg := pathProblem(v); msg != "" {
		return "", msg
	}
	return v, ""
}

// fsTypeValue reads a file system type, by name or magic number; a known
// magic number is listed by its name.
func fsTypeValue(v string) (string, string) {
	if n, ok := cNumber(v, false); ok {
		for fsName, magic := range fsTypes {
			if magic == n {
				return fsName, ""
			}
		}
		return strconv.Itoa(int(int32(n))), ""
	}
	if _, ok := fsTypes[v]; ok {
		return v, ""
	}
	return "", fmt.Sprintf("unknown file system type %q (debugfs, tracefs or a magic number)", v)
}

// fileTypes are audit's lib/ftypetab.h: the S_IF* bits, which auditctl -l
// prints as decimal numbers.
var fileTypes = map[string]int{
	"socket": 0o140000, "link": 0o120000, "file": 0o100000, "block": 0o60000,
	"dir": 0o40000, "character": 0o20000, "fifo": 0o10000,
}

// fsTypes are audit's lib/fstypetab.h.
var fsTypes = map[string]uint32{"tracefs": 0x74726163, "debugfs": 0x64626720}

// cNumber reads a number as strtoul/strtol with base 0 do (0x hex, leading
// 0 octal, decimal) but refuses trailing garbage, which C ignores. Negative
// numbers wrap to 32 bits like the kernel's u32 rule values.
func cNumber(s string, negative bool) (uint32, bool) {
	neg := false
	if negative && strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	u, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<31 {
			return 0, false
		}
		return uint32(-int64(u)), true
	}
	return uint32(u), true
}

// canonExit reads an exit= value: a number or an errno name, optionally
// negative. auditctl -l prints negative values with a known name as -NAME.
func canonExit(v string) (string, string) {
	var n int32
	if u, ok := cNumber(v, true); ok {
		n = int32(u)
	} else {
		name, sign := v, int32(1)
		if strings.HasPrefix(name, "-") {
			name, sign = name[1:], -1
		}
		e, ok := errnoByName(name)
		if !ok {
			return "", fmt.Sprintf("%q is not a number or an errno name such as -EACCES", v)
		}
		n = sign * int32(e)
	}
	if n < 0 {
		if name := unix.ErrnoName(syscall.Errno(-n)); name != "" {
			return "-" + name, ""
		}
	}
	return strconv.Itoa(int(n)), ""
}

// errnoByName finds an errno by its name, such as EACCES.
func errnoByName(name string) (int, bool) {
	e, ok := errnoNames()[name]
	return e, ok
}

var errnoNames = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for e := 1; e < 4096; e++ {
		if name := unix.ErrnoName(syscall.Errno(e)); name != "" {
			m[name] = e
		}
	}
	return m
})

// canonPerms checks -p or perm= letters and returns them in rwxa order.
func canonPerms(v string) (string, string) {
	if len(v) > 4 {
		return "", fmt.Sprintf("permissions %q are longer than 4 letters", v)
	}
	have := map[byte]bool{}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A' // auditctl lower-cases them
		}
		if strings.IndexByte("rwxa", c) < 0 {
			return "", fmt.Sprintf("permission %q is not one of r, w, x, a", v[i])
		}
		have[c] = true
	}
	var out []byte
	for _, c := range []byte("rwxa") {
		if have[c] {
			out = append(out, c)
		}
	}
	return string(out), ""
}

// pathProblem checks a path the kernel will resolve: absolute, clean (no
// //, /./ or .., which auditctl only warns about), without wildcards and
// without a trailing slash, within PATH_MAX and NAME_MAX.
func pathProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("path %q is not absolute", p)
	case len(p) >= 4096:
		return "path is longer than PATH_MAX"
	case len(path.Base(p)) > 255:
		return "the last path component is longer than NAME_MAX"
	case strings.ContainsAny(p, "*?"):
		return fmt.Sprintf("path %q has a wildcard; audit watches take literal paths", p)
	case p == "/":
		return "the kernel does not watch the root directory"
	case strings.HasSuffix(p, "/"):
		return fmt.Sprintf("path %q ends in a slash, which the kernel rejects", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("path %q is not clean; write %q", p, path.Clean(p))
	}
	return ""
}

// comparisons are the -C pairs of libaudit's audit_rule_interfield_comp_data,
// keyed by both orders, with the spelling auditctl -l prints.
var comparisons = func() map[[2]string][2]string {
	printed := [][2]string{
		{"uid", "obj_uid"}, {"gid", "obj_gid"}, {"euid", "obj_uid"}, {"egid", "obj_gid"},
		{"auid", "obj_uid"}, {"suid", "obj_uid"}, {"sgid", "obj_gid"}, {"fsuid", "obj_uid"},
		{"fsgid", "obj_gid"}, {"uid", "auid"}, {"uid", "euid"}, {"uid", "fsuid"}, {"uid", "suid"},
		{"auid", "fsuid"}, {"auid", "suid"}, {"auid", "euid"}, {"euid", "suid"}, {"euid", "fsuid"},
		{"suid", "fsuid"}, {"gid", "egid"}, {"gid", "fsgid"}, {"gid", "sgid"}, {"egid", "fsgid"},
		{"egid", "sgid"}, {"sgid", "fsgid"},
	}
	m := map[[2]string][2]string{}
	for _, p := range printed {
		m[p] = p
		m[[2]string{p[1], p[0]}] = p
	}
	return m
}()

// parseCompare reads one -C argument.
func parseCompare(arg, list string) (Field, string) {
	a, op, b, ok := splitPair(arg, []string{"!=", "="})
	if !ok {
		return Field{}, fmt.Sprintf("-C %s: the operator must be = or !=", arg)
	}
	if a == "" || b == "" {
		return Field{}, fmt.Sprintf("-C %s: needs a field on each side", arg)
	}
	if x, ok := fieldAlias[a]; ok {
		a = x
	}
	if x, ok := fieldAlias[b]; ok {
		b = x
	}
	for _, f := range []string{a, b} {
		if _, ok := fieldSpecs[f]; !ok {
			return Field{}, fmt.Sprintf("-C: unknown field %q", f)
		}
	}
	if list != "" && list != "exit" {
		return Field{}, fmt.Sprintf("-C: comparisons are only allowed on the exit list, not %s", list)
	}
	p, ok := comparisons[[2]string{a, b}]
	if !ok {
		return Field{}, fmt.Sprintf("-C: %s and %s cannot be compared", a, b)
	}
	return Field{Name: p[0], Op: op, Value: p[1], Raw: arg, Cmp: true}, ""
}
