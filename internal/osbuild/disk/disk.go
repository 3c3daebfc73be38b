// Package disk assembles the final GPT disk image from the planned layout and
// the partition images built by earlier steps. The output is sparse: runs of
// zeros are skipped, so a 4 GiB image with 1 GiB of data takes 1 GiB.
package disk

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/sparse"
)

const sector = 512

// Write creates path holding the GPT of l and, for each label in contents,
// the bytes of that image file at the partition's offset.
func Write(path string, l *layout.Layout, contents map[string]string, progress func(label string, done, total int64)) error {
	for label, src := range contents {
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("partition %s: %w", label, err)
		}
		if p := l.Get(label); fi.Size() > p.Size {
			return fmt.Errorf("partition %s: content is %d bytes but the partition holds %d; raise its size in the spec's disk section", label, fi.Size(), p.Size)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating disk image: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(l.DiskSize); err != nil {
		return fmt.Errorf("sizing disk image: %w", err)
	}
	if err := Table(l).Write(f, l.DiskSize); err != nil {
		return fmt.Errorf("writing GPT: %w", err)
	}
	for _, p := range l.Parts {
		// By Name, the key l.Get matched above: a layout whose partitions
		// have labels but no roles (the bench's plain disk) must not pass
		// the size check and then be left empty.
		name := p.Name()
		src, ok := contents[name]
		if !ok {
			continue
		}
		if err := copySparse(f, p.Start, src, func(done, total int64) { progress(name, done, total) }); err != nil {
			return fmt.Errorf("writing partition %s: %w", name, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing disk image: %w", err)
	}
	return f.Close()
}

// Table converts a layout to a go-diskfs GPT table.
func Table(l *layout.Layout) *gpt.Table {
	t := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, GUID: l.DiskGUID}
	for _, p := range l.Parts {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Number, Start: uint64(p.Start / sector), End: uint64((p.Start+p.Size)/sector - 1),
			Size: uint64(p.Size), Type: gpt.Type(p.Type), Name: p.Label, GUID: p.UUID, Attributes: p.Attributes,
		})
	}
	return t
}

// copySparse writes src into dst at off, leaving dst's holes where src has
// holes or blocks of zeros: only src's data extents are read (sparse.Extents),
// and within them all-zero blocks are not written.
func copySparse(dst *os.File, off int64, src string, progress func(done, total int64)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	ext, size, err := sparse.Extents(in)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for _, e := range ext {
		for pos := e.Off; pos < e.Off+e.Len; {
			n, err := in.ReadAt(buf[:min(int64(len(buf)), e.Off+e.Len-pos)], pos)
			if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
				if _, werr := dst.WriteAt(buf[:n], off+pos); werr != nil {
					return werr
				}
			}
			pos += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			progress(pos, size)
		}
	}
	progress(size, size)
	return nil
}
