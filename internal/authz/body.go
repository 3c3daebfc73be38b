package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// bodyKind says which request bodies are inspected, and as what.
type bodyKind int

const (
	noBody bodyKind = iota
	createBody
	updateBody
	execBody
	volumeBody
)

// bodyKinds are the actions whose JSON body can ask for more than the
// action's name says: a container's host access, an exec's privileges, a
// volume's host mount.
var bodyKinds = map[string]bodyKind{
	"container_create":      createBody,
	"container_update":      updateBody,
	"container_exec_create": execBody,
	"volume_create":         volumeBody,
}

// InspectsBody reports whether a restricted rule's decision on action
// depends on the request body.
func InspectsBody(action string) bool { return bodyKinds[action] != noBody }

// errNoBody is a body-inspected request whose body dockerd did not pass
// on: it sends none for a body over 1 MiB or without Content-Type
// application/json, and lost one to CVE-2024-41110. The request may still
// carry a body dockerd acts on, so it is denied.
var errNoBody = errors.New("the plugin did not receive the request body (over 1 MiB, not application/json, or stripped), so it cannot be checked")

// body is a decoded request body, in the Docker API types dockerd decodes
// it into, with encoding/json as dockerd uses it: keys match fields case-
// insensitively and the last of duplicate keys wins, so the plugin reads
// what dockerd reads.
type body struct {
	create *container.CreateRequest
	// legacy is a create body read as a HostConfig at its top level: dockerd
	// before 25 took HostConfig fields there when "HostConfig" was absent.
	legacy *container.HostConfig
	update *container.UpdateConfig
	exec   *container.ExecOptions
	volume *volumeCreate
}

// volumeCreate is the body of POST /volumes/create (volume.CreateOptions,
// whose package pulls in the swarm types).
type volumeCreate struct {
	Name              string
	Driver            string
	DriverOpts        map[string]string
	Labels            map[string]string
	ClusterVolumeSpec json.RawMessage
}

// decodeBody decodes the body of a request of the given kind. It fails
// closed: a missing body, anything but one JSON object, a value of the
// wrong type, or a non-empty value under a key the Docker API types do not
// have (a field a newer or older dockerd may act on) is an error.
func decodeBody(kind bodyKind, b []byte) (*body, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, errNoBody
	}
	if t[0] != '{' {
		return nil, errors.New("request body is not a JSON object")
	}
	out := &body{}
	switch kind {
	case createBody:
		out.create, out.legacy = &container.CreateRequest{}, &container.HostConfig{}
		if err := decodeObject(b, out.create); err != nil {
			return nil, err
		}
		if err := decodeObject(b, out.legacy); err != nil {
			return nil, err
		}
		known := append(fieldNames(reflect.TypeFor[container.CreateRequest]()), fieldNames(reflect.TypeFor[container.HostConfig]())...)
		top, err := checkKeys(b, "", known)
		if err != nil {
			return nil, err
		}
		hcFields := fieldNames(reflect.TypeFor[container.HostConfig]())
		for _, k := range sortedKeys(top) {
			if strings.EqualFold(k, "HostConfig") && !isZeroJSON(top[k]) {
				if _, err := checkKeys(top[k], k+".", hcFields); err != nil {
					return nil, err
				}
			}
		}
	case updateBody:
		out.update = &container.UpdateConfig{}
		if err := decodeObject(b, out.update); err != nil {
			return nil, err
		}
		if _, err := checkKeys(b, "", fieldNames(reflect.TypeFor[container.UpdateConfig]())); err != nil {
			return nil, err
		}
	case execBody:
		out.exec = &container.ExecOptions{}
		if err := decodeObject(b, out.exec); err != nil {
			return nil, err
		}
		if _, err := checkKeys(b, "", fieldNames(reflect.TypeFor[container.ExecOptions]())); err != nil {
			return nil, err
		}
	case volumeBody:
		out.volume = &volumeCreate{}
		if err := decodeObject(b, out.volume); err != nil {
			return nil, err
		}
		if _, err := checkKeys(b, "", fieldNames(reflect.TypeFor[volumeCreate]())); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no body decoder for kind %d", kind)
	}
	return out, nil
}

// decodeObject decodes one JSON value as dockerd does (httputils.ReadJSON,
// runconfig.loadJSON): one value, nothing but white space after it.
func decodeObject(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body does not decode: %w", err)
	}
	if dec.More() {
		return errors.New("request body has content after the JSON object")
	}
	return nil
}

// checkKeys decodes the object b and returns it, or an error naming the
// first key (prefixed by prefix) that matches none of known under
// encoding/json's case folding and holds a non-empty value.
func checkKeys(b []byte, prefix string, known []string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := decodeObject(b, &m); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(m) {
		if isZeroJSON(m[k]) || knownKey(k, known) {
			continue
		}
		return nil, fmt.Errorf("request body sets %s%s, a field this plugin does not know: it cannot tell what dockerd would do with it", prefix, k)
	}
	return m, nil
}

func knownKey(k string, known []string) bool {
	for _, n := range known {
		// encoding/json matches keys to fields with the same Unicode
		// folding as bytes.EqualFold ("ſecurityopt" is SecurityOpt).
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isZeroJSON reports whether a JSON value is empty: null, false, 0, "",
// [] or {}. An undecodable value is not empty.
func isZeroJSON(raw json.RawMessage) bool {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// fieldNames lists the JSON keys of struct type t as encoding/json names
// them, with the fields of embedded structs promoted.
func fieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, fieldNames(ft)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
