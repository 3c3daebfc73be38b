package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// accelKey is what a probe's answer depends on. The boot id changes with
// every host boot (a new kernel, module or nested-virtualization setting
// shows up only after one); the QEMU binary and the firmware change with
// their packages.
type accelKey struct {
	BootID   string `json:"bootID"`
	Arch     string `json:"arch"`
	QEMU     string `json:"qemu"`
	QEMUFile string `json:"qemuFile"` // size and mtime of the binary
	Firmware string `json:"firmware"` // path, size and mtime of the code image
}

// accelEntry is the cache file's content.
type accelEntry struct {
	Key    accelKey `json:"key"`
	KVM    bool     `json:"kvm"`
	Reason string   `json:"reason"`
	Probe  float64  `json:"probeSeconds"`
}

// cacheKey returns the key for arch's probe with bin, or a key with no boot
// id (never cached) when the host boot cannot be named.
func (p Prober) cacheKey(arch, bin string) accelKey {
	k := accelKey{Arch: arch, QEMU: bin, QEMUFile: fileStamp(bin), Firmware: p.Firmware.Code + " " + fileStamp(p.Firmware.Code)}
	if b, err := os.ReadFile(p.BootID); err == nil {
		k.BootID = strings.TrimSpace(string(b))
	}
	return k
}

func fileStamp(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d@%d", fi.Size(), fi.ModTime().UnixNano())
}

func (p Prober) cachePath(arch string) string {
	return filepath.Join(p.CacheDir, "kvm-probe-"+arch+".json")
}

// cached returns the stored answer if it was probed with key: the same host
// boot, QEMU and firmware.
func (p Prober) cached(key accelKey) (Decision, bool) {
	if key.BootID == "" {
		return Decision{}, false
	}
	b, err := os.ReadFile(p.cachePath(key.Arch))
	if err != nil {
		return Decision{}, false
	}
	var e accelEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key {
		return Decision{}, false
	}
	return Decision{KVM: e.KVM, Reason: e.Reason, Cached: true, Probe: time.Duration(e.Probe * float64(time.Second))}, true
}

// store writes the answer atomically (a temp file renamed), so concurrent
// callers read the old answer or the new one, never half of one.
func (p Prober) store(key accelKey, d Decision) error {
	if key.BootID == "" {
		return nil
	}
	b, err := json.MarshalIndent(accelEntry{Key: key, KVM: d.KVM, Reason: d.Reason, Probe: d.Probe.Seconds()}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.CacheDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(p.CacheDir, ".kvm-probe-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p.cachePath(key.Arch)); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
