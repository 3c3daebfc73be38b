// Package outputs is the table of files a build can make of an image, which
// an image spec's outputs list picks from: imagespec validates the list
// against it and the build's outputs step runs each picked writer. A new
// output format (an update payload, another disk format) is one row here,
// not a name spelled in the spec checks and the build.
package outputs

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bulwark/bulwark/internal/runlog"
	"github.com/bulwark/bulwark/internal/sysupdate"
)

// Output is one kind of file a build writes.
type Output struct {
	Name string // as the spec's outputs list names it
	Ext  string // the file's extension: <image>-<arch><Ext>; "" for several files
	// Required outputs must be in every spec's list: the raw disk is the
	// one every other output is made from.
	Required bool
	// Write makes the output from the build's parts; create takes each
	// file's final name (in the output directory) and returns where to
	// write it until the build commits. nil when an earlier build step
	// writes the output itself (raw: the disk step).
	Write func(ctx context.Context, b Build, create func(final string) string) error
}

// Build is what a build hands the writers: the finished raw disk and the
// parts it was assembled from.
type Build struct {
	Image, Arch string // the spec's name and the arch (x86_64)
	// SystemdArch is systemd's name for the arch (x86-64), as update
	// payload names spell it.
	SystemdArch string
	Version     string
	Raw         string // the raw disk image
	// USR and USRVerity are the /usr filesystem and its hash tree as
	// written into USR-A and USR-A-VERITY, with those partitions' UUIDs
	// (the halves of the root hash); UKI is the UKI as on the ESP.
	USR, USRVerity, UKI string
	USRUUID, VerityUUID string
}

// Raw is the GPT disk image the disk step writes.
var Raw = Output{Name: "raw", Ext: ".raw", Required: true}

var table = []Output{
	Raw,
	{Name: "qcow2", Ext: ".qcow2", Write: qcow2},
	{Name: "sysupdate", Write: payload},
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
func qcow2(ctx context.Context, b Build, create func(string) string) error {
	dst := create(Output{Ext: ".qcow2"}.File(b.Image, b.Arch))
	if _, err := runlog.Output(ctx, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", b.Raw, dst); err != nil {
		return fmt.Errorf("converting to qcow2: %w", err)
	}
	return nil
}

// payload writes the update payload systemd-sysupdate reads, named as the
// image's transfer definitions match them (package sysupdate): the /usr
// filesystem, its hash tree and the UKI. They join the other outputs in
// SHA256SUMS (signed with --sign-key), the manifest sysupdate fetches, so
// serving the output directory over HTTP serves the update.
func payload(_ context.Context, b Build, create func(string) string) error {
	img := sysupdate.Image{Name: b.Image, Arch: b.SystemdArch, Version: b.Version}
	for src, final := range map[string]string{
		b.USR:       img.USRFile(b.USRUUID),
		b.USRVerity: img.VerityFile(b.VerityUUID),
		b.UKI:       img.UKIFile(),
	} {
		if err := copyFile(src, create(final)); err != nil {
			return fmt.Errorf("update payload %s: %w", final, err)
		}
	}
	return nil
}

// copyFile copies src to dst (a new file), sparse holes read as zeros.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
