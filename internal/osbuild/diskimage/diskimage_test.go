package diskimage

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bulwark/bulwark/internal/layout"
)

const mib = 1 << 20

// makeDisk writes a 4 MiB GPT disk with two partitions and a marker at the
// start of the second, as go-diskfs writes them (the build uses it too).
func makeDisk(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	d, err := diskfs.Create(p, 4*mib, diskfs.SectorSize512)
	if err != nil {
		t.Fatal(err)
	}
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, Partitions: []*gpt.Partition{
		{Index: 1, Start: 1 * mib / 512, End: 2*mib/512 - 1, Size: 1 * mib, Type: gpt.EFISystemPartition, Name: layout.ESP},
		{Index: 2, Start: 2 * mib / 512, End: 3*mib/512 - 1, Size: 1 * mib, Type: gpt.LinuxFilesystem, Name: layout.Root},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	d.Close()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("ROOT-MARKER"), 2*mib); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpen(t *testing.T) {
	d, err := Open(makeDisk(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Partitions) != 2 {
		t.Fatalf("got %d partitions, want 2: %+v", len(d.Partitions), d.Partitions)
	}
	for _, tc := range []struct {
		label       string
		number      int
		start, size int64
	}{
		{layout.ESP, 1, 1 * mib, 1 * mib},
		{layout.Root, 2, 2 * mib, 1 * mib},
	} {
		t.Run(tc.label, func(t *testing.T) {
			p, err := d.Partition(tc.label)
			if err != nil {
				t.Fatal(err)
			}
			if p.Number != tc.number || p.Start != tc.start || p.Size != tc.size {
				t.Errorf("got #%d at %d size %d, want #%d at %d size %d", p.Number, p.Start, p.Size, tc.number, tc.start, tc.size)
			}
		})
	}
	s, err := d.Section(layout.Root)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, len("ROOT-MARKER"))
	if _, err := io.ReadFull(s, head); err != nil || !bytes.Equal(head, []byte("ROOT-MARKER")) {
		t.Errorf("Section(ROOT) starts with %q (%v), want ROOT-MARKER", head, err)
	}
	if _, err := d.Partition(layout.USRA); err == nil || !strings.Contains(err.Error(), "no USR-A partition") {
		t.Errorf("Partition(USR-A) on a disk without one: %v, want an error naming it", err)
	}
}

func TestOpenRefusesNonGPT(t *testing.T) {
	p := filepath.Join(t.TempDir(), "blank.raw")
	if err := os.WriteFile(p, make([]byte, mib), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Open of a blank file: %v, want an error naming %s", err, p)
	}
}
