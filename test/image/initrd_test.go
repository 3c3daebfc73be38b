//go:build image

package image_test

import (
	"context"
	"debug/pe"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/imagespec"
	"github.com/bulwark/bulwark/internal/osbuild/toolroot"
	"github.com/bulwark/bulwark/internal/runlog"
)

// TestInitrd reads the initrd out of the image's UKI and checks it holds
// what the boot needs from it, with dracut's lsinitrd from the tool root.
// The initrd is built from outside the image (dracut --sysroot), where
// dracut 106 looks at some host paths instead of the image's; these are the
// files that went missing before the build bound the image's paths in: the
// dm module's pre-udev hook (modinfo), the multiarch ld.so.conf.d file
// (inst_simple) and a loader cache that lists the image's libc (the build
// host's ldconfig wrote an empty one).
func TestInitrd(t *testing.T) {
	img, a := load(t)
	spec, err := imagespec.Load(*specPath)
	if err != nil {
		t.Fatal(err)
	}
	tools := toolRoot(t)
	ukis, _ := filepath.Glob(filepath.Join(filepath.Dir(*imagePath), "*."+a.Systemd+".efi"))
	if len(ukis) != 1 {
		t.Fatalf("want the build's one %s UKI next to %s, found %v", a.Systemd, *imagePath, ukis)
	}
	f, err := pe.Open(ukis[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".initrd")
	if s == nil {
		t.Fatalf("%s has no .initrd section", ukis[0])
	}
	data, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	if s.VirtualSize > 0 && int(s.VirtualSize) < len(data) {
		data = data[:s.VirtualSize]
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(initrd, data, 0o644); err != nil {
		t.Fatal(err)
	}
	lsinitrd := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		c := toolroot.Command(tools, []toolroot.Bind{{Src: dir, Dst: dir}}, append([]string{"lsinitrd"}, args...)...)
		c.OnLine = func(l string) { out.WriteString(l + "\n") }
		if err := runlog.Run(context.Background(), c); err != nil {
			t.Fatalf("lsinitrd %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	have := map[string]bool{}
	for _, l := range strings.Split(lsinitrd(initrd), "\n") {
		// ls -l lines: the path is the 9th field; a symlink's target follows "->".
		fields := strings.Fields(l)
		if len(fields) >= 9 && (strings.HasPrefix(fields[0], "-") || strings.HasPrefix(fields[0], "l") || strings.HasPrefix(fields[0], "d")) {
			have[fields[8]] = true
		}
	}
	if len(have) < 100 {
		t.Fatalf("lsinitrd listed %d paths; is it an initrd?", len(have))
	}
	triplet := a.Name + "-linux-gnu"
	for _, p := range []string{
		"etc/ld.so.conf.d/" + triplet + ".conf",
		"var/lib/dracut/hooks/pre-udev/30-dm-pre-udev.sh",
		"usr/lib/systemd/systemd-veritysetup",
		"usr/lib/systemd/system-generators/systemd-veritysetup-generator",
		"usr/sbin/dmsetup",
	} {
		if !have[p] {
			t.Errorf("initrd has no %s", p)
		}
	}
	if c := lsinitrd("-f", "etc/ld.so.cache", initrd); !strings.Contains(c, triplet+"/libc.so.6") {
		t.Errorf("the initrd's ld.so.cache does not list %s/libc.so.6 (%d bytes)", triplet, len(c))
	}
	// Each driver the spec asks for is in the initrd, as a module or built
	// into the kernel.
	builtin := lsinitrd("-f", "usr/lib/modules/"+img.Kernel+"/modules.builtin", initrd)
	mods := map[string]bool{}
	for p := range have {
		if i := strings.Index(p, ".ko"); i > 0 && strings.HasPrefix(p, "usr/lib/modules/") {
			mods[strings.ReplaceAll(filepath.Base(p[:i]), "-", "_")] = true
		}
	}
	for _, l := range strings.Split(builtin, "\n") {
		if i := strings.Index(l, ".ko"); i > 0 {
			mods[strings.ReplaceAll(filepath.Base(l[:i]), "-", "_")] = true
		}
	}
	for _, d := range spec.Kernel.InitrdDrivers {
		if !mods[strings.ReplaceAll(d, "-", "_")] {
			t.Errorf("initrd has no kernel module %s (nor is it built in)", d)
		}
	}
	t.Logf("%s: initrd %d bytes, %d paths, %d modules or built-ins", filepath.Base(ukis[0]), len(data), len(have), len(mods))
}
