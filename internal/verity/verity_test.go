package verity

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func randomData(t *testing.T, blocks int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, blocks*BlockSize)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestLevelSizes(t *testing.T) {
	for _, tc := range []struct {
		blocks uint64
		want   []uint64
	}{
		{1, []uint64{}},
		{2, []uint64{1}},
		{128, []uint64{1}},
		{129, []uint64{1, 2}},
		{300, []uint64{1, 3}},
		{128 * 128, []uint64{1, 128}},
		{128*128 + 1, []uint64{1, 2, 129}},
	} {
		t.Run(decimal(int(tc.blocks)), func(t *testing.T) {
			got := levelSizes(tc.blocks)
			if len(got) != len(tc.want) {
				t.Fatalf("levelSizes(%d) = %v, want %v", tc.blocks, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("levelSizes(%d) = %v, want %v", tc.blocks, got, tc.want)
				}
			}
		})
	}
}

func TestFormatVerify(t *testing.T) {
	for _, blocks := range []int{1, 2, 127, 128, 129, 300, 20000} {
		data := randomData(t, blocks, uint64(blocks))
		var hash bytes.Buffer
		tree, err := Format(bytes.NewReader(data), int64(len(data)), &hash, []byte("salt"), [16]byte{1}, nil)
		if err != nil {
			t.Fatalf("Format(%d blocks): %v", blocks, err)
		}
		if int64(hash.Len()) != tree.HashSize {
			t.Errorf("%d blocks: wrote %d bytes, reported %d", blocks, hash.Len(), tree.HashSize)
		}
		if err := Verify(bytes.NewReader(data), bytes.NewReader(hash.Bytes()), tree.RootHash); err != nil {
			t.Errorf("%d blocks: Verify of intact data: %v", blocks, err)
		}
		bad := bytes.Clone(data)
		bad[len(bad)-100] ^= 0xff
		err = Verify(bytes.NewReader(bad), bytes.NewReader(hash.Bytes()), tree.RootHash)
		if err == nil {
			t.Errorf("%d blocks: Verify accepted a flipped byte", blocks)
		} else if blocks > 1 && !strings.Contains(err.Error(), "data block "+itoa(blocks-1)) {
			t.Errorf("%d blocks: error %q does not name block %d", blocks, err, blocks-1)
		}
	}
}

func itoa(i int) string { return decimal(i) }

func decimal(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestReadSuperblockRejectsGarbage(t *testing.T) {
	if _, err := ReadSuperblock(bytes.NewReader(make([]byte, 4096))); err == nil {
		t.Fatal("ReadSuperblock accepted zeros")
	}
}

// TestAgainstVeritysetup checks our tree against cryptsetup's: veritysetup
// must accept our hash device with our root hash, and give the same root
// hash when it formats the same data with the same salt and UUID.
func TestAgainstVeritysetup(t *testing.T) {
	vs, err := exec.LookPath("veritysetup")
	if err != nil {
		if os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") != "" {
			t.Fatal("veritysetup not installed (apt-get install cryptsetup-bin)")
		}
		t.Skip("veritysetup not installed; `make test` installs it and requires this test")
	}
	dir := t.TempDir()
	for _, blocks := range []int{1, 129, 5000} {
		data := randomData(t, blocks, 7)
		dataPath := filepath.Join(dir, "data")
		os.WriteFile(dataPath, data, 0o644)
		var hash bytes.Buffer
		salt := []byte{0xde, 0xad, 0xbe, 0xef}
		uuid := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
		tree, err := Format(bytes.NewReader(data), int64(len(data)), &hash, salt, uuid, nil)
		if err != nil {
			t.Fatal(err)
		}
		ours := filepath.Join(dir, "ours")
		os.WriteFile(ours, hash.Bytes(), 0o644)
		root := hex.EncodeToString(tree.RootHash)
		if out, err := exec.Command(vs, "verify", dataPath, ours, root).CombinedOutput(); err != nil {
			t.Errorf("%d blocks: veritysetup verify rejected our tree: %v\n%s", blocks, err, out)
		}
		theirs := filepath.Join(dir, "theirs")
		out, err := exec.Command(vs, "format", "--salt="+hex.EncodeToString(salt), "--uuid=12345678-9abc-4def-8123-456789abcdef", dataPath, theirs).CombinedOutput()
		if err != nil {
			t.Fatalf("veritysetup format: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), root) {
			t.Errorf("%d blocks: veritysetup gives a different root hash than our %s:\n%s", blocks, root, out)
		}
		theirBytes, _ := os.ReadFile(theirs)
		if !bytes.Equal(theirBytes[:tree.HashSize], hash.Bytes()) {
			t.Errorf("%d blocks: hash device differs from veritysetup's", blocks)
		}
	}
}
