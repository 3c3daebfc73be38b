package signedsums

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needGPG skips without gpg, unless the host-tools run requires it.
func needGPG(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("BULWARK_REQUIRE_HOST_TOOLS") != "" {
			t.Fatal("gpg is required")
		}
		t.Skip("gpg not installed")
	}
}

// mintKey makes a throw-away signing key in its own GNUPGHOME and exports
// its public key; the agent it starts is ended with the test.
func mintKey(t *testing.T, name string) (home, pub string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "all")
		kill.Env = append(os.Environ(), "GNUPGHOME="+home)
		kill.Run()
	})
	uid := name + " <" + name + "@bulwark.invalid>"
	if _, stderr, err := gpg(context.Background(), home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"); err != nil {
		t.Fatalf("minting a key: %v: %s", err, stderr)
	}
	pub = filepath.Join(t.TempDir(), name+".asc")
	if _, stderr, err := gpg(context.Background(), home, "--armor", "--output", pub, "--export", uid); err != nil {
		t.Fatalf("exporting the key: %v: %s", err, stderr)
	}
	return home, pub
}

// release writes a small output directory and its SHA256SUMS.
func release(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{"container-host-x86_64.raw": "disk bytes", "container-host-x86_64.spdx.json": "{}\n"}
	var sums strings.Builder
	for _, n := range []string{"container-host-x86_64.raw", "container-host-x86_64.spdx.json"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte(files[n]), 0o644)
		d, _ := fileSum(p)
		sums.WriteString(d + "  " + n + "\n")
	}
	os.WriteFile(filepath.Join(dir, SumsFile), []byte(sums.String()), 0o644)
	return dir
}

func fileSum(p string) (string, error) {
	out, err := exec.Command("sha256sum", p).Output()
	if err != nil {
		return "", err
	}
	return strings.Fields(string(out))[0], nil
}

func sign(t *testing.T, home, dir string) {
	t.Helper()
	t.Setenv("GNUPGHOME", home)
	if err := CheckKey(context.Background(), "signer@bulwark.invalid"); err != nil {
		t.Fatal(err)
	}
	if err := Sign(context.Background(), dir, "signer@bulwark.invalid"); err != nil {
		t.Fatal(err)
	}
}

func TestSignAndVerify(t *testing.T) {
	needGPG(t)
	home, pub := mintKey(t, "signer")
	_, foreignPub := mintKey(t, "foreign")
	foreignHome, _ := mintKey(t, "signer") // same name, another key
	ctx := context.Background()

	t.Run("good", func(t *testing.T) {
		dir := release(t)
		sign(t, home, dir)
		res, err := Verify(ctx, dir, VerifyOptions{Keyring: pub})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Signer, "signer@bulwark.invalid") || len(res.Files) != 2 {
			t.Errorf("got signer %q and %d files, want signer@bulwark.invalid and 2", res.Signer, len(res.Files))
		}
	})
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) VerifyOptions
		want    string
	}{
		{"changed byte in an output", func(t *testing.T, dir string) VerifyOptions {
			sign(t, home, dir)
			flip(t, filepath.Join(dir, "container-host-x86_64.raw"), 3)
			return VerifyOptions{Keyring: pub}
		}, "container-host-x86_64.raw: sha256"},
		{"changed byte in SHA256SUMS", func(t *testing.T, dir string) VerifyOptions {
			sign(t, home, dir)
			flip(t, filepath.Join(dir, SumsFile), 0)
			return VerifyOptions{Keyring: pub}
		}, "SHA256SUMS.gpg: bad signature"},
		{"foreign signature", func(t *testing.T, dir string) VerifyOptions {
			sign(t, foreignHome, dir)
			return VerifyOptions{Keyring: pub}
		}, "SHA256SUMS.gpg: signed by a key that is not trusted"},
		{"good signature, other keyring", func(t *testing.T, dir string) VerifyOptions {
			sign(t, home, dir)
			return VerifyOptions{Keyring: foreignPub}
		}, "signed by a key that is not trusted"},
		{"missing signature", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{Keyring: pub}
		}, "SHA256SUMS.gpg: stat"},
		{"missing file", func(t *testing.T, dir string) VerifyOptions {
			sign(t, home, dir)
			os.Remove(filepath.Join(dir, "container-host-x86_64.spdx.json"))
			return VerifyOptions{Keyring: pub}
		}, "container-host-x86_64.spdx.json: open"},
		{"unsigned, changed byte", func(t *testing.T, dir string) VerifyOptions {
			flip(t, filepath.Join(dir, "container-host-x86_64.spdx.json"), 0)
			return VerifyOptions{Unsigned: true}
		}, "container-host-x86_64.spdx.json: sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := release(t)
			o := tc.prepare(t, dir)
			_, err := Verify(ctx, dir, o)
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a verification error containing %q", err, tc.want)
			}
		})
	}
	t.Run("unsigned accepted only when asked", func(t *testing.T) {
		dir := release(t)
		if _, err := Verify(ctx, dir, VerifyOptions{Unsigned: true}); err != nil {
			t.Errorf("unsigned with --unsigned: %v", err)
		}
	})
	t.Run("unknown key refused before signing", func(t *testing.T) {
		t.Setenv("GNUPGHOME", home)
		if err := CheckKey(ctx, "nobody@bulwark.invalid"); err == nil {
			t.Error("CheckKey accepted a key gpg does not have")
		}
	})
}

func flip(t *testing.T, p string, at int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseSums(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name, in, want string
	}{
		{"ok", h + "  a.raw\n" + h + " *b.json\n", ""},
		{"path", h + "  ../etc/passwd\n", "not a file name"},
		{"subdir", h + "  out/a.raw\n", "not a file name"},
		{"short", "abc  a\n", "not \"<sha256>  <file>\""},
		{"upper hex", strings.ToUpper(h) + "  a\n", "lower-case hex"},
		{"twice", h + "  a\n" + h + "  a\n", "listed twice"},
		{"empty", "\n", "lists no files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSums(strings.NewReader(tc.in))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseSums: whatever a sums file says, every name it yields is a
// plain file name in the directory.
func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("0", 64) + "  a.raw\n")
	f.Add(strings.Repeat("0", 64) + " *../x\n")
	f.Fuzz(func(t *testing.T, s string) {
		sums, err := ParseSums(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, x := range sums {
			if filepath.Base(x.Name) != x.Name || x.Name == ".." || x.Name == "." || len(x.SHA256) != 64 {
				t.Fatalf("%q yielded %+v", s, x)
			}
		}
	})
}
