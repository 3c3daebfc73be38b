package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/progress"
)

// Schema names the layout of bench.json. Keys of Metrics and Ratios are
// stable across runs (test/bench/README.md lists them); a change that
// renames or re-units a key bumps this.
const Schema = "bulwark-bench/v1"

// Report is bench.json.
type Report struct {
	Schema   string             `json:"schema"`
	Date     time.Time          `json:"date"`
	Duration float64            `json:"durationSeconds"`
	Machine  Machine            `json:"machine"`
	Source   Source             `json:"source"`
	Settings Settings           `json:"settings"`
	Plan     []PlanItem         `json:"plan"`
	Metrics  map[string]Summary `json:"metrics"`
	Ratios   map[string]Ratio   `json:"ratios"`
	// Facts are results that are not numbers: reproducibility verdicts,
	// tool versions, which cache a "warm" build really used.
	Facts     map[string]string        `json:"facts"`
	Repro     map[string]*ReproResult  `json:"reproducibility,omitempty"` // by arch
	Firstboot *FirstbootResult         `json:"firstboot,omitempty"`
	Boots     map[string][]BootOutcome `json:"boots,omitempty"` // by arch.image
	Notes     []string                 `json:"notes"`
	Skipped   map[string]string        `json:"skipped"` // what → why
	Errors    map[string]string        `json:"errors"`  // section → error

	order []string // metric keys in the order measured, for the table
}

// Source says what was measured.
type Source struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	Spec   string `json:"spec"`
	Lock   string `json:"lockSha256"`
}

// NewReport starts an empty report dated now.
func NewReport(now time.Time) *Report {
	return &Report{Schema: Schema, Date: now.UTC().Truncate(time.Second),
		Metrics: map[string]Summary{}, Ratios: map[string]Ratio{}, Facts: map[string]string{},
		Skipped: map[string]string{}, Errors: map[string]string{}, Notes: []string{}}
}

// Add records a figure under key; the same key again replaces it.
func (r *Report) Add(key, unit string, runs []float64) Summary {
	if _, ok := r.Metrics[key]; !ok {
		r.order = append(r.order, key)
	}
	s := Summarize(unit, runs)
	r.Metrics[key] = s
	return s
}

// AddRatio records num/den under key when both figures are there.
func (r *Report) AddRatio(key, num, den string) {
	if v, ok := ratioOf(r.Metrics[num], r.Metrics[den]); ok {
		r.Ratios[key] = Ratio{Value: v, Num: num, Den: den}
	}
}

// Note adds a sentence to the report's notes and prints it.
func (r *Report) Note(w io.Writer, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.Notes = append(r.Notes, s)
	fmt.Fprintf(w, "bench: note: %s\n", s)
}

// Skip records that what was not measured, and why.
func (r *Report) Skip(w io.Writer, what, why string) {
	r.Skipped[what] = why
	fmt.Fprintf(w, "bench: skipped %s: %s\n", what, why)
}

// WriteJSON writes the report to path atomically.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadReport reads a bench.json, for comparing against a baseline.
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading baseline: %w", err)
	}
	r := &Report{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("parsing baseline %s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("baseline %s has schema %q; this bench writes %q", path, r.Schema, Schema)
	}
	return r, nil
}

// keys returns the metric keys in measurement order, then any others
// (from a loaded report, which has no order) sorted.
func (r *Report) keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range r.order {
		if _, ok := r.Metrics[k]; ok && !seen[k] {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range r.Metrics {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// formatValue prints v in unit for people: durations as seconds or
// minutes, byte counts with binary units.
func formatValue(unit string, v float64) string {
	switch unit {
	case unitSeconds:
		if v >= 60 {
			d := time.Duration(v * float64(time.Second))
			return d.Round(100 * time.Millisecond).String()
		}
		if v < 1 {
			return fmt.Sprintf("%.0f ms", v*1000)
		}
		return fmt.Sprintf("%.2f s", v)
	case unitBytes:
		return progress.Bytes(int64(v))
	}
	return fmt.Sprintf("%.0f", v)
}

// delta is the relative change of cur against base, as "+12.3%", or "" when
// the baseline has no such figure.
func delta(cur Summary, base *Report, key string) string {
	if base == nil {
		return ""
	}
	b, ok := base.Metrics[key]
	if !ok || b.N == 0 || b.Median == 0 || cur.N == 0 {
		return "new"
	}
	pct := 100 * (cur.Median - b.Median) / b.Median
	mark := ""
	if pct > 10 {
		mark = " !"
	}
	return fmt.Sprintf("%+.1f%%%s", pct, mark)
}

// section is the first component of a key: build, usrfs, image, boot, ...
func section(key string) string {
	s, _, _ := strings.Cut(key, ".")
	return s
}

// WriteTable prints the figures, ratios and facts as aligned text. With a
// baseline it adds each figure's change against it ("!" past +10%).
func (r *Report) WriteTable(w io.Writer, base *Report) {
	head := []string{"figure", "median", "min", "max", "n"}
	if base != nil {
		head = append(head, "vs baseline")
	}
	var rows [][]string
	last := ""
	flush := func() {
		if len(rows) > 0 {
			fmt.Fprintf(w, "\n== %s ==\n", last)
			writeAligned(w, append([][]string{head}, rows...))
		}
		rows = nil
	}
	for _, k := range r.keys() {
		if sec := section(k); sec != last {
			flush()
			last = sec
		}
		s := r.Metrics[k]
		row := []string{k, "-", "-", "-", "0"}
		if s.N > 0 {
			row = []string{k, formatValue(s.Unit, s.Median), formatValue(s.Unit, s.Min), formatValue(s.Unit, s.Max), fmt.Sprint(s.N)}
		}
		if base != nil {
			row = append(row, delta(s, base, k))
		}
		rows = append(rows, row)
	}
	flush()
	if len(r.Ratios) > 0 {
		fmt.Fprintf(w, "\n== ratios (medians of the same run) ==\n")
		for _, k := range sortedKeys(r.Ratios) {
			x := r.Ratios[k]
			rows = append(rows, []string{k, fmt.Sprintf("%.2fx", x.Value), x.Num + " / " + x.Den})
		}
		writeAligned(w, rows)
		rows = nil
	}
	if len(r.Facts) > 0 {
		// Facts are text: left-aligned, however they start.
		fmt.Fprintf(w, "\n== facts ==\n")
		width := 0
		for k := range r.Facts {
			width = max(width, utf8.RuneCountInString(k))
		}
		for _, k := range sortedKeys(r.Facts) {
			fmt.Fprintf(w, "%-*s  %s\n", width, k, r.Facts[k])
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\n== not measured ==\n")
		for _, k := range sortedKeys(r.Skipped) {
			fmt.Fprintf(w, "%s: %s\n", k, r.Skipped[k])
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\n== errors ==\n")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "%s: %s\n", k, firstLine(r.Errors[k]))
		}
	}
}

// writeAligned prints rows in columns: the first and last left-aligned
// (names, descriptions), the others right-aligned (numbers).
func writeAligned(w io.Writer, rows [][]string) {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var sb strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i == len(row)-1 && (i == 0 || !numeric(c)):
				sb.WriteString(c)
			case i == 0:
				sb.WriteString(c + pad)
			default:
				sb.WriteString(pad + c)
			}
			if i < len(row)-1 {
				sb.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
	}
}

// numeric reports whether a cell is a figure (right-aligned) rather than text.
func numeric(c string) bool {
	if c == "" || c == "-" {
		return true
	}
	ch := c[0]
	return ch >= '0' && ch <= '9' || ch == '+' || ch == '-'
}

// WriteMarkdown writes the report as Markdown, ready to paste into README.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Measured %s on %s.\n\n", r.Date.Format("2006-01-02"), r.Machine.Describe())
	fmt.Fprintf(w, "| figure | median | min | max | n |\n|---|---:|---:|---:|---:|\n")
	for _, k := range r.keys() {
		s := r.Metrics[k]
		if s.N == 0 {
			continue
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %d |\n", k, formatValue(s.Unit, s.Median), formatValue(s.Unit, s.Min), formatValue(s.Unit, s.Max), s.N)
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintf(w, "\n| ratio | value |\n|---|---:|\n")
		for _, k := range sortedKeys(r.Ratios) {
			fmt.Fprintf(w, "| `%s` | %.2f× |\n", k, r.Ratios[k].Value)
		}
	}
	if len(r.Facts) > 0 {
		fmt.Fprintf(w, "\n| fact | value |\n|---|---|\n")
		for _, k := range sortedKeys(r.Facts) {
			fmt.Fprintf(w, "| `%s` | %s |\n", k, strings.ReplaceAll(r.Facts[k], "|", `\|`))
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\nNot measured:\n\n")
		for _, k := range sortedKeys(r.Skipped) {
			fmt.Fprintf(w, "- %s: %s\n", k, r.Skipped[k])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
