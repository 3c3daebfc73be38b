package secureboot

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needTools skips without the host programs, unless the host-tools run
// (make test-root) requires them.
func needTools(t *testing.T) {
	t.Helper()
	var names []string
	for n := range Tools {
		names = append(names, n)
	}
	if err := CheckTools(names...); err != nil {
		if os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

var (
	keysOnce sync.Once
	keysDir  [2]string
	keysErr  error
)

// keySets mints two key sets once for the package's tests (minting RSA
// keys takes a moment): the test's own and a foreign one.
func keySets(t *testing.T) (own, foreign string) {
	t.Helper()
	keysOnce.Do(func() {
		base, err := os.MkdirTemp("", "bulwark-sbkeys-")
		if err != nil {
			keysErr = err
			return
		}
		for i, n := range []string{"Bulwark test", "Foreign test"} {
			keysDir[i] = filepath.Join(base, strings.Fields(n)[0])
			if keysErr = MintKeys(context.Background(), keysDir[i], n, 24*time.Hour); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keysDir[0], keysDir[1]
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keysDir[0] != "" {
		os.RemoveAll(filepath.Dir(keysDir[0]))
	}
	os.Exit(code)
}

// peBinary builds a small PE binary to sign.
func peBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "test.efi")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/pe")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a PE binary: %v\n%s", err, b)
	}
	return out
}

func TestMintAndLoad(t *testing.T) {
	needTools(t)
	own, _ := keySets(t)
	k, err := LoadKeys(own)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables {
		if k.Auth[v] != filepath.Join(own, v+".auth") {
			t.Errorf("%s: %s", v, k.Auth[v])
		}
	}
	fi, err := os.Stat(k.DBKey)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("db.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if err := MintKeys(context.Background(), own, "again", time.Hour); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("minting over a key set: %v", err)
	}
}

func TestLoadKeysRefuses(t *testing.T) {
	needTools(t)
	own, foreign := keySets(t)
	copyDir := func(t *testing.T) string {
		d := t.TempDir()
		for _, f := range []string{"db.key", "db.crt", "PK.auth", "KEK.auth", "db.auth"} {
			b, err := os.ReadFile(filepath.Join(own, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, f), b, 0o600)
		}
		return d
	}
	tests := []struct {
		name string
		edit func(t *testing.T, d string)
		want string
	}{
		{"db.auth of another key set", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(foreign, "db.auth"))
			os.WriteFile(filepath.Join(d, "db.auth"), b, 0o644)
		}, "does not enroll db.crt"},
		{"db.key of another key set", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(foreign, "db.key"))
			os.WriteFile(filepath.Join(d, "db.key"), b, 0o600)
		}, "private key does not match public key"},
		{"no PK.auth", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "PK.auth")) }, "PK.auth: no such file"},
		{"empty KEK.auth", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, "KEK.auth"), nil, 0o644) }, "is no authenticated variable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t)
			if _, err := LoadKeys(d); err != nil {
				t.Fatalf("the untouched copy: %v", err)
			}
			tc.edit(t, d)
			_, err := LoadKeys(d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSign(t *testing.T) {
	needTools(t)
	own, foreign := keySets(t)
	k, err := LoadKeys(own)
	if err != nil {
		t.Fatal(err)
	}
	pe := peBinary(t)
	dir := t.TempDir()
	epoch := time.Unix(1795858690, 0)
	a, b := filepath.Join(dir, "a.efi"), filepath.Join(dir, "b.efi")
	if err := k.Sign(context.Background(), pe, a, epoch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a real clock would have moved on
	if err := k.Sign(context.Background(), pe, b, epoch); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("signing the same binary twice with the same key and epoch gave different bytes")
	}
	if err := Verify(context.Background(), a, filepath.Join(foreign, "db.crt")); err == nil {
		t.Error("a binary signed by our db verifies against a foreign db certificate")
	}
	if err := Verify(context.Background(), pe, k.DBCert); err == nil {
		t.Error("an unsigned binary verifies")
	}
	ab[len(ab)/2] ^= 0xff
	changed := filepath.Join(dir, "changed.efi")
	os.WriteFile(changed, ab, 0o644)
	if err := Verify(context.Background(), changed, k.DBCert); err == nil {
		t.Error("a signed binary with one byte changed still verifies")
	}
}
