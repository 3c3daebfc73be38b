//go:build guest

package guest

import (
	"os"
	"strings"
	"testing"
)

// efiGlobal is the vendor GUID of the UEFI global variables.
const efiGlobal = "8be4df61-93ca-11d2-aa0d-00e098032b8c"

// efiVar reads a one-byte UEFI variable through efivarfs: four bytes of
// attributes, then the value.
func efiVar(t *testing.T, name string) byte {
	t.Helper()
	b, err := os.ReadFile("/sys/firmware/efi/efivars/" + name + "-" + efiGlobal)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 5 {
		t.Fatalf("%s: %d bytes, want 4 of attributes and 1 of value", name, len(b))
	}
	return b[4]
}

// TestSecureBoot: the firmware booted this node with Secure Boot enforcing
// (SecureBoot=1) and keys enrolled (SetupMode=0), and the kernel knows it
// (it locks itself down under Secure Boot).
func TestSecureBoot(t *testing.T) {
	if v := efiVar(t, "SecureBoot"); v != 1 {
		t.Errorf("SecureBoot = %d, want 1", v)
	}
	if v := efiVar(t, "SetupMode"); v != 0 {
		t.Errorf("SetupMode = %d, want 0 (keys enrolled)", v)
	}
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "[integrity]") && !strings.Contains(string(b), "[confidentiality]") {
		t.Errorf("kernel lockdown %q: the kernel did not see Secure Boot", strings.TrimSpace(string(b)))
	}
	t.Logf("SecureBoot=1 SetupMode=0, lockdown %s", strings.TrimSpace(string(b)))
}
