package apply

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_3/types"
	"github.com/vincent-petithory/dataurl"
)

// Limits on what one config may carry. A Bulwark node's config holds a
// host name, a daemon.json, three PEM files, a policy and a few units: a
// few kilobytes. First boot runs before anything else, on a node that may
// have 1 GiB of memory, and holds every file's contents in memory from
// parsing until they are staged, so the limits bound that memory (a 680 KB
// gzip bomb expanded to 512 MiB and took 1.27 GB before them) while leaving
// room for any file a first-boot config plausibly carries, such as a static
// binary or a CA bundle.
const (
	// MaxConfigSize bounds the config as read, before parsing: Ignition's
	// parser holds a few copies of it.
	MaxConfigSize = 64 << 20
	// MaxFileSize bounds one file's contents, after decompression.
	MaxFileSize = 64 << 20
	// MaxTotalSize bounds all files' contents together, after
	// decompression: twice a file, so one large file still fits beside
	// the small ones.
	MaxTotalSize = 128 << 20
)

// budget is what is left of MaxTotalSize while a config's files decode.
type budget struct{ left int64 }

// decode returns a resource's bytes, decompressed and verified against
// its verification.hash: only data: URLs, since first boot fetches
// nothing over the network. It reads at most min(MaxFileSize, what is left
// of the budget), so a compressed bomb stops there. On error, field is
// the part of the entry at fault, such as ".contents.verification.hash".
func decode(r types.Resource, b *budget) (data []byte, field string, err error) {
	if r.Source == nil {
		if r.Verification.Hash != nil {
			return nil, ".contents.verification.hash", fmt.Errorf("a hash without contents to verify")
		}
		return nil, "", nil
	}
	if !strings.HasPrefix(*r.Source, "data:") {
		return nil, ".contents.source", fmt.Errorf("source %q: only data: URLs are supported (first boot does not fetch over the network)", truncate(*r.Source))
	}
	u, err := dataurl.DecodeString(*r.Source)
	if err != nil {
		return nil, ".contents.source", fmt.Errorf("bad data URL: %w", err)
	}
	limit := min(int64(MaxFileSize), b.left)
	data = u.Data
	if r.Compression != nil && *r.Compression == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, ".contents", fmt.Errorf("gzip contents: %w", err)
		}
		if data, err = io.ReadAll(io.LimitReader(zr, limit+1)); err != nil {
			return nil, ".contents", fmt.Errorf("gzip contents: %w", err)
		}
	}
	if int64(len(data)) > limit {
		if limit < MaxFileSize {
			return nil, ".contents", fmt.Errorf("the config's files exceed %d MiB together (decompressed), the most nodecfg holds in memory at first boot", MaxTotalSize>>20)
		}
		return nil, ".contents", fmt.Errorf("more than %d MiB (decompressed), the most nodecfg takes for one file", MaxFileSize>>20)
	}
	b.left -= int64(len(data))
	if err := verify(r.Verification, data); err != nil {
		return nil, ".contents.verification.hash", err
	}
	return data, "", nil
}

// verify checks data against an Ignition hash, "sha512-<hex>" or
// "sha256-<hex>", of the decompressed contents (Ignition's definition).
func verify(v types.Verification, data []byte) error {
	if v.Hash == nil {
		return nil
	}
	fn, want, ok := strings.Cut(*v.Hash, "-")
	var h hash.Hash
	switch fn {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return fmt.Errorf("%q: want sha512-<hex> or sha256-<hex>", *v.Hash)
	}
	wantSum, err := hex.DecodeString(want)
	if !ok || err != nil || len(wantSum) != h.Size() {
		return fmt.Errorf("%q: not a %s hash in hex", *v.Hash, fn)
	}
	h.Write(data)
	if got := h.Sum(nil); subtle.ConstantTimeCompare(got, wantSum) != 1 {
		return fmt.Errorf("the contents' %s is %s, the config says %s", fn, hex.EncodeToString(got), strings.ToLower(want))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
