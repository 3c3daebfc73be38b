package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ruleFileName is the shape of a file in a rules directory: a two-digit
// order prefix, so that name order is load order under both a byte sort and
// augenrules' version sort, and an optional architecture before .rules.
var ruleFileName = regexp.MustCompile(`^[0-9]{2}-[a-z0-9][a-z0-9-]*(\.[a-z0-9_]+)?\.rules$`)

// FilesFor lists the rule files in dir that apply to target, sorted by
// name: every NN-name.rules, and NN-name.<target>.rules for the target's
// architecture only (NN-name.x86_64.rules, NN-name.aarch64.rules). An
// architecture file adds to, never replaces, a file of the same stem. Other
// files (README.md) are ignored; a .rules file of another shape is an error.
func FilesFor(dir, target string) ([]string, error) {
	if _, ok := targetABIs[target]; !ok {
		return nil, fmt.Errorf("unknown target architecture %q (known: %s)", target, strings.Join(targetNames(), ", "))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing audit rules: %w", err)
	}
	var files []string
	var problems []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".rules") {
			continue
		}
		m := ruleFileName.FindStringSubmatch(name)
		switch {
		case m == nil:
			problems = append(problems, fmt.Errorf("%s: rule file names are NN-name.rules or NN-name.ARCH.rules", filepath.Join(dir, name)))
		case !e.Type().IsRegular():
			problems = append(problems, fmt.Errorf("%s: not a regular file", filepath.Join(dir, name)))
		case m[1] == "":
			files = append(files, filepath.Join(dir, name))
		default:
			a := m[1][1:]
			if _, ok := targetABIs[a]; !ok {
				problems = append(problems, fmt.Errorf("%s: %q is not an architecture (known: %s)", filepath.Join(dir, name), a, strings.Join(targetNames(), ", ")))
			} else if a == target {
				files = append(files, filepath.Join(dir, name))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	return files, nil
}

// Augenrules returns rules in the order augenrules(8) writes them into
// /etc/audit/audit.rules when they all sit in /etc/audit/rules.d: the last
// -D without a key first, then the last -b and the last -f, every other
// line in order, and the last -e at the end. augenrules drops the other
// -D, -b, -f and -e lines. Validate the result, not the files: a -D in the
// middle of a file moves to the top, and rules it seemed to separate become
// duplicates the kernel refuses.
func Augenrules(rules []Rule) []Rule {
	var d, b, f, e *Rule
	var rest []Rule
	for i := range rules {
		r := &rules[i]
		switch {
		case r.Kind == Control && r.Option == "-D" && len(r.Keys) == 0:
			d = r
		case r.Kind == Control && r.Option == "-b":
			b = r
		case r.Kind == Control && r.Option == "-f":
			f = r
		case r.Kind == Control && r.Option == "-e":
			e = r
		default:
			rest = append(rest, *r)
		}
	}
	var out []Rule
	for _, r := range []*Rule{d, b, f} {
		if r != nil {
			out = append(out, *r)
		}
	}
	out = append(out, rest...)
	if e != nil {
		out = append(out, *e)
	}
	return out
}

// ParseFiles parses files in the order given and returns their rules as
// one list, with every file's problems.
func ParseFiles(files []string) ([]Rule, error) {
	var rules []Rule
	var all Errors
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading audit rules: %w", err)
		}
		rs, err := Parse(f, src)
		var es Errors
		if errors.As(err, &es) {
			all = append(all, es...)
		} else if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	if len(all) > 0 {
		return rules, all
	}
	return rules, nil
}

// Render concatenates files, in name order, into the body of one rules
// file for /etc/audit/rules.d, behind a header naming them. The files are
// parsed first, so a file with a syntax error is never rendered. The output
// depends on the files' names and contents only, not on where they are.
func Render(files []string) ([]byte, error) {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	if _, err := ParseFiles(sorted); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("## Bulwark audit rules, generated at image build time. Do not edit on the node.\n")
	b.WriteString("## augenrules(8) merges /etc/audit/rules.d/*.rules into /etc/audit/audit.rules at boot.\n")
	b.WriteString("## Sources, in load order:\n")
	for _, f := range sorted {
		fmt.Fprintf(&b, "##   %s\n", filepath.Base(f))
	}
	for _, f := range sorted {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading audit rules: %w", err)
		}
		fmt.Fprintf(&b, "\n## ---- %s ----\n", filepath.Base(f))
		b.Write(src)
		if len(src) > 0 && src[len(src)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// Load reads the rules a node of target loads from paths, each a rule file
// or a rules directory (the files FilesFor picks for target), merged as
// augenrules merges /etc/audit/rules.d (Augenrules). It returns the merged
// rules and the files read, in order. The build, osbuild audit check and
// the VM tests all load rules through it, so what they check is what the
// node loads.
func Load(target string, paths ...string) ([]Rule, []string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("reading audit rules: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		inDir, err := FilesFor(p, target)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, inDir...)
	}
	rules, err := ParseFiles(files)
	if err != nil {
		return nil, nil, err
	}
	return Augenrules(rules), files, nil
}
