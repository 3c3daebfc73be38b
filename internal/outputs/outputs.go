// Package outputs is the table of files a build can make of an image, which
// an image spec's outputs list picks from: imagespec validates the list
// against it and the build's outputs step runs each picked writer. A new
// output format (an update payload, another disk format) is one row here,
// not a name spelled in the spec checks and the build.
package outputs

import (
	"context"
	"fmt"
	"slices"

	"github.com/bulwark/bulwark/internal/runlog"
)

// Output is one kind of file a build writes.
type Output struct {
	Name string // as the spec's outputs list names it
	Ext  string // the file's extension: <image>-<arch><Ext>
	// Required outputs must be in every spec's list: the raw disk is the
	// one every other output is made from.
	Required bool
	// Write makes the output at dst from the raw disk image raw; nil when
	// an earlier build step writes the output itself (raw: the disk step).
	Write func(ctx context.Context, raw, dst string) error
}

// Raw is the GPT disk image the disk step writes.
var Raw = Output{Name: "raw", Ext: ".raw", Required: true}

var table = []Output{
	Raw,
	{Name: "qcow2", Ext: ".qcow2", Write: qcow2},
}

// File is the output's file name for the image name built for arch.
func (o Output) File(image, arch string) string { return image + "-" + arch + o.Ext }

// Lookup returns the output the spec names name.
func Lookup(name string) (Output, bool) {
	i := slices.IndexFunc(table, func(o Output) bool { return o.Name == name })
	if i < 0 {
		return Output{}, false
	}
	return table[i], true
}

// Names lists every output's name, in table order.
func Names() []string {
	names := make([]string, len(table))
	for i, o := range table {
		names[i] = o.Name
	}
	return names
}

// Required lists the outputs every spec must name.
func Required() []string {
	var names []string
	for _, o := range table {
		if o.Required {
			names = append(names, o.Name)
		}
	}
	return names
}

// qcow2 converts the raw disk with qemu-img: a smaller file for clouds and
// for the VM tests' copy-on-write overlays.
func qcow2(ctx context.Context, raw, dst string) error {
	if _, err := runlog.Output(ctx, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, dst); err != nil {
		return fmt.Errorf("converting to qcow2: %w", err)
	}
	return nil
}
