package sparse

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// sparseFile writes data at the given offsets of a file of size bytes,
// leaving holes between them.
func sparseFile(t *testing.T, size int64, at map[int64][]byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range at {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func plainSum(t *testing.T, f *os.File) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<40)); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func TestHashMatchesPlainRead(t *testing.T) {
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	for _, tc := range []struct {
		name string
		size int64
		at   map[int64][]byte
	}{
		{"empty", 0, nil},
		{"all hole", 8 << 20, nil},
		{"data only", int64(len(data)), map[int64][]byte{0: data}},
		{"hole, data, hole", 16 << 20, map[int64][]byte{5 << 20: data}},
		{"data at both ends", 9<<20 + 3, map[int64][]byte{0: data[:10], 9<<20 + 3 - 100: data[:100]}},
		{"several extents, unaligned", 20 << 20, map[int64][]byte{4097: data, 3<<20 + 1: data[:5], 12 << 20: data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sparseFile(t, tc.size, tc.at)
			h := sha256.New()
			if err := Hash(h, f); err != nil {
				t.Fatal(err)
			}
			var got [32]byte
			copy(got[:], h.Sum(nil))
			if want := plainSum(t, f); got != want {
				t.Errorf("Hash = %x, plain read = %x", got, want)
			}
		})
	}
}

// A file with holes lists fewer bytes of extents than its size (on the
// filesystems that report holes; tmpfs and ext4 do), and every data byte
// lies inside an extent.
func TestExtentsCoverData(t *testing.T) {
	f := sparseFile(t, 64<<20, map[int64][]byte{1 << 20: []byte("a"), 40 << 20: []byte("b")})
	ext, size, err := Extents(f)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	covered := func(off int64) bool {
		for _, e := range ext {
			if off >= e.Off && off < e.Off+e.Len {
				return true
			}
		}
		return false
	}
	for _, e := range ext {
		total += e.Len
	}
	if !covered(1<<20) || !covered(40<<20) {
		t.Errorf("extents %v miss a data byte", ext)
	}
	if size != 64<<20 {
		t.Errorf("size %d, want %d", size, 64<<20)
	}
	if len(ext) > 1 && total >= 64<<20 {
		t.Errorf("extents %v cover the whole file", ext)
	}
	t.Logf("extents: %v (%d of %d bytes)", ext, total, 64<<20)
}
