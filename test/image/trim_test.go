//go:build image

package image_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/bulwark/bulwark/internal/osbuild/labels"
	"github.com/bulwark/bulwark/internal/setid"
)

// TestTrimmed reads the built image offline: the package manager is not
// in it, the programs Debian installs set-id are there without the bits,
// and the kept ones have theirs (the booted node is walked whole by the
// boot test's guest checks).
func TestTrimmed(t *testing.T) {
	load(t)
	img, err := labels.Open(*imagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, p := range []string{"/usr/bin/apt-get", "/usr/bin/apt", "/usr/bin/dpkg", "/usr/bin/dpkg-query", "/usr/lib/apt",
		"/var/lib/dpkg", "/var/lib/apt", "/etc/apt", "/etc/dpkg", "/var/cache/apt"} {
		if f, err := img.Lookup(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v (%v), want it absent", p, f, err)
		}
	}
	for _, p := range []string{"/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount", "/usr/bin/fusermount3", "/usr/lib/openssh/ssh-keysign", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"} {
		f, err := img.Lookup(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if b := setid.Bits(f.Mode); b != 0 {
			t.Errorf("%s: mode %v, want no set-id bits", p, f.Mode)
		}
	}
	for _, k := range setid.Keep {
		f, err := img.Lookup(k.Path)
		if err != nil {
			t.Errorf("%s: %v", k.Path, err)
			continue
		}
		if setid.Bits(f.Mode) != k.Bits {
			t.Errorf("%s: mode %v, want set-id bits %v", k.Path, f.Mode, k.Bits)
		}
	}
}
