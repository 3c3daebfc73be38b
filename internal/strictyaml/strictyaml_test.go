package strictyaml

import (
	"strings"
	"testing"
)

type inner struct {
	N    int               `yaml:"n"`
	Tags map[string]string `yaml:"tags"`
}

type doc struct {
	Name  string   `yaml:"name"`
	List  []string `yaml:"list"`
	On    bool     `yaml:"on"`
	In    inner    `yaml:"in"`
	Ptr   *inner   `yaml:"ptr"`
	Items []inner  `yaml:"items"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  []string
	}{
		{"valid", "name: a\nlist: [x, y]\non: true\nin: {n: 3, tags: {a: b}}\nptr: {n: 1}\nitems: [{n: 1}]\n", nil},
		{"unknown key", "name: a\nnope: 1\n", []string{"f.yaml:2: $.nope: unknown key"}},
		{"nested unknown", "in:\n  n: 1\n  m: 2\n", []string{"f.yaml:3: $.in.m: unknown key"}},
		{"in list", "items:\n  - n: 1\n  - x: 2\n", []string{"$.items[1].x: unknown key"}},
		{"wrong scalar", "in: {n: abc}\n", []string{`$.in.n: expected a integer, got "abc"`}},
		{"list for scalar", "name: [a]\n", []string{"$.name: expected a string, got a list"}},
		{"scalar for list", "list: a\n", []string{"$.list: expected a list"}},
		{"scalar for map", "in: 3\n", []string{"$.in: expected a mapping"}},
		{"bool", "on: maybe\n", []string{"$.on: expected a boolean"}},
		{"duplicate key", "name: a\nname: b\n", []string{"already defined"}},
		{"all problems", "a: 1\nb: 2\n", []string{"$.a", "$.b"}},
		{"empty", "", []string{"empty document"}},
		{"not yaml", "a: [\n", []string{"f.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			_, err := Decode("f.yaml", []byte(tc.in), &d)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if d.Name != "a" || len(d.List) != 2 || !d.On || d.In.N != 3 || d.In.Tags["a"] != "b" || d.Ptr.N != 1 || d.Items[0].N != 1 {
					t.Errorf("decoded %+v", d)
				}
				return
			}
			if err == nil {
				t.Fatal("Decode accepted bad input")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestStringsKeepTheirText(t *testing.T) {
	var d doc
	if _, err := Decode("f.yaml", []byte("name: 1.10\n"), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "1.10" {
		t.Errorf("name = %q, want the text as written, 1.10", d.Name)
	}
}

func TestPositionsLine(t *testing.T) {
	var d doc
	pos, err := Decode("f.yaml", []byte("name: a\nin:\n  n: 1\n"), &d)
	if err != nil {
		t.Fatal(err)
	}
	if got := pos.Line("$.in.n"); got != 3 {
		t.Errorf("Line($.in.n) = %d, want 3", got)
	}
	if got := pos.Line("$.in.missing"); got != 2 {
		t.Errorf("Line($.in.missing) = %d, want its parent's line 2", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\nlist: [x]\nin: {n: 1}\n"))
	f.Add([]byte("items: [{n: 1}, {tags: {a: b}}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d doc
		pos, err := Decode("f.yaml", in, &d)
		if err == nil && pos == nil {
			t.Fatal("no error and no positions")
		}
	})
}
