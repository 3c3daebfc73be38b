//go:build root

package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/osbuild"
)

// TestAssemblePlain makes the plain image's disk from a tiny fake rootfs
// (a "kernel", an "initrd", systemd-boot, one config file) with the tool
// root of the lock, and checks the partition table and the boot entry.
// It needs root (mkfs.ext4 -d keeps owners) and a cached tool root.
func TestAssemblePlain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	specPath, spec, lock := loadRepoSpec(t)
	repo := filepath.Dir(filepath.Dir(specPath))
	host, _ := arch.Host()
	cache := filepath.Join(repo, ".cache")
	if ok, err := osbuild.ToolRootCached(specPath, cache); err != nil || !ok {
		t.Skip("no cached tool root for the lock (make image builds one)")
	}
	o, err := parseFlags([]string{"-cache", cache, "-work", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{o: o, r: NewReport(time.Now()), w: io.Discard, spec: spec, lock: lock, caches: map[string]string{}}
	target, _ := arch.Lookup(host.Name)
	tmp := t.TempDir()
	rootfs := filepath.Join(tmp, "rootfs")
	writeTree(t, rootfs, map[string]string{
		"boot/vmlinuz-6.12.0-test": "kernel", "boot/initrd.img-6.12.0-test": "initrd",
		"usr/lib/systemd/boot/efi/" + target.SystemdBoot: "sd-boot", "etc/default/docker": "DOCKER_OPTS=\"-H tcp://0.0.0.0:2376\"\n",
	}, nil)
	dir := filepath.Join(tmp, "image")
	cmdline := strings.Join(spec.Kernel.Cmdline.For(target.Name), " ")
	if err := b.assemblePlain(context.Background(), target, rootfs, tmp, dir, []string{"systemd=1"}, cmdline); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "disk.raw")
	if !exists(filepath.Join(dir, ".complete")) {
		t.Error("no .complete marker")
	}
	out, err := exec.Command("sfdisk", "--json", raw).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string `json:"label"`
			Partitions []struct {
				Start, Size int64
				Type, UUID  string
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	l := plainLayout(target, "bench-plain/"+target.Name)
	if pt.PartitionTable.Label != "gpt" || len(pt.PartitionTable.Partitions) != 2 {
		t.Fatalf("partition table %s", out)
	}
	for i, p := range pt.PartitionTable.Partitions {
		if p.Start*512 != l.Parts[i].Start || !strings.EqualFold(p.Type, l.Parts[i].Type) || !strings.EqualFold(p.UUID, l.Parts[i].UUID) {
			t.Errorf("partition %d = %+v; want %+v", i+1, p, l.Parts[i])
		}
	}
	// The root partition holds an ext4 filesystem with the rootfs.
	root := l.Parts[1]
	img := filepath.Join(tmp, "root-check.img")
	if out, err := exec.Command("dd", "if="+raw, "of="+img, "bs=1M", "skip="+strconv.FormatInt(root.Start>>20, 10), "count="+strconv.FormatInt(root.Size>>20, 10), "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v %s", err, out)
	}
	got, err := exec.Command("debugfs", "-R", "cat /etc/default/docker", img).Output()
	if err != nil || !strings.Contains(string(got), "tcp://0.0.0.0:2376") {
		t.Errorf("/etc/default/docker on ROOT = %q, %v", got, err)
	}
}
