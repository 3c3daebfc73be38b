package labels

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	erofs "github.com/erofs/go-erofs"
)

// node is what a lookup needs of one file: its type, its symlink target and
// its SELinux label.
type node struct {
	mode   fs.FileMode
	target string // symlink target
	label  []byte // security.selinux as stored, nil when there is none
}

// tree is one filesystem of the image. Paths are slash-separated, relative
// to the filesystem's root ("" is the root) and have no symlink before
// their last element: the caller has resolved those.
type tree interface {
	lstat(rel string) (*node, error)
	readFile(rel string) ([]byte, error)
}

// ext4Tree reads the ROOT partition with go-diskfs, which reads xattrs
// from both the inode body and the xattr block.
type ext4Tree struct {
	fs *ext4.FileSystem
}

func openExt4(b backend.Storage, start, size int64) (*ext4Tree, error) {
	f, err := ext4.Read(b, size, start, 512)
	if err != nil {
		return nil, err
	}
	return &ext4Tree{fs: f}, nil
}

// ext4Name turns rel into a go-diskfs path. Its ReadDir and ReadFile take
// io/fs names (no leading slash, "." for the root); Stat and GetXattr take
// either, but only "/" for the root.
func ext4Name(rel string) string {
	if rel == "" {
		return "/"
	}
	return rel
}

func (t *ext4Tree) lstat(rel string) (*node, error) {
	// go-diskfs reports a missing file with an unwrapped error; look the
	// name up in its directory so that absence is fs.ErrNotExist and any
	// other failure stays what it is.
	if rel != "" {
		ents, err := t.fs.ReadDir(path.Dir(rel))
		if err != nil {
			return nil, err
		}
		found := false
		for _, e := range ents {
			if e.Name() == path.Base(rel) {
				found = true
				break
			}
		}
		if !found {
			return nil, fs.ErrNotExist
		}
	}
	fi, err := t.fs.Stat(ext4Name(rel))
	if err != nil {
		return nil, err
	}
	n := &node{mode: fi.Mode()}
	if n.mode&fs.ModeSymlink != 0 {
		if st, ok := fi.Sys().(*ext4.StatT); ok {
			n.target = st.LinkTarget
		}
		// A target of 60 bytes or more lives in a data block, where
		// go-diskfs leaves it; read it as the link's contents.
		if n.target == "" && fi.Size() > 0 {
			b, err := t.fs.ReadFile(rel)
			if err != nil {
				return nil, fmt.Errorf("reading symlink target: %w", err)
			}
			n.target = string(b)
		}
	}
	x, err := t.fs.GetXattr(ext4Name(rel))
	if err != nil {
		return nil, fmt.Errorf("reading xattrs: %w", err)
	}
	if v, ok := x[xattrName]; ok {
		n.label = v
	}
	return n, nil
}

func (t *ext4Tree) readFile(rel string) ([]byte, error) {
	return t.fs.ReadFile(rel)
}

// erofsTree reads the USR-A partition with go-erofs.
type erofsTree struct {
	fs fs.FS
}

// EROFS superblock fields (struct erofs_super_block in the kernel's
// fs/erofs/erofs_fs.h), as offsets into the image.
const (
	erofsSuperblock      = 1024
	erofsFeatureIncompat = erofsSuperblock + 80 // __le32 feature_incompat
	erofsComprAlgs       = erofsSuperblock + 84 // __le16 available_compr_algs
	erofsZeroPadding     = 0x1                  // EROFS_FEATURE_INCOMPAT_ZERO_PADDING
)

// metadataOnly hides compression from go-erofs, which refuses compressed
// images outright (v0.3.1). The labels need only metadata, which EROFS
// never compresses: inodes, inline xattrs, directories and symlink
// targets. Compressed data would read as garbage, so lstat and readFile
// refuse any inode whose data is compressed.
type metadataOnly struct {
	r io.ReaderAt
}

func (m metadataOnly) ReadAt(b []byte, off int64) (int, error) {
	n, err := m.r.ReadAt(b, off)
	// Byte by byte, so that a read starting or ending inside a field
	// is patched too. Both fields are little-endian: the zero-padding
	// bit is in feature_incompat's first byte.
	patch := func(at int64, f func(byte) byte) {
		if at >= off && at < off+int64(n) {
			b[at-off] = f(b[at-off])
		}
	}
	patch(erofsFeatureIncompat, func(v byte) byte { return v &^ erofsZeroPadding })
	patch(erofsComprAlgs, func(byte) byte { return 0 })
	patch(erofsComprAlgs+1, func(byte) byte { return 0 })
	return n, err
}

func openErofs(r io.ReaderAt) (*erofsTree, error) {
	f, err := erofs.Open(metadataOnly{r})
	if err != nil {
		return nil, err
	}
	return &erofsTree{fs: f}, nil
}

// EROFS data layouts whose data is compressed (EROFS_INODE_COMPRESSED_FULL
// and EROFS_INODE_COMPRESSED_COMPACT).
const (
	erofsCompressedFull    = 1
	erofsCompressedCompact = 3
)

func erofsName(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

func (t *erofsTree) lstat(rel string) (*node, error) {
	fi, err := fs.Lstat(t.fs, erofsName(rel))
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*erofs.Stat)
	if !ok {
		return nil, fmt.Errorf("go-erofs gave no stat for %s", rel)
	}
	// The Stat's mode, not FileInfo.Mode: go-erofs (v0.3.1) leaves the
	// raw S_ISUID/S_ISGID/S_ISVTX bits in the latter, where fs.FileMode
	// does not read them as set-id or sticky; its Stat converts them.
	n := &node{mode: st.Mode}
	if v, ok := st.Xattrs[xattrName]; ok {
		n.label = []byte(v)
	}
	if n.mode&fs.ModeSymlink != 0 {
		if compressed(st) {
			return nil, errors.New("symlink target is compressed; cannot read it without decompression")
		}
		if n.target, err = fs.ReadLink(t.fs, erofsName(rel)); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func compressed(st *erofs.Stat) bool {
	return st.InodeLayout == erofsCompressedFull || st.InodeLayout == erofsCompressedCompact
}

func (t *erofsTree) readFile(rel string) ([]byte, error) {
	fi, err := fs.Lstat(t.fs, erofsName(rel))
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*erofs.Stat); ok && compressed(st) {
		return nil, fmt.Errorf("/usr/%s is compressed; only uncompressed files can be read", rel)
	}
	return fs.ReadFile(t.fs, erofsName(rel))
}

// trimLabel turns a stored label into text: the kernel stores it with a
// trailing NUL.
func trimLabel(b []byte) string {
	return string(bytes.TrimRight(b, "\x00"))
}

// labelType returns the type field of an SELinux context
// (user:role:type:level, where level may itself hold colons), or "" when
// ctx has fewer than three fields.
func labelType(ctx string) string {
	f := strings.SplitN(ctx, ":", 4)
	if len(f) < 3 {
		return ""
	}
	return f[2]
}
