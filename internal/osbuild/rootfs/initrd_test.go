package rootfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeChroot puts a chroot on PATH that prints its arguments, one per line,
// and exits with $FAKE_VERIFY_RC when asked to --verify.
func fakeChroot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a do printf '%s\\n' \"$a\"; done\ncase \"$3\" in --verify) exit ${FAKE_VERIFY_RC:-0} ;; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "chroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runScript(t *testing.T, text string, env []string, args ...string) (string, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "helper")
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", append([]string{p}, args...)...)
	cmd.Env = append([]string{"PATH=" + fakeChroot(t) + ":/usr/bin:/bin"}, env...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestLddScript checks the DRACUT_LDD helper: it lists a dynamic file with
// the image's loader run in the image, on the path inside the image, and
// answers glibc ldd's "not a dynamic executable" (exit 1, which
// dracut-install takes as "no libraries") for anything the loader does not
// verify, instead of the loader's own error line, whose path
// dracut-install would try to install.
func TestLddScript(t *testing.T) {
	tests := []struct {
		name     string
		verifyRC string
		want     string
		code     int
	}{
		{"dynamic", "0", "/sysroot\n/lib/ld-linux-aarch64.so.1\n--list\n/usr/bin/udevadm\n", 0},
		{"dynamic, other interpreter", "2", "/sysroot\n/lib/ld-linux-aarch64.so.1\n--list\n/usr/bin/udevadm\n", 0},
		{"static or not ELF", "1", "\tnot a dynamic executable\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The --verify call's output goes to /dev/null: what is left is
			// the listing call, or ldd's message.
			got, code := runScript(t, lddScript("/sysroot", "/lib/ld-linux-aarch64.so.1"), []string{"FAKE_VERIFY_RC=" + tt.verifyRC}, "/sysroot/usr/bin/udevadm")
			if got != tt.want || code != tt.code {
				t.Errorf("got %q exit %d, want %q exit %d", got, code, tt.want, tt.code)
			}
		})
	}
}

// TestLdconfigScript checks the DRACUT_LDCONFIG helper: it runs the
// image's ldconfig in the image, with -r made relative to it, and passes
// every other argument through.
func TestLdconfigScript(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"initrd cache", []string{"-r", "/sysroot/var/tmp/dracut.x/initramfs", "-f", "/etc/ld.so.conf"}, []string{"-r", "/var/tmp/dracut.x/initramfs", "-f", "/etc/ld.so.conf"}},
		{"the sysroot's paths", []string{"-r", "/sysroot", "-f", "/etc/ld.so.conf", "-pN"}, []string{"-r", "/", "-f", "/etc/ld.so.conf", "-pN"}},
		{"argument with a space", []string{"-C", "/tmp/a b"}, []string{"-C", "/tmp/a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code := runScript(t, ldconfigScript("/sysroot"), nil, tt.args...)
			want := strings.Join(append([]string{"/sysroot", "/sbin/ldconfig"}, tt.want...), "\n") + "\n"
			if got != want || code != 0 {
				t.Errorf("got %q exit %d, want %q", got, code, want)
			}
		})
	}
}
