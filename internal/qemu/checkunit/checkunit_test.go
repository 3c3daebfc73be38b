package checkunit

import (
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/qemu"
)

func TestDeviceUnit(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/dev/virtio-ports/org.bulwark.report", `dev-virtio\x2dports-org.bulwark.report.device`},
		{"/dev/ttyS0", "dev-ttyS0.device"},
		{"/dev/disk/by-id/virtio-bulwark-check", `dev-disk-by\x2did-virtio\x2dbulwark\x2dcheck.device`},
	} {
		if got := deviceUnit(tc.path); got != tc.want {
			t.Errorf("deviceUnit(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// The check unit writes to the report port and waits for its device: a
// unit on the serial console lost its markers to getty's vhangup.
func TestCheckUnitOnReportPort(t *testing.T) {
	creds := Credentials([]string{"-test.run", "X"})
	unit := string(creds[0].Value)
	for _, want := range []string{
		"\nStandardOutput=file:/dev/virtio-ports/" + qemu.ReportPort + "\n",
		"\nRequires=" + deviceUnit("/dev/virtio-ports/"+qemu.ReportPort) + "\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("check unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	if strings.Contains(unit, "tty") {
		t.Errorf("check unit still uses a tty:\n%s", unit)
	}
}

func TestUnitQuote(t *testing.T) {
	got := UnitQuote("echo \"$x\" 50%\nnext")
	want := `"echo \"$$x\" 50%%; next"`
	if got != want {
		t.Errorf("UnitQuote = %s, want %s", got, want)
	}
}
