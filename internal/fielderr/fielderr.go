// Package fielderr carries validation errors that name the file, the JSON-style
// path inside it and, where known, the line, so that a user can find the bad
// value without reading code: "images/x.yaml:12: $.disk.usr: ...".
package fielderr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found at one place in one input file.
type Error struct {
	File string // file the value came from, as the user named it
	Line int    // 1-based line, 0 when unknown
	Path string // JSON-style path such as $.disk.usr.size
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	switch {
	case e.Path == "":
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	case loc == "":
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
}

// List collects errors so that validation reports every problem at once
// instead of making the user fix them one run at a time.
type List struct {
	File string
	errs []*Error
}

// Add records a problem at path; line may be 0.
func (l *List) Add(line int, path, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Append records an already built error.
func (l *List) Append(e *Error) {
	if e.File == "" {
		e.File = l.File
	}
	l.errs = append(l.errs, e)
}

// All returns the recorded problems.
func (l *List) All() []*Error { return l.errs }

// Len reports how many problems have been recorded.
func (l *List) Len() int { return len(l.errs) }

// Err returns nil when nothing was recorded, else all problems joined, in
// file order so the output reads top to bottom.
func (l *List) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sorted := append([]*Error(nil), l.errs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Line == 0 || sorted[j].Line == 0 {
			return false
		}
		return sorted[i].Line < sorted[j].Line
	})
	return Errors(sorted)
}

// Errors is several problems, one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Merge appends to l the problems in err, skipping none. err may be an
// Errors, a single *Error or nil; anything else is recorded at path "$".
func (l *List) Merge(err error) {
	var es Errors
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &es):
		for _, x := range es {
			l.Append(x)
		}
	case errors.As(err, &e):
		l.Append(e)
	default:
		l.Append(&Error{Path: "$", Msg: err.Error()})
	}
}

// Paths returns the paths of the problems in err.
func Paths(err error) []string {
	var l List
	l.Merge(err)
	var out []string
	for _, e := range l.errs {
		out = append(out, e.Path)
	}
	return out
}

// Index returns the path of element i of the sequence at path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Key returns the path of key k of the mapping at path.
func Key(path, k string) string { return path + "." + k }
