package labels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Options choose what Check demands of each path beyond having a label.
type Options struct {
	// ExpectType, when set, is the type every label must have.
	ExpectType string
	// Policy compares each label with what the image's own file_contexts
	// gives for the path (needs matchpathcon on the host).
	Policy bool
}

// Result is what Check found for one path.
type Result struct {
	Path     string `json:"path"`
	Resolved string `json:"resolved,omitempty"` // the path with its directories' symlinks followed, when that differs
	Class    string `json:"class,omitempty"`    // SELinux file class: file, dir, lnk_file, ...
	Label    string `json:"label,omitempty"`
	Policy   string `json:"policy,omitempty"` // file_contexts' label, with Options.Policy
	Error    string `json:"error,omitempty"`
	Err      error  `json:"-"` // every problem found, nil when the path passes
}

// ErrMismatch marks a label that is not the one expected.
var ErrMismatch = errors.New("label mismatch")

// Check looks up every path in the image at imagePath. The error is for
// the image as a whole; each path's own problems are in its Result.
func Check(ctx context.Context, imagePath string, paths []string, opt Options) ([]Result, error) {
	img, err := Open(imagePath)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	res := make([]Result, len(paths))
	var found []*File
	var foundAt []int
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := &res[i]
		r.Path = p
		f, err := img.Lookup(p)
		if f != nil {
			r.Class = f.Class()
			if f.Path != p {
				r.Resolved = f.Path
			}
			r.Label = f.Label
			found, foundAt = append(found, f), append(foundAt, i)
		}
		r.Err = err
		if err == nil && opt.ExpectType != "" {
			if t := labelType(f.Label); t != opt.ExpectType {
				r.Err = fmt.Errorf("%s: %w: type %s, want %s", p, ErrMismatch, t, opt.ExpectType)
			}
		}
	}
	if opt.Policy && len(found) > 0 {
		if err := comparePolicy(ctx, img, res, found, foundAt); err != nil {
			return nil, err
		}
	}
	for i := range res {
		if res[i].Err != nil {
			// errors.Join puts each problem on a line of its own.
			res[i].Error = strings.ReplaceAll(res[i].Err.Error(), "\n", "; ")
		}
	}
	return res, nil
}

// comparePolicy fills in Policy for the files found and marks those whose
// label differs from it. A path file_contexts leaves unlabelled
// (NoContext) is reported but not failed: the build labels such mount
// points itself.
func comparePolicy(ctx context.Context, img *View, res []Result, found []*File, foundAt []int) error {
	dir, err := os.MkdirTemp("", "bulwark-labels-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fc, err := copyFileContexts(img, dir)
	if err != nil {
		return err
	}
	want, err := policyContexts(ctx, fc, found)
	if err != nil {
		return fmt.Errorf("looking paths up in the image's file_contexts: %w", err)
	}
	for j, i := range foundAt {
		r := &res[i]
		r.Policy = want[j]
		if want[j] == NoContext || r.Label == "" || r.Label == want[j] {
			continue
		}
		r.Err = errors.Join(r.Err, fmt.Errorf("%s: %w: the image's file_contexts gives %s", r.Path, ErrMismatch, want[j]))
	}
	return nil
}
