package cliparse

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantPos  []string
		wantJSON bool
		wantOut  string
		wantErr  error
	}{
		{"flags first", []string{"-json", "-o", "x", "img", "/a"}, []string{"img", "/a"}, true, "x", nil},
		{"flags last", []string{"img", "/a", "--json", "-o=x"}, []string{"img", "/a"}, true, "x", nil},
		{"flags between", []string{"img", "-o", "x", "/a", "-json"}, []string{"img", "/a"}, true, "x", nil},
		{"no positional", []string{"-json"}, nil, true, "", nil},
		{"nothing", nil, nil, false, "", nil},
		{"dash dash protects the next argument", []string{"img", "--", "-json"}, []string{"img", "-json"}, false, "", nil},
		{"unknown flag after positional", []string{"img", "-nope"}, nil, false, "", errors.New("flag provided but not defined: -nope")},
		{"help", []string{"img", "-h"}, nil, false, "", flag.ErrHelp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			asJSON := fs.Bool("json", false, "")
			out := fs.String("o", "", "")
			pos, err := Parse(fs, tc.args)
			if tc.wantErr != nil {
				if err == nil || err.Error() != tc.wantErr.Error() {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tc.wantPos) || *asJSON != tc.wantJSON || *out != tc.wantOut {
				t.Errorf("got %q json=%t o=%q, want %q json=%t o=%q", pos, *asJSON, *out, tc.wantPos, tc.wantJSON, tc.wantOut)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("img", "-json", "/a")
	f.Add("--", "-o", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("json", false, "")
		fs.String("o", "", "")
		args := []string{a, b, c}
		pos, err := Parse(fs, args)
		if err == nil && len(pos) > len(args) {
			t.Errorf("Parse(%q) returned more positional arguments than it was given: %q", args, pos)
		}
	})
}
