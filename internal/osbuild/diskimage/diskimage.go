// Package diskimage opens a built disk image offline, read-only, with no
// loop device or root: its GPT and the partitions it names. It is the one
// place that reads a disk image's partition table; inspect (partitions,
// UKI, verity) and labels (SELinux labels of files) read their parts
// through it. The partition table, not manifest.json, says where things
// are: a reader may have only the .raw, and a manifest beside it may
// describe a newer build.
package diskimage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bulwark/bulwark/internal/layout"
)

// Disk is an opened image.
type Disk struct {
	Path string
	// Partitions are the GPT's used entries, in table order, with their
	// numbers (1-based) and byte offsets.
	Partitions []layout.Partition
	f          *os.File
	storage    backend.Storage
	d          *disk.Disk
}

// Open opens the raw disk image at p and reads its GPT.
func Open(p string) (*Disk, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	d, err := open(p, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return d, nil
}

func open(p string, f *os.File) (*Disk, error) {
	storage := file.New(f, true)
	d, err := diskfs.OpenBackend(storage, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, err
	}
	pt, err := d.GetPartitionTable()
	if err != nil {
		return nil, fmt.Errorf("reading partition table: %w", err)
	}
	t, ok := pt.(*gpt.Table)
	if !ok {
		return nil, errors.New("not a GPT disk")
	}
	img := &Disk{Path: p, f: f, storage: storage, d: d}
	for i, part := range t.Partitions {
		if part.Type == gpt.Unused {
			continue
		}
		img.Partitions = append(img.Partitions, layout.Partition{Number: i + 1, Label: part.Name, Type: strings.ToUpper(string(part.Type)),
			UUID: strings.ToUpper(part.GUID), Start: int64(part.Start) * 512, Size: int64(part.End-part.Start+1) * 512, Attributes: part.Attributes})
	}
	layout.AssignRoles(img.Partitions)
	return img, nil
}

// Close releases the image file.
func (img *Disk) Close() error { return img.f.Close() }

// Partition returns the partition with role (layout.RoleOf), or an error
// naming it.
func (img *Disk) Partition(role string) (*layout.Partition, error) {
	for i := range img.Partitions {
		if img.Partitions[i].Role == role {
			return &img.Partitions[i], nil
		}
	}
	return nil, fmt.Errorf("no %s partition", role)
}

// Section reads the partition with role.
func (img *Disk) Section(role string) (*io.SectionReader, error) {
	p, err := img.Partition(role)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(img.f, p.Start, p.Size), nil
}

// Storage is the image as go-diskfs reads it, for filesystem readers that
// take an offset into it (ext4.Read).
func (img *Disk) Storage() backend.Storage { return img.storage }

// Filesystem opens the filesystem of the partition labelled label with
// go-diskfs (FAT for the ESP).
func (img *Disk) Filesystem(label string) (filesystem.FileSystem, error) {
	p, err := img.Partition(label)
	if err != nil {
		return nil, err
	}
	fs, err := img.d.GetFilesystem(p.Number)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", label, err)
	}
	return fs, nil
}
