package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listDir returns the names in dir and in its parent, to show that nothing
// was written beside the store.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.Walk(filepath.Dir(dir), func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(filepath.Dir(dir), p)
			names = append(names, rel)
		}
		return nil
	})
	return names
}

func TestStoreCA(t *testing.T) {
	weak := mintWith(t, caTemplate(365*24*time.Hour), nil, nil, rsaKey(t, 1024))
	expired, _ := NewCA("old", ECDSA, 48*time.Hour, now.Add(-400*24*time.Hour))
	other, _ := NewCA("other", ECDSA, 48*time.Hour, now)
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, dir string)
		wantMade bool
		want     string // error substring; "" for success
	}{
		{name: "empty directory makes a CA", wantMade: true},
		{name: "an existing CA is kept", setup: func(t *testing.T, dir string) {
			s, _ := OpenStore(dir)
			if _, _, err := s.CA(ECDSA, now); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "certificate without its key", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CAFile), other.CertPEM, 0o444)
		}, want: "ca.pem exists but ca-key.pem does not: refusing to make a new CA"},
		{name: "key without its certificate", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CAKeyFile), other.KeyPEM, 0o400)
		}, want: "ca-key.pem exists but ca.pem does not"},
		{name: "RSA-1024 CA", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CAFile), weak.CertPEM, 0o444)
			os.WriteFile(filepath.Join(dir, CAKeyFile), weak.KeyPEM, 0o400)
		}, want: "RSA key of 1024 bits"},
		{name: "expired CA", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CAFile), expired.CertPEM, 0o444)
			os.WriteFile(filepath.Join(dir, CAKeyFile), expired.KeyPEM, 0o400)
		}, want: "ca.pem expired on"},
		{name: "key of another CA", setup: func(t *testing.T, dir string) {
			ca, _ := NewCA("x", ECDSA, 48*time.Hour, now)
			os.WriteFile(filepath.Join(dir, CAFile), ca.CertPEM, 0o444)
			os.WriteFile(filepath.Join(dir, CAKeyFile), other.KeyPEM, 0o400)
		}, want: "ca-key.pem does not match ca.pem"},
		{name: "a bundle as the CA", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CAFile), append(append([]byte{}, other.CertPEM...), weak.CertPEM...), 0o444)
			os.WriteFile(filepath.Join(dir, CAKeyFile), other.KeyPEM, 0o400)
		}, want: "give exactly one CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			os.MkdirAll(dir, 0o700)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := snapshotFiles(t, dir)
			s, err := OpenStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ca, made, err := s.CA(ECDSA, now)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("CA() error %v; want one containing %q", err, tc.want)
				}
				if after := snapshotFiles(t, dir); after != before {
					t.Errorf("a refused CA changed the store:\n%s\nwas\n%s", after, before)
				}
				return
			}
			if err != nil || made != tc.wantMade || !ca.Cert.IsCA {
				t.Fatalf("CA() = made %v, %v; want made %v", made, err, tc.wantMade)
			}
			cb, _ := os.ReadFile(filepath.Join(dir, CAFile))
			if !bytes.Equal(cb, ca.CertPEM) {
				t.Error("ca.pem does not hold the CA returned")
			}
		})
	}
}

// snapshotFiles returns the names and contents of the files in dir.
func snapshotFiles(t *testing.T, dir string) string {
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + "=" + string(data) + "\n")
	}
	return b.String()
}

func TestStoreWriteStaysInside(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "pki")
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca, _, err := s.CA(ECDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewClient(ca, "alice", ECDSA, 48*time.Hour, now)
	// A link in the store pointing out of it is not followed either.
	os.Symlink(filepath.Join(top, "outside.pem"), filepath.Join(dir, "link.pem"))
	for _, stem := range []string{"../evil", "/abs", "a/b", ".hidden", "", "ca", "link"} {
		t.Run(stem, func(t *testing.T) {
			if err := s.Write(stem, c); err == nil && stem != "link" {
				t.Errorf("Write(%q) succeeded", stem)
			}
		})
	}
	if err := s.Write("client-alice", c); err != nil {
		t.Fatal(err)
	}
	for _, n := range listDir(t, dir) {
		if n != "." && n != "pki" && !strings.HasPrefix(n, "pki/") {
			t.Errorf("%s written outside the store", n)
		}
	}
	cb, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if !bytes.Equal(cb, ca.CertPEM) {
		t.Error("the CA was replaced")
	}
	fi, err := os.Stat(filepath.Join(dir, "client-alice-key.pem"))
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("client key: %v, mode %v; want 0400", err, fi)
	}
}
