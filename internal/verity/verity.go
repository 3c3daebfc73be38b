// Package verity builds and checks dm-verity hash trees in the on-disk format
// of cryptsetup's veritysetup (superblock version 1, sha256, 4 KiB blocks).
//
// osbuild computes the tree itself rather than running `veritysetup format`
// because the salt and UUID must be derived from the spec for a reproducible
// image, and because `osbuild inspect` must check a tree offline without
// loop devices or root. The tests check our output with veritysetup.
package verity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// BlockSize is the data and hash block size.
const BlockSize = 4096

const (
	digestSize   = sha256.Size
	hashesPerBlk = BlockSize / digestSize // 128
	bitsPerLevel = 7                      // log2(hashesPerBlk)
	sbSize       = 512
)

var signature = [8]byte{'v', 'e', 'r', 'i', 't', 'y', 0, 0}

// Superblock is the verity header at the start of the hash device.
type Superblock struct {
	UUID       [16]byte
	DataBlocks uint64
	Salt       []byte
}

// Tree describes a formatted hash device.
type Tree struct {
	Superblock
	RootHash []byte
	HashSize int64 // bytes used on the hash device, superblock included
}

// levelSizes returns, from the top (one block) down to level 0, how many hash
// blocks each level holds, as cryptsetup lays them out.
func levelSizes(dataBlocks uint64) []uint64 {
	levels := 0
	for bitsPerLevel*levels < 64 && (dataBlocks-1)>>(bitsPerLevel*levels) != 0 {
		levels++
	}
	sizes := make([]uint64, levels)
	for i := levels - 1; i >= 0; i-- {
		shift := uint((i + 1) * bitsPerLevel)
		sizes[levels-1-i] = (dataBlocks + (1 << shift) - 1) >> shift
	}
	return sizes
}

func hashBlock(salt, block []byte) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(block)
	return h.Sum(nil)
}

// Format computes the hash tree of the first dataSize bytes of data (a
// multiple of BlockSize) and writes superblock and tree to hash. progress,
// if not nil, is called with the number of data bytes hashed so far.
func Format(data io.Reader, dataSize int64, hash io.Writer, salt []byte, uuid [16]byte, progress func(int64)) (*Tree, error) {
	if dataSize <= 0 || dataSize%BlockSize != 0 {
		return nil, fmt.Errorf("verity: data size %d is not a positive multiple of %d", dataSize, BlockSize)
	}
	if len(salt) > 256 {
		return nil, errors.New("verity: salt longer than 256 bytes")
	}
	nblocks := uint64(dataSize / BlockSize)
	// Level 0: one hash per data block.
	level := make([]byte, 0, nblocks*digestSize)
	buf := make([]byte, BlockSize)
	for i := uint64(0); i < nblocks; i++ {
		if _, err := io.ReadFull(data, buf); err != nil {
			return nil, fmt.Errorf("verity: reading data block %d: %w", i, err)
		}
		level = append(level, hashBlock(salt, buf)...)
		if progress != nil && i%4096 == 4095 {
			progress(int64(i+1) * BlockSize)
		}
	}
	if progress != nil {
		progress(dataSize)
	}
	var levels [][]byte // bottom first, each padded to whole hash blocks
	root := level
	if nblocks > 1 {
		for {
			padded := pad(level)
			levels = append(levels, padded)
			if len(padded) == BlockSize {
				root = hashBlock(salt, padded)
				break
			}
			next := make([]byte, 0, len(padded)/BlockSize*digestSize)
			for off := 0; off < len(padded); off += BlockSize {
				next = append(next, hashBlock(salt, padded[off:off+BlockSize])...)
			}
			level = next
		}
	}
	sb := Superblock{UUID: uuid, DataBlocks: nblocks, Salt: salt}
	if _, err := hash.Write(sb.marshal()); err != nil {
		return nil, fmt.Errorf("verity: writing superblock: %w", err)
	}
	size := int64(BlockSize)
	for i := len(levels) - 1; i >= 0; i-- {
		if _, err := hash.Write(levels[i]); err != nil {
			return nil, fmt.Errorf("verity: writing hash level %d: %w", i, err)
		}
		size += int64(len(levels[i]))
	}
	return &Tree{Superblock: sb, RootHash: root, HashSize: size}, nil
}

func pad(b []byte) []byte {
	if r := len(b) % BlockSize; r != 0 {
		b = append(b, make([]byte, BlockSize-r)...)
	}
	return b
}

func (sb Superblock) marshal() []byte {
	b := make([]byte, BlockSize) // the superblock occupies a whole hash block
	copy(b[0:8], signature[:])
	binary.LittleEndian.PutUint32(b[8:], 1)  // version
	binary.LittleEndian.PutUint32(b[12:], 1) // hash type: normal (salt first)
	copy(b[16:32], sb.UUID[:])
	copy(b[32:64], "sha256")
	binary.LittleEndian.PutUint32(b[64:], BlockSize)
	binary.LittleEndian.PutUint32(b[68:], BlockSize)
	binary.LittleEndian.PutUint64(b[72:], sb.DataBlocks)
	binary.LittleEndian.PutUint16(b[80:], uint16(len(sb.Salt)))
	copy(b[88:88+256], sb.Salt)
	return b
}

// ReadSuperblock parses the superblock at the start of a hash device.
func ReadSuperblock(hash io.ReaderAt) (*Superblock, error) {
	b := make([]byte, sbSize)
	if _, err := hash.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("verity: reading superblock: %w", err)
	}
	if !bytes.Equal(b[0:8], signature[:]) {
		return nil, errors.New("verity: no verity superblock (bad signature)")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 1 {
		return nil, fmt.Errorf("verity: unsupported superblock version %d", v)
	}
	if alg := string(bytes.TrimRight(b[32:64], "\x00")); alg != "sha256" {
		return nil, fmt.Errorf("verity: unsupported hash %q", alg)
	}
	if d, h := binary.LittleEndian.Uint32(b[64:]), binary.LittleEndian.Uint32(b[68:]); d != BlockSize || h != BlockSize {
		return nil, fmt.Errorf("verity: unsupported block sizes %d/%d", d, h)
	}
	sb := &Superblock{DataBlocks: binary.LittleEndian.Uint64(b[72:])}
	copy(sb.UUID[:], b[16:32])
	n := binary.LittleEndian.Uint16(b[80:])
	if n > 256 {
		return nil, fmt.Errorf("verity: salt size %d too large", n)
	}
	sb.Salt = append([]byte(nil), b[88:88+int(n)]...)
	return sb, nil
}

// Verify checks the data against the hash device and the expected root hash.
// It reports the first data block whose contents do not match.
func Verify(data io.Reader, hash io.ReaderAt, rootHash []byte) error {
	sb, err := ReadSuperblock(hash)
	if err != nil {
		return err
	}
	var tree bytes.Buffer
	var uuid [16]byte
	copy(uuid[:], sb.UUID[:])
	t, err := Format(data, int64(sb.DataBlocks)*BlockSize, &tree, sb.Salt, uuid, nil)
	if err != nil {
		return err
	}
	stored := make([]byte, t.HashSize)
	if _, err := hash.ReadAt(stored, 0); err != nil {
		return fmt.Errorf("verity: reading the stored hash tree: %w", err)
	}
	computed := tree.Bytes()
	if bytes.Equal(t.RootHash, rootHash) && bytes.Equal(stored, computed) {
		return nil
	}
	// Name the first data block whose hash differs from the stored tree, which
	// is what the kernel would refuse to read.
	sizes := levelSizes(sb.DataBlocks)
	l0 := int64(BlockSize)
	for _, s := range sizes[:max(len(sizes)-1, 0)] {
		l0 += int64(s) * BlockSize
	}
	for i := uint64(0); len(sizes) > 0 && i < sb.DataBlocks; i++ {
		o := l0 + int64(i)*digestSize
		if !bytes.Equal(computed[o:o+digestSize], stored[o:o+digestSize]) {
			return fmt.Errorf("verity: data block %d (offset %d) does not match its hash", i, i*BlockSize)
		}
	}
	if !bytes.Equal(stored, computed) {
		return errors.New("verity: the hash tree itself is damaged")
	}
	return fmt.Errorf("verity: root hash mismatch: data gives %x, expected %x", t.RootHash, rootHash)
}
