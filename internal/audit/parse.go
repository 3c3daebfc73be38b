package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Directive comments are Bulwark's, invisible to auditctl and augenrules
// (which drop comment lines).
const (
	directivePrefix  = "#bulwark:"
	runtimeDirective = "#bulwark:runtime"
)

// lineSize is auditctl's LINE_SIZE: fgets splits longer lines into two
// broken rules.
const lineSize = 6144

// Key limits: auditctl(8) documents keys of up to 31 bytes; the kernel
// takes all of a rule's keys, joined by \x01, up to AUDIT_MAX_KEY_LEN.
const (
	maxKeyLen  = 31
	maxKeysLen = 256
	keySep     = "\x01"
)

// maxFields is AUDIT_MAX_FIELDS less the one auditctl keeps in reserve.
const maxFields = 63

// Parse reads one rules file. name is used in messages and Rule.File. It
// returns the rules of every good line and all problems of the bad ones.
func Parse(name string, src []byte) ([]Rule, error) {
	var c errs
	var rules []Rule
	pending := 0 // line of a #bulwark:runtime waiting for its watch
	lines := strings.Split(string(src), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		n := i + 1
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case strings.ContainsAny(line, "\r\x00"):
			c.add(name, n, "carriage return or NUL byte in the line")
		case len(line) >= lineSize:
			c.add(name, n, "line is %d bytes; auditctl reads at most %d", len(line), lineSize-1)
		case trimmed == "":
		case strings.HasPrefix(trimmed, directivePrefix):
			word, _, _ := strings.Cut(trimmed, " ")
			switch {
			case word != runtimeDirective:
				c.add(name, n, "unknown directive %s (known: %s)", word, runtimeDirective)
			case pending != 0:
				c.add(name, n, "%s repeated", runtimeDirective)
			default:
				pending = n
			}
			continue
		case trimmed[0] == '#':
		case strings.Contains(line, "\t"):
			// auditctl separates words with spaces only.
			c.add(name, n, "tab character; separate words with spaces")
		default:
			r, ok := parseLine(&c, name, n, splitWords(line))
			if ok && pending != 0 {
				if r.Kind != Watch && pathField(r) == nil {
					c.add(name, pending, "%s must be followed by a watch or an exit rule with -F path or -F dir", runtimeDirective)
				}
				r.Runtime = true
			}
			if ok {
				rules = append(rules, r)
			}
		}
		if pending != 0 && pending != n {
			if trimmed == "" || trimmed[0] == '#' {
				c.add(name, pending, "%s must be on the line right before its watch", runtimeDirective)
			}
			pending = 0
		}
	}
	if pending != 0 {
		c.add(name, pending, "%s at the end of the file marks nothing", runtimeDirective)
	}
	return rules, c.err()
}

// pathField returns a rule's -F path or -F dir field, if any.
func pathField(r Rule) *Field {
	for i, f := range r.Fields {
		if !f.Cmp && (f.Name == "path" || f.Name == "dir") {
			return &r.Fields[i]
		}
	}
	return nil
}

// splitWords splits a line at spaces as auditctl does, where "\ " is a
// space inside a word and "\\" a backslash.
func splitWords(line string) []string {
	var words []string
	var w strings.Builder
	in := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && i+1 < len(line) && (line[i+1] == ' ' || line[i+1] == '\\'):
			w.WriteByte(line[i+1])
			i++
			in = true
		case ch == ' ':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// opt is one option of a line, as getopt_long hands it to auditctl.
type opt struct {
	name string // "-w", "--backlog_wait_time"
	arg  string
}

// auditctl's getopt string "hicslDvtC:e:f:r:b:a:A:d:S:F:m:R:w:W:k:p:q:" and
// its long options.
const (
	shortFlags = "hicslDvt"
	shortArgs  = "CefrbaAdSFmRwWkpq"
)

var longOpts = map[string]bool{ // name: takes a value
	"loginuid-immutable": false, "backlog_wait_time": true, "reset-lost": false,
	"reset_backlog_wait_time_actual": false, "signal": true,
}

// getopt splits words into options the way getopt_long does for auditctl,
// except that words outside options are an error right away (auditctl's
// "parameter passed without an option given") and long options must be
// spelled out.
func getopt(words []string) ([]opt, string) {
	var opts []opt
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2:
			name, val, hasVal := strings.Cut(w[2:], "=")
			takes, ok := longOpts[name]
			switch {
			case !ok:
				return nil, fmt.Sprintf("unknown option --%s", name)
			case takes && !hasVal:
				if i+1 >= len(words) {
					return nil, fmt.Sprintf("--%s needs a value", name)
				}
				i++
				val = words[i]
			case !takes && hasVal:
				return nil, fmt.Sprintf("--%s takes no value", name)
			}
			opts = append(opts, opt{"--" + name, val})
		case len(w) > 1 && w[0] == '-' && w != "--":
			for j := 1; j < len(w); j++ {
				ch := w[j]
				if strings.IndexByte(shortFlags, ch) >= 0 {
					opts = append(opts, opt{"-" + string(ch), ""})
					continue
				}
				if strings.IndexByte(shortArgs, ch) < 0 {
					return nil, fmt.Sprintf("unknown option -%c", ch)
				}
				val := w[j+1:]
				if val == "" {
					if i+1 >= len(words) {
						return nil, fmt.Sprintf("-%c needs a value", ch)
					}
					i++
					val = words[i]
				}
				opts = append(opts, opt{"-" + string(ch), val})
				break
			}
		default:
			return nil, fmt.Sprintf("word %q is not an option or an option's value", w)
		}
	}
	return opts, ""
}

var controlOpts = map[string]bool{
	"-D": true, "-b": true, "-f": true, "-e": true, "-r": true, "-i": true, "-c": true,
	"--backlog_wait_time": true, "--loginuid-immutable": true,
}

var ruleOpts = map[string]bool{"-a": true, "-A": true, "-w": true, "-S": true, "-F": true, "-C": true, "-k": true, "-p": true}

// parseLine turns the words of one line into a rule.
func parseLine(c *errs, file string, line int, words []string) (Rule, bool) {
	bad := func(format string, args ...any) (Rule, bool) {
		c.add(file, line, format, args...)
		return Rule{}, false
	}
	opts, msg := getopt(words)
	if msg != "" {
		return bad("%s", msg)
	}
	if len(opts) == 0 {
		return bad("no option on the line")
	}
	for _, o := range opts {
		if !controlOpts[o.name] && !ruleOpts[o.name] {
			return bad("%s is not a rules-file option: a Bulwark rules file configures the audit system and adds rules", o.name)
		}
	}
	if controlOpts[opts[0].name] {
		return parseControl(c, file, line, opts)
	}
	return parseRule(c, file, line, opts)
}

func parseControl(c *errs, file string, line int, opts []opt) (Rule, bool) {
	r := Rule{File: file, Line: line, Kind: Control, Option: opts[0].name}
	bad := func(format string, args ...any) (Rule, bool) {
		c.add(file, line, format, args...)
		return Rule{}, false
	}
	if r.Option == "-D" && len(opts) == 2 && opts[1].name == "-k" {
		if msg := checkKey(opts[1].arg, nil); msg != "" {
			return bad("%s", msg)
		}
		r.Keys = []string{opts[1].arg}
		return r, true
	}
	if len(opts) > 1 {
		return bad("%s must be alone on its line (only -D takes a -k)", r.Option)
	}
	v := opts[0].arg
	switch r.Option {
	case "-b", "-r", "--backlog_wait_time":
		n, ok := cNumber(v, false)
		if !ok {
			return bad("%s needs a number, not %q", r.Option, v)
		}
		r.Value = fmt.Sprint(n)
	case "-f", "-e":
		if v != "0" && v != "1" && v != "2" {
			return bad("%s must be 0, 1 or 2, not %q", r.Option, v)
		}
		r.Value = v
	}
	return r, true
}

var sysName = regexp.MustCompile(`^([a-z_][a-z0-9_]*|[0-9]+)$`)

// parseListAction reads -a's LIST,ACTION, which auditctl accepts either way
// round.
func parseListAction(s string) (action, list, msg string) {
	a, b, ok := strings.Cut(s, ",")
	if !ok || strings.Contains(b, ",") {
		return "", "", "want LIST,ACTION such as always,exit"
	}
	if !isAction(a) {
		a, b = b, a
	}
	switch {
	case a == "possible" || b == "possible":
		return "", "", "action possible is deprecated and auditctl skips the rule"
	case !isAction(a):
		return "", "", "no action (always or never)"
	case b == "entry":
		return "", "", "the entry list is gone from the kernel; use exit"
	case b == "io_uring":
		return "", "", "io_uring rules are not supported by Bulwark's checker"
	case !slices.Contains([]string{"exit", "task", "user", "exclude", "filesystem"}, b):
		return "", "", fmt.Sprintf("unknown list %q (exit, task, user, exclude, filesystem)", b)
	}
	return a, b, ""
}

func isAction(s string) bool { return s == "always" || s == "never" }

// checkKey checks one more key for a rule that has keys already.
func checkKey(k string, have []string) string {
	switch {
	case k == "":
		return "empty key"
	case len(k) > maxKeyLen:
		return fmt.Sprintf("key %q is %d bytes; auditctl keys are at most %d", k, len(k), maxKeyLen)
	case strings.Contains(k, keySep):
		return "key contains the \\x01 key separator"
	case len(strings.Join(append(slices.Clone(have), k), keySep)) > maxKeysLen:
		return fmt.Sprintf("the rule's keys exceed %d bytes together", maxKeysLen)
	}
	return ""
}
