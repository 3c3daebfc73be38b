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
	if got, want := Names(), []string{"raw", "qcow2", "sysupdate"}; !slices.Equal(got, want) {
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
		{"sysupdate", "img-x86_64", true}, // several files, named by the writer
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
	dst := filepath.Join(dir, "a-x86_64.qcow2")
	var named []string
	create := func(final string) string { named = append(named, final); return filepath.Join(dir, final) }
	if err := q.Write(context.Background(), Build{Image: "a", Arch: "x86_64", Raw: raw}, create); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(named, []string{"a-x86_64.qcow2"}) {
		t.Errorf("qcow2 wrote %v", named)
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

// The payload's files carry the names the image's transfer definitions
// match, and the bytes of the parts they come from.
func TestPayloadWrite(t *testing.T) {
	dir := t.TempDir()
	part := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	b := Build{Image: "container-host", Arch: "x86_64", SystemdArch: "x86-64", Version: "7",
		USR: part("usr.img", "erofs"), USRVerity: part("verity.img", "tree"), UKI: part("bulwark.efi", "uki"),
		USRUUID: "ABABABAB-ABAB-4BAB-ABAB-ABABABABABAB", VerityUUID: "CDCDCDCD-CDCD-4DCD-CDCD-CDCDCDCDCDCD"}
	out := t.TempDir()
	o, _ := Lookup("sysupdate")
	if err := o.Write(context.Background(), b, func(final string) string { return filepath.Join(out, final) }); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"container-host_7_abababab-abab-4bab-abab-abababababab.usr-x86-64.raw":        "erofs",
		"container-host_7_cdcdcdcd-cdcd-4dcd-cdcd-cdcdcdcdcdcd.usr-x86-64-verity.raw": "tree",
		"container-host_7.x86-64.efi": "uki",
	} {
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}
