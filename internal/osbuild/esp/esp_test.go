package esp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBuildIsReproducibleAndLeavesTheEnvironment builds the same ESP at two
// wall-clock moments (it has nested directories, whose "." and ".."
// entries go-diskfs stamps from SOURCE_DATE_EPOCH) and checks the images
// are identical and the process's SOURCE_DATE_EPOCH is as it was.
func TestBuildIsReproducibleAndLeavesTheEnvironment(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	files := []File{{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("boot")}, {Path: "/EFI/Linux/a.efi", Data: []byte("uki")}}
	for _, tc := range []struct {
		name   string
		set    bool
		val    string
		builds int // two, 2 s apart, to compare; one is enough for the environment
	}{
		{"unset", false, "", 2},
		{"set by the caller", true, "42", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("SOURCE_DATE_EPOCH", tc.val)
			} else {
				t.Setenv("SOURCE_DATE_EPOCH", "")
				os.Unsetenv("SOURCE_DATE_EPOCH")
			}
			dir := t.TempDir()
			var images [][]byte
			for i := range tc.builds {
				if i > 0 {
					time.Sleep(2100 * time.Millisecond) // FAT times have 2 s steps
				}
				out := filepath.Join(dir, "esp.img")
				if err := Build(out, 64<<20, append([]File(nil), files...), epoch); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				images = append(images, b)
			}
			if len(images) == 2 && !bytes.Equal(images[0], images[1]) {
				t.Error("two builds of the same ESP 2 s apart differ")
			}
			got, had := os.LookupEnv("SOURCE_DATE_EPOCH")
			if had != tc.set || got != tc.val {
				t.Errorf("after Build SOURCE_DATE_EPOCH = %q (set: %t), want %q (set: %t)", got, had, tc.val, tc.set)
			}
		})
	}
}
