package labels

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bulwark/bulwark/internal/runlog"
	"github.com/bulwark/bulwark/internal/selinux"
)

// NoContext is what matchpathcon prints for a path that file_contexts
// deliberately leaves unlabelled (<<none>>), such as mount points whose
// filesystem brings its own labels.
const NoContext = "<<none>>"

// fileContextsFiles are the files libselinux reads for file_contexts FILE:
// FILE itself, then FILE.homedirs, FILE.local and the path substitutions.
// The compiled .bin variants are left behind: they are written by the
// image's newer libselinux, which the host's may not read, and without
// them libselinux compiles the text.
var fileContextsFiles = []string{"", ".homedirs", ".local", ".subs_dist", ".subs"}

// policyName is a name the image's /etc/selinux/config may give.
var policyName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// ParseConfig returns the policy name (SELINUXTYPE=) of an
// /etc/selinux/config, read as libselinux reads it: the last assignment
// wins, # starts a comment line, blanks around the value do not count.
func ParseConfig(b []byte) (string, error) {
	name := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if v, ok := strings.CutPrefix(line, "SELINUXTYPE="); ok {
			name = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("no SELINUXTYPE=")
	}
	if !policyName.MatchString(name) || name == "." || name == ".." {
		return "", fmt.Errorf("SELINUXTYPE=%q is not a policy name", name)
	}
	return name, nil
}

// copyFileContexts copies the image's file_contexts and its companions into
// dir and returns the path of the copy of file_contexts.
func copyFileContexts(img *View, dir string) (string, error) {
	cfg, err := img.ReadFile("/etc/selinux/config")
	if err != nil {
		return "", fmt.Errorf("reading the image's SELinux config: %w", err)
	}
	name, err := ParseConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("the image's /etc/selinux/config: %w", err)
	}
	src := selinux.FileContexts("/", name)
	dst := filepath.Join(dir, "file_contexts")
	for _, suffix := range fileContextsFiles {
		b, err := img.ReadFile(src + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading the image's file contexts: %w", err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o644); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// matchpathconType is matchpathcon's -m name for an SELinux file class; it
// reads only the first letters, so "fifo_file" would mean a regular file.
func matchpathconType(class string) string {
	if class == "fifo_file" {
		return "pipe"
	}
	return class
}

// policyContexts asks libselinux, through the host's matchpathcon, what
// file_contexts fc says each file's label should be. matchpathcon is told
// each file's class, as setfiles knew it when it labelled the tree, rather
// than lstat()ing a path of the host.
func policyContexts(ctx context.Context, fc string, files []*File) ([]string, error) {
	if _, err := exec.LookPath("matchpathcon"); err != nil {
		return nil, errors.New("matchpathcon not found (apt-get install selinux-utils)")
	}
	byClass := map[string][]int{}
	var classes []string
	for i, f := range files {
		c := f.Class()
		if byClass[c] == nil {
			classes = append(classes, c)
		}
		byClass[c] = append(byClass[c], i)
	}
	want := make([]string, len(files))
	for _, c := range classes {
		idx := byClass[c]
		args := []string{"-N", "-n", "-m", matchpathconType(c), "-f", fc}
		for _, i := range idx {
			args = append(args, files[i].Path)
		}
		out, err := runlog.Output(ctx, "matchpathcon", args...)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != len(idx) {
			return nil, fmt.Errorf("matchpathcon gave %d contexts for %d paths:\n%s", len(lines), len(idx), out)
		}
		for j, i := range idx {
			want[i] = strings.TrimSpace(lines[j])
		}
	}
	return want, nil
}
