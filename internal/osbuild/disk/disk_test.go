package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark/bulwark/internal/layout"
)

// TestWriteFindsPartitionsByName checks that each content lands at its
// partition's offset whether the partition is named by role (Bulwark's
// layouts) or only by label (the bench's plain disk, which once passed the
// size check and was then written empty).
func TestWriteFindsPartitionsByName(t *testing.T) {
	tests := []struct {
		name string
		part layout.Partition
		key  string
	}{
		{"role", layout.Partition{Number: 1, Role: "ESP", Label: "EFI-SYSTEM"}, "ESP"},
		{"label only", layout.Partition{Number: 1, Label: "ESP"}, "ESP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tt.part
			p.Type, p.UUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "F2F255A9-EDC1-4106-949B-2D8821124318"
			p.Start, p.Size = layout.Align, layout.Align
			l := &layout.Layout{DiskSize: 4 * layout.Align, DiskGUID: "A314AEBE-1090-47E2-A54C-257258FCE1FF", Parts: []layout.Partition{p}}
			want := bytes.Repeat([]byte("bulwark!"), 512)
			src := filepath.Join(dir, "part.img")
			if err := os.WriteFile(src, want, 0o644); err != nil {
				t.Fatal(err)
			}
			raw := filepath.Join(dir, "disk.raw")
			if err := Write(raw, l, map[string]string{tt.key: src}, func(string, int64, int64) {}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[p.Start:p.Start+int64(len(want))], want) {
				t.Errorf("partition %q at %d does not hold its content", tt.key, p.Start)
			}
		})
	}
}
