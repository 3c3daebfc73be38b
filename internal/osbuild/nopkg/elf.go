package nopkg

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// object is what the dynamic loader knows of one ELF file of the tree.
type object struct {
	soname string
	// needed are the sonames it loads: DT_NEEDED, and the libraries it
	// declares it may dlopen (systemd's ELF .note.dlopen), which a package
	// graph alone does not show.
	needed []string
}

// scanELF reads every dynamic ELF file under root (executables and shared
// objects; kernel modules and other relocatable files load no libraries),
// keyed by its path on the node.
func scanELF(root string) (map[string]object, error) {
	out := map[string]object{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		node := "/" + rel
		o, ok, err := readELF(p)
		if err != nil {
			return fmt.Errorf("reading ELF %s: %w", node, err)
		}
		if ok {
			out[node] = o
		}
		return nil
	})
	return out, err
}

var elfMagic = []byte(elf.ELFMAG)

// readELF reads one file; ok is false when it is not a dynamic ELF file.
func readELF(path string) (object, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return object{}, false, err
	}
	defer f.Close()
	magic := make([]byte, len(elfMagic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, elfMagic) {
		return object{}, false, nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return object{}, false, err
	}
	if (ef.Type != elf.ET_DYN && ef.Type != elf.ET_EXEC) || ef.Section(".dynamic") == nil {
		return object{}, false, nil // relocatable, core, or statically linked
	}
	var o object
	needed, err := ef.DynString(elf.DT_NEEDED)
	if err != nil {
		return object{}, false, err
	}
	so, err := ef.DynString(elf.DT_SONAME)
	if err != nil {
		return object{}, false, err
	}
	if len(so) > 0 {
		o.soname = so[0]
	}
	dl, err := dlopenNote(ef)
	if err != nil {
		return object{}, false, err
	}
	o.needed = append(needed, dl...)
	return o, true, nil
}

// noteDlopen is the type of an FDO dlopen note
// (https://systemd.io/ELF_DLOPEN_METADATA/).
const noteDlopen = 0x407c0c0a

// dlopenNote returns the sonames the file's .note.dlopen sections say it
// may dlopen: notes of owner "FDO" whose descriptor is a JSON array of
// objects with a "soname" list (each entry's alternatives all count).
func dlopenNote(ef *elf.File) ([]string, error) {
	var out []string
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE || s.Name != ".note.dlopen" {
			continue
		}
		data, err := s.Data()
		if err != nil {
			return nil, err
		}
		for len(data) >= 12 {
			bo := ef.ByteOrder
			namesz, descsz, typ := bo.Uint32(data), bo.Uint32(data[4:]), bo.Uint32(data[8:])
			data = data[12:]
			nameEnd, descEnd := align4(namesz), align4(namesz)+align4(descsz)
			if uint64(len(data)) < uint64(descEnd) {
				return nil, errors.New(".note.dlopen: truncated note")
			}
			name := string(bytes.TrimRight(data[:namesz], "\x00"))
			desc := bytes.TrimRight(data[nameEnd:nameEnd+descsz], "\x00")
			data = data[descEnd:]
			if name != "FDO" || typ != noteDlopen {
				continue
			}
			var entries []struct {
				Soname []string `json:"soname"`
			}
			if err := json.Unmarshal(desc, &entries); err != nil {
				return nil, fmt.Errorf(".note.dlopen: %w", err)
			}
			for _, e := range entries {
				out = append(out, e.Soname...)
			}
		}
	}
	return out, nil
}

func align4(n uint32) uint32 { return (n + 3) &^ 3 }
