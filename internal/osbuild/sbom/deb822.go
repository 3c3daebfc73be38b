package sbom

import (
	"bufio"
	"io"
	"strings"
)

// field is one field of a deb822 paragraph: its name as written, the value
// of its first line and the continuation lines that follow (leading space
// removed, "." lines turned into empty lines, as Debian Policy §5.1 says).
type field struct {
	Name  string
	First string
	More  []string
}

// paragraph is one deb822 paragraph: fields in file order.
type paragraph []field

// get returns the field called name (case-insensitively, as deb822 field
// names are), and whether it is there.
func (p paragraph) get(name string) (field, bool) {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return field{}, false
}

// value returns the first line of field name, or "".
func (p paragraph) value(name string) string {
	f, _ := p.get(name)
	return f.First
}

// parseDeb822 reads deb822 paragraphs (dpkg's status file, DEP-5
// copyright files): fields "Name: value", continuation lines that start with
// a space or tab, paragraphs separated by blank lines, "#" comment lines
// skipped. It never fails on content: lines it cannot read are ignored, so
// one odd copyright file cannot stop a build.
func parseDeb822(r io.Reader) ([]paragraph, error) {
	var out []paragraph
	var cur paragraph
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
			cur = append(cur, field{Name: name, First: strings.TrimSpace(value)})
		}
	}
	flush()
	return out, sc.Err()
}
