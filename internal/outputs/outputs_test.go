package outputs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	if got, want := Names(), []string{"raw", "qcow2"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got, want := Required(), []string{"raw"}; !slices.Equal(got, want) {
		t.Errorf("Required() = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name, file string
		writes     bool
	}{
		{"raw", "img-x86_64.raw", false},
		{"qcow2", "img-x86_64.qcow2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, ok := Lookup(tc.name)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", tc.name)
			}
			if got := o.File("img", "x86_64"); got != tc.file {
				t.Errorf("File = %s, want %s", got, tc.file)
			}
			if got := o.Write != nil; got != tc.writes {
				t.Errorf("has a writer: %t, want %t", got, tc.writes)
			}
		})
	}
	if _, ok := Lookup("vmdk"); ok {
		t.Error("Lookup(vmdk) found an output")
	}
}

// TestQcow2Write converts a small raw file and checks what qemu-img says
// the result is.
func TestQcow2Write(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") != "" {
			t.Fatal("qemu-img not found")
		}
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "a.raw")
	if err := os.WriteFile(raw, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	q, _ := Lookup("qcow2")
	dst := filepath.Join(dir, "a.qcow2")
	if err := q.Write(context.Background(), raw, dst); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", dst).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"format": "qcow2"`, `"virtual-size": 1048576`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("qemu-img info of the written output lacks %s:\n%s", want, out)
		}
	}
}
