package audit

import (
	"cmp"
	"errors"
	"io/fs"
	"slices"
)

// CheckFiles loads the rules of paths for target (Load), validates them
// and, when root is not nil, checks them against the image tree root
// (Check). It returns their auditctl -l listing, or every problem found,
// as Errors read top to bottom per file: what osbuild audit check reports.
func CheckFiles(target string, root fs.FS, paths ...string) (string, error) {
	// The node loads them merged by augenrules from /etc/audit/rules.d.
	rules, files, err := Load(target, paths...)
	if err != nil {
		return "", err
	}
	var problems Errors
	collect := func(err error) error {
		var es Errors
		if errors.As(err, &es) {
			problems = append(problems, es...)
			return nil
		}
		return err
	}
	if err := collect(Validate(rules, target)); err != nil {
		return "", err
	}
	if root != nil {
		if err := collect(Check(rules, root)); err != nil {
			return "", err
		}
	}
	if len(problems) > 0 {
		// Validate's and Check's problems, read top to bottom per file.
		slices.SortStableFunc(problems, func(x, y *Error) int {
			if c := cmp.Compare(slices.Index(files, x.File), slices.Index(files, y.File)); c != 0 {
				return c
			}
			return cmp.Compare(x.Line, y.Line)
		})
		return "", problems
	}
	return List(rules, target)
}
