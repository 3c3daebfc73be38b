package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// maxDepth bounds nesting: real profiles are five levels deep, and a bound
// keeps hostile input from recursing without limit.
const maxDepth = 32

// node is one decoded JSON value and the line it started on, kept so that
// problems found after decoding can still point at a line.
type node struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	line int
	str  string // string value or number literal
	b    bool
	keys []string // object keys in file order
	vals []*node  // object values (parallel to keys) or array elements
}

// tokenizer wraps a json.Decoder to know each token's line.
type tokenizer struct {
	dec      *json.Decoder
	newlines []int // offsets of '\n' in the input
	dups     []*fielderr.Error
}

func (t *tokenizer) next() (json.Token, int, error) {
	tok, err := t.dec.Token()
	if err != nil {
		return nil, 0, t.syntaxErr(err)
	}
	// InputOffset is the end of tok; no JSON token spans a newline, so
	// the line of its end is the line it is on.
	return tok, t.lineAt(t.dec.InputOffset()), nil
}

func (t *tokenizer) lineAt(off int64) int {
	return 1 + sort.SearchInts(t.newlines, int(off))
}

// syntaxErr turns a decoder error into one that names the line.
func (t *tokenizer) syntaxErr(err error) error {
	if err == io.EOF {
		return err
	}
	e := &fielderr.Error{Path: "$", Line: t.lineAt(t.dec.InputOffset()), Msg: strings.TrimPrefix(err.Error(), "json: ")}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e.Line = t.lineAt(se.Offset)
	}
	return e
}

// parseTree reads exactly one JSON value. Duplicate object keys are
// returned as problems (the first value is kept): encoding/json would
// silently keep the last one, and a profile whose second "action" quietly
// wins is exactly the kind of surprise a security policy must not have.
func parseTree(data []byte) (*node, []*fielderr.Error, error) {
	t := &tokenizer{dec: json.NewDecoder(bytes.NewReader(data))}
	t.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			t.newlines = append(t.newlines, i)
		}
	}
	tok, line, err := t.next()
	if err == io.EOF {
		return nil, nil, &fielderr.Error{Path: "$", Msg: "empty document"}
	}
	if err != nil {
		return nil, nil, err
	}
	n, err := t.value(tok, line, "$", 0)
	if err != nil {
		return nil, nil, err
	}
	if _, line, err := t.next(); err != io.EOF {
		return nil, nil, &fielderr.Error{Path: "$", Line: line, Msg: "trailing data after the JSON document"}
	}
	return n, t.dups, nil
}

func (t *tokenizer) value(tok json.Token, line int, path string, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &fielderr.Error{Path: path, Line: line, Msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &node{kind: 'o', line: line}
			seen := map[string]bool{}
			for t.dec.More() {
				ktok, kline, err := t.next()
				if err != nil {
					return nil, eof(err, line)
				}
				key, _ := ktok.(string)
				vtok, vline, err := t.next()
				if err != nil {
					return nil, eof(err, line)
				}
				child, err := t.value(vtok, vline, fielderr.Key(path, key), depth+1)
				if err != nil {
					return nil, err
				}
				if seen[key] {
					t.dups = append(t.dups, &fielderr.Error{Path: fielderr.Key(path, key), Line: kline, Msg: "duplicate key: encoding/json would silently keep only the last one"})
					continue
				}
				seen[key] = true
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, child)
			}
			if _, _, err := t.next(); err != nil {
				return nil, eof(err, line)
			}
			return n, nil
		case '[':
			n := &node{kind: 'a', line: line}
			for t.dec.More() {
				etok, eline, err := t.next()
				if err != nil {
					return nil, eof(err, line)
				}
				child, err := t.value(etok, eline, fielderr.Index(path, len(n.vals)), depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, child)
			}
			if _, _, err := t.next(); err != nil {
				return nil, eof(err, line)
			}
			return n, nil
		}
		return nil, &fielderr.Error{Path: path, Line: line, Msg: fmt.Sprintf("unexpected %q", v)}
	case string:
		return &node{kind: 's', line: line, str: v}, nil
	case json.Number:
		return &node{kind: 'n', line: line, str: string(v)}, nil
	case bool:
		return &node{kind: 'b', line: line, b: v}, nil
	case nil:
		return &node{kind: 'z', line: line}, nil
	}
	return nil, &fielderr.Error{Path: path, Line: line, Msg: fmt.Sprintf("unexpected token %v", tok)}
}

// eof turns the end of input inside a value into an error.
func eof(err error, line int) error {
	if err == io.EOF {
		return &fielderr.Error{Path: "$", Line: line, Msg: "unexpected end of JSON input"}
	}
	return err
}

// raw renders n back to JSON, for types with their own UnmarshalJSON.
func (n *node) raw() []byte {
	var b bytes.Buffer
	n.write(&b)
	return b.Bytes()
}

func (n *node) write(b *bytes.Buffer) {
	switch n.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			ks, _ := json.Marshal(k)
			b.Write(ks)
			b.WriteByte(':')
			n.vals[i].write(b)
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
		b.WriteByte(']')
	case 's':
		s, _ := json.Marshal(n.str)
		b.Write(s)
	case 'n':
		b.WriteString(n.str)
	case 'b':
		b.WriteString(strconv.FormatBool(n.b))
	default:
		b.WriteString("null")
	}
}

func (n *node) describe() string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "a list"
	case 's':
		return fmt.Sprintf("the string %q", n.str)
	case 'n':
		return "the number " + n.str
	case 'b':
		return strconv.FormatBool(n.b)
	}
	return "null"
}

// decodeStrict fills out (a pointer to a struct with json tags) from data.
// Unlike encoding/json it refuses unknown keys, matches key case exactly
// and reports every problem with its JSON path and line. It returns the
// line of each decoded path so later checks can point at the same place.
func decodeStrict(file string, data []byte, out any) (map[string]int, error) {
	tree, dups, err := parseTree(data)
	if err != nil {
		var fe *fielderr.Error
		if errors.As(err, &fe) {
			fe.File = file
			return nil, fe
		}
		return nil, &fielderr.Error{File: file, Path: "$", Msg: err.Error()}
	}
	d := &decoder{errs: fielderr.List{File: file}, lines: map[string]int{}}
	for _, e := range dups {
		d.errs.Append(e)
	}
	d.fill(tree, reflect.ValueOf(out).Elem(), "$")
	return d.lines, d.errs.Err()
}

type decoder struct {
	errs  fielderr.List
	lines map[string]int
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func (d *decoder) fill(n *node, v reflect.Value, path string) {
	d.lines[path] = n.line
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(n.raw()); err != nil {
			d.errs.Add(n.line, path, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return
	}
	if n.kind == 'z' {
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
		default:
			d.errs.Add(n.line, path, "must be %s, not null", want(v.Type()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.fill(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		if n.kind != 'o' {
			d.errs.Add(n.line, path, "must be %s, not %s", want(v.Type()), n.describe())
			return
		}
		fields := jsonFields(v.Type())
		for i, k := range n.keys {
			idx, ok := fields[k]
			if !ok {
				d.errs.Add(n.vals[i].line, fielderr.Key(path, k), "unknown key %q%s", k, suggestKey(k, fields))
				continue
			}
			d.fill(n.vals[i], v.FieldByIndex(idx), fielderr.Key(path, k))
		}
	case reflect.Slice:
		if n.kind != 'a' {
			d.errs.Add(n.line, path, "must be %s, not %s", want(v.Type()), n.describe())
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.vals), len(n.vals))
		for i, e := range n.vals {
			d.fill(e, s.Index(i), fielderr.Index(path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.kind != 's' {
			d.errs.Add(n.line, path, "must be a string, not %s", n.describe())
			return
		}
		v.SetString(n.str)
	case reflect.Bool:
		if n.kind != 'b' {
			d.errs.Add(n.line, path, "must be true or false, not %s", n.describe())
			return
		}
		v.SetBool(n.b)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind != 'n' {
			d.errs.Add(n.line, path, "must be a number, not %s", n.describe())
			return
		}
		u, err := strconv.ParseUint(n.str, 10, v.Type().Bits())
		if err != nil {
			d.errs.Add(n.line, path, "must be an integer from 0 to %d, not %s", uint64(math.MaxUint64)>>(64-v.Type().Bits()), n.str)
			return
		}
		v.SetUint(u)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != 'n' {
			d.errs.Add(n.line, path, "must be a number, not %s", n.describe())
			return
		}
		i, err := strconv.ParseInt(n.str, 10, v.Type().Bits())
		if err != nil {
			d.errs.Add(n.line, path, "must be an integer, not %s", n.str)
			return
		}
		v.SetInt(i)
	default:
		// Only reachable if a decoded type grows a field kind this decoder
		// does not know; that is a bug here, not in the input.
		d.errs.Add(n.line, path, "cannot decode into %s", v.Type())
	}
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}

// jsonFields maps each JSON key of struct type t to its field index,
// following encoding/json: embedded structs without a tag are flattened
// and the shallower field wins (seccomp.Seccomp's own "syscalls" hides
// the one of the embedded specs.LinuxSeccomp).
func jsonFields(t reflect.Type) map[string][]int {
	type cand struct {
		index []int
		depth int
	}
	best := map[string]cand{}
	var walk func(t reflect.Type, prefix []int, depth int)
	walk = func(t reflect.Type, prefix []int, depth int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			index := append(append([]int(nil), prefix...), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index, depth+1)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if c, ok := best[name]; !ok || depth < c.depth {
				best[name] = cand{index, depth}
			}
		}
	}
	walk(t, nil, 0)
	out := make(map[string][]int, len(best))
	for k, c := range best {
		out[k] = c.index
	}
	return out
}

// suggestKey names the key meant when only its case differs: encoding/json
// (and so dockerd) would accept "DefaultAction", strict decoding does not.
func suggestKey(k string, fields map[string][]int) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}
