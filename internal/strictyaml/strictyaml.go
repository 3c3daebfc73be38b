// Package strictyaml decodes YAML documents into Go structs strictly: an
// unknown key, a wrong type or a misplaced list is an error that names the
// file, line and JSON-style path ($.disk.usr.size), and every such problem in
// the document is reported at once. Specs are security-relevant input, and a
// typo that silently drops a setting (say "enforcng: true") must not pass.
package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bulwark/bulwark/internal/fielderr"
)

// Positions maps a decoded JSON-style path to the line it came from, so that
// later semantic validation can point at the same place.
type Positions map[string]int

// Line returns the line of path, or of its nearest decoded parent.
func (p Positions) Line(path string) int {
	for path != "" {
		if l, ok := p[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return p["$"]
}

// Decode parses data (read from file) into out, which must be a pointer to a
// struct whose fields carry yaml tags.
func Decode(file string, data []byte, out any) (Positions, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &fielderr.Error{File: file, Path: "$", Msg: "empty document"}
	}
	d := &decoder{errs: fielderr.List{File: file}, pos: Positions{}}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, errors.New("strictyaml: out must be a non-nil pointer")
	}
	d.walk(doc.Content[0], rv.Elem(), "$")
	// Positions are returned even with errors, so a caller can go on to
	// validate what did decode and report everything at once.
	return d.pos, d.errs.Err()
}

type decoder struct {
	errs fielderr.List
	pos  Positions
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func (d *decoder) walk(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errs.Add(n.Line, path, "%s", cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.walk(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.walkStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errs.Add(n.Line, path, "expected a mapping, got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if d.duplicate(seen, k, path) {
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.walk(val, ev, fielderr.Key(path, k.Value))
			v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errs.Add(n.Line, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.walk(c, s.Index(i), fielderr.Index(path, i))
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errs.Add(n.Line, path, "%s", cleanYAMLError(err))
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	default:
		if n.Kind != yaml.ScalarNode {
			d.errs.Add(n.Line, path, "expected a %s, got %s", kindName(v.Kind()), describe(n))
			return
		}
		if v.Kind() == reflect.String && n.Tag != "!!str" {
			// yaml.v3 happily turns 1.10 into "1.1"; for strings insist on the
			// text as written, so versions and octal modes are not mangled.
			v.SetString(n.Value)
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errs.Add(n.Line, path, "expected a %s, got %q", kindName(v.Kind()), n.Value)
		}
	}
}

func (d *decoder) walkStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errs.Add(n.Line, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	var known []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		known = append(known, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if d.duplicate(seen, k, path) {
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			d.errs.Add(k.Line, fielderr.Key(path, k.Value), "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		d.walk(val, v.Field(idx), fielderr.Key(path, k.Value))
	}
}

// duplicate records and reports a key given twice in one mapping: YAML
// would silently keep the last, hiding the first setting from review.
func (d *decoder) duplicate(seen map[string]bool, k *yaml.Node, path string) bool {
	p := fielderr.Key(path, k.Value)
	if seen[k.Value] {
		d.errs.Add(k.Line, p, "key %q is already defined in this mapping", k.Value)
		return true
	}
	seen[k.Value] = true
	d.pos[p] = k.Line
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return k.String()
}

// cleanYAMLError strips yaml.v3's "yaml: unmarshal errors:\n  line N:" prefix,
// since our message already carries the file, line and path.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			s = rest
		}
	}
	return s
}
