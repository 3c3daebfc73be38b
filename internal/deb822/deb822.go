// Package deb822 reads Debian's control-file format (deb822): dpkg's
// status file (internal/dpkgstatus), a .deb's control fields (the bench's
// package cache), DEP-5 copyright files (the SBOM's licenses).
package deb822

import (
	"bufio"
	"io"
	"strings"
)

// Field is one field of a deb822 paragraph: its name as written, the value
// of its first line and the continuation lines that follow (leading space
// removed, "." lines turned into empty lines, as Debian Policy §5.1 says).
type Field struct {
	Name  string
	First string
	More  []string
}

// Paragraph is one deb822 paragraph: fields in file order.
type Paragraph []Field

// Get returns the field called name (case-insensitively, as deb822 field
// names are), and whether it is there.
func (p Paragraph) Get(name string) (Field, bool) {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

// Value returns the first line of field name, or "".
func (p Paragraph) Value(name string) string {
	f, _ := p.Get(name)
	return f.First
}

// Parse reads deb822 paragraphs (dpkg's status file, DEP-5
// copyright files): fields "Name: value", continuation lines that start with
// a space or tab, paragraphs separated by blank lines, "#" comment lines
// skipped. It never fails on content: lines it cannot read are ignored, so
// one odd copyright file cannot stop a build.
func Parse(r io.Reader) ([]Paragraph, error) {
	var out []Paragraph
	var cur Paragraph
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if len(cur) == 0 {
				continue
			}
			l := strings.TrimSpace(line)
			if l == "." {
				l = ""
			}
			cur[len(cur)-1].More = append(cur[len(cur)-1].More, l)
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				continue
			}
			cur = append(cur, Field{Name: name, First: strings.TrimSpace(value)})
		}
	}
	flush()
	return out, sc.Err()
}
