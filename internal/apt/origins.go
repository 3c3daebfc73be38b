package apt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Origin says where one package version comes from, as the suite's signed
// index states it: apt verified the index against the Release file's hash
// and the Release file against the archive keyring, so SHA256 is the hash
// the archive vouches for.
type Origin struct {
	Suite  string
	Path   string // the .deb's path under the suite's mirror (pool/...)
	Size   int64
	SHA256 string
}

// index is one downloaded Packages file and the suite it belongs to.
type index struct{ file, suite string }

// indexes lists the binary Packages indexes apt downloaded, with their
// suites, through apt's own view of them (`apt-get indextargets`), not by
// guessing from list file names.
func (r *Root) indexes(ctx context.Context) ([]index, error) {
	c := exec.CommandContext(ctx, "apt-get", "indextargets", "--format", "$(FILENAME)\t$(RELEASE)", "Identifier: Packages")
	c.Env = append(os.Environ(), "APT_CONFIG="+r.conf, "LC_ALL=C.UTF-8")
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("apt-get indextargets: %w", err)
	}
	var ix []index
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		file, suite, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("index of %s: %w (run Update first)", suite, err)
		}
		ix = append(ix, index{file, suite})
	}
	if len(ix) == 0 {
		return nil, errors.New("apt has no package indexes (run Update first)")
	}
	return ix, nil
}

// Origins finds, for each name → version in pkgs, the suite whose index
// has it, the .deb's path and its SHA256. When several suites carry the same
// version, the first in the Source's order wins, so the answer does not
// depend on the order apt lists its indexes. A version in no index is an
// error naming every such package.
func (r *Root) Origins(ctx context.Context, pkgs map[string]string) (map[string]Origin, error) {
	ix, err := r.indexes(ctx)
	if err != nil {
		return nil, err
	}
	rank := map[string]int{}
	for i, s := range r.src.Suites {
		rank[s.Name] = i
	}
	got := map[string]Origin{}
	for _, x := range ix {
		if err := scanIndex(x, pkgs, func(name string, o Origin) {
			if old, ok := got[name]; !ok || rank[o.Suite] < rank[old.Suite] {
				got[name] = o
			}
		}); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, p := range Pins(pkgs) {
		if name, _, _ := strings.Cut(p, "="); got[name].Path == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("not in any suite's index: %s", strings.Join(missing, ", "))
	}
	return got, nil
}

// scanIndex calls found for each paragraph of x whose package and version
// are wanted. Packages indexes are deb822 paragraphs; only single-line
// fields are read, so continuation lines are skipped. (pault.ag/go/debian's
// control reader would do, but it pulls in the deprecated x/crypto/openpgp
// for clearsigned files this never reads.)
func scanIndex(x index, want map[string]string, found func(string, Origin)) error {
	f, err := os.Open(x.file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	fields := map[string]string{}
	flush := func() error {
		defer clear(fields)
		name := fields["Package"]
		if v, ok := want[name]; !ok || v != fields["Version"] {
			return nil
		}
		size, err := strconv.ParseInt(fields["Size"], 10, 64)
		if err != nil || fields["Filename"] == "" || len(fields["SHA256"]) != 64 {
			return fmt.Errorf("%s: package %s: index entry lacks Filename, Size or SHA256", x.file, name)
		}
		found(name, Origin{Suite: x.suite, Path: fields["Filename"], Size: size, SHA256: fields["SHA256"]})
		return nil
	}
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			switch k {
			case "Package", "Version", "Filename", "Size", "SHA256":
				fields[k] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", x.file, err)
	}
	return flush()
}
