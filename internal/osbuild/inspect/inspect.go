// Package inspect reads a built disk image offline, with no loop devices or
// root: the GPT, the UKI's command line from the ESP, the /usr verity root
// hash, and it checks the USR-A data against the USR-A-VERITY tree and that
// the partition UUIDs agree with the hash, as the booting initrd will.
package inspect

import (
	"debug/pe"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/diskfs/go-diskfs/filesystem"

	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/osbuild/diskimage"
	"github.com/bulwark/bulwark/internal/verity"
)

// ErrInconsistent marks a readable image whose parts do not agree.
var ErrInconsistent = errors.New("image is inconsistent")

// Report is what Read finds: the disk's partitions and its boot entry.
type Report struct {
	Partitions []layout.Partition
	UKIs       []string // paths on the ESP
	Cmdline    string
	USRHash    string
}

// Read parses the image at path.
func Read(p string) (*Report, error) {
	d, err := diskimage.Open(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	img := &Report{Partitions: d.Partitions}
	if _, err := d.Partition(layout.ESP); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", p, ErrInconsistent, err)
	}
	fs, err := d.Filesystem(layout.ESP)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	entries, err := fs.ReadDir("EFI/Linux") // io/fs paths: no leading slash
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ESP has no /EFI/Linux: %v", p, ErrInconsistent, err)
	}
	for _, e := range entries {
		if strings.HasSuffix(strings.ToLower(e.Name()), ".efi") {
			img.UKIs = append(img.UKIs, path.Join("EFI/Linux", e.Name()))
		}
	}
	if len(img.UKIs) != 1 {
		return nil, fmt.Errorf("%s: %w: expected one UKI in /EFI/Linux, found %d", p, ErrInconsistent, len(img.UKIs))
	}
	if img.Cmdline, err = ukiCmdline(fs, img.UKIs[0]); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p, img.UKIs[0], err)
	}
	for _, arg := range strings.Fields(img.Cmdline) {
		if v, ok := strings.CutPrefix(arg, "usrhash="); ok {
			img.USRHash = v
		}
	}
	return img, nil
}

func ukiCmdline(fs filesystem.FileSystem, p string) (string, error) {
	f, err := fs.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return "", err
	}
	pf, err := pe.NewFile(strings.NewReader(string(data)))
	if err != nil {
		return "", fmt.Errorf("not a PE file: %w", err)
	}
	s := pf.Section(".cmdline")
	if s == nil {
		return "", errors.New("UKI has no .cmdline section")
	}
	b, err := s.Data()
	if err != nil {
		return "", err
	}
	if len(b) > int(s.VirtualSize) && s.VirtualSize > 0 {
		b = b[:s.VirtualSize]
	}
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00")), nil
}

func (img *Report) part(role string) *layout.Partition {
	for i := range img.Partitions {
		if img.Partitions[i].Role == role {
			return &img.Partitions[i]
		}
	}
	return nil
}

// Check verifies USR-A against its hash tree and the root hash from the UKI,
// and that the USR-A pair's UUIDs are the halves of that hash.
func (img *Report) Check(p string) error {
	root, err := hex.DecodeString(img.USRHash)
	if err != nil || len(root) != 32 {
		return fmt.Errorf("%w: UKI command line has no valid usrhash= (%q)", ErrInconsistent, img.USRHash)
	}
	data, hash := img.part(layout.USRA), img.part(layout.USRAVerity)
	if data == nil || hash == nil {
		return fmt.Errorf("%w: missing %s or %s", ErrInconsistent, layout.USRA, layout.USRAVerity)
	}
	var want layout.Layout
	want.Parts = []layout.Partition{{Label: layout.USRA}, {Label: layout.USRAVerity}}
	want.SetUSRHash(root)
	if data.UUID != want.Parts[0].UUID || hash.UUID != want.Parts[1].UUID {
		return fmt.Errorf("%w: USR-A/USR-A-VERITY UUIDs %s/%s are not the halves of the root hash (%s/%s)",
			ErrInconsistent, data.UUID, hash.UUID, want.Parts[0].UUID, want.Parts[1].UUID)
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	hashDev := io.NewSectionReader(f, hash.Start, hash.Size)
	if err := verity.Verify(io.NewSectionReader(f, data.Start, data.Size), hashDev, root); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInconsistent, layout.USRA, err)
	}
	return nil
}

// Run prints the image's description to w and, if check, verifies it.
func Run(w io.Writer, p string, check bool) error {
	img, err := Read(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n\n%-3s %-14s %-38s %-36s %12s %12s %s\n", p, "#", "label", "type", "uuid", "start", "size", "attrs")
	for _, part := range img.Partitions {
		fmt.Fprintf(w, "%-3d %-14s %-38s %-36s %12d %12d %#x\n", part.Number, part.Label, part.Type, part.UUID, part.Start, part.Size, part.Attributes)
	}
	fmt.Fprintf(w, "\nUKI:     %s\ncmdline: %s\nusrhash: %s\n", img.UKIs[0], img.Cmdline, img.USRHash)
	if !check {
		return nil
	}
	if err := img.Check(p); err != nil {
		return err
	}
	fmt.Fprintf(w, "verity:  USR-A matches USR-A-VERITY and the UKI's root hash\n")
	return nil
}
