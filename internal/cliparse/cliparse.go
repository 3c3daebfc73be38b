// Package cliparse parses a command line whose flags may come before,
// between or after its positional arguments (osbuild labels IMAGE PATH
// --json), which the standard flag package alone does not: it stops at the
// first positional argument. The osbuild and nodecfg commands share it so
// that every subcommand reads its arguments the same way.
package cliparse

import "flag"

// Parse parses args with fs, flags anywhere, and returns the positional
// arguments in order. A "--" ends the flags before the argument that
// follows it only, as each remaining argument is parsed again.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos, args = append(pos, args[0]), args[1:]
		}
	}
	return pos, nil
}
