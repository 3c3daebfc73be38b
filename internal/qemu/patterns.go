package qemu

import (
	"regexp"
	"strings"
)

// fatalPatterns end a boot at once: waiting for the timeout after one of
// these only delays the report.
var fatalPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"kernel panic", regexp.MustCompile(`Kernel panic - not syncing`)},
	{"emergency mode", regexp.MustCompile(`(?i)you are in emergency mode|Entering emergency mode|emergency\.target`)},
	{"rescue mode", regexp.MustCompile(`(?i)you are in rescue mode|Entering rescue mode`)},
	{"dracut emergency shell", regexp.MustCompile(`dracut-emergency|Dropping to debug shell`)},
	// systemd-boot could not load the UKI: under Secure Boot the firmware
	// refused its signature (a changed byte, an unknown key).
	{"secure boot refusal", regexp.MustCompile(`Error loading \\EFI\\.*: (Access denied|Security violation)`)},
}

// problemPatterns fail a test when they appear anywhere in its console, but
// the boot may still go on to report more.
var problemPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"kernel Oops", regexp.MustCompile(`\bOops\b|Internal error: Oops`)},
	{"kernel BUG", regexp.MustCompile(`\bBUG: `)},
	{"failed unit", regexp.MustCompile(`\[FAILED\]|Failed to start `)},
	{"SELinux denial", regexp.MustCompile(`avc:\s+denied`)},
}

// Fatal returns the name of the fatal pattern line matches, or "".
func Fatal(line string) string {
	for _, p := range fatalPatterns {
		if p.re.MatchString(line) {
			return p.name
		}
	}
	return ""
}

// Problem is one console line that matched a problem or fatal pattern.
type Problem struct {
	Pattern string
	Line    string
}

// Problems lists every line of lines that matches a problem or fatal pattern.
func Problems(lines []string) []Problem {
	var out []Problem
	for _, l := range lines {
		if p := Fatal(l); p != "" {
			out = append(out, Problem{p, l})
			continue
		}
		for _, p := range problemPatterns {
			if p.re.MatchString(l) {
				out = append(out, Problem{p.name, l})
				break
			}
		}
	}
	return out
}

// Context returns up to n lines before and including line i.
func Context(lines []string, i, n int) []string {
	start := max(i-n+1, 0)
	end := min(i+3, len(lines))
	return append([]string(nil), lines[start:end]...)
}

// Tail returns the last n non-empty lines.
func Tail(lines []string, n int) []string {
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			out = append([]string{lines[i]}, out...)
		}
	}
	return out
}
