package pki

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Names of the CA's files in a Store.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// CAValidity is how long a CA made by a Store is valid.
const CAValidity = 5 * 365 * 24 * time.Hour

// Store is a directory of PEM files: one CA and the certificates minted
// under it. It is opened as an os.Root, so no name and no link in it can
// lead a write outside the directory.
type Store struct {
	Dir  string
	root *os.Root
}

// OpenStore opens dir as a Store, creating it owner-only if missing.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Store{Dir: dir, root: r}, nil
}

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

// CA returns the store's CA, making one of type kt if the store has none
// (made is then true). A store with only one of ca.pem and ca-key.pem is an
// error, never a reason to make a new CA: that would replace the trust
// anchor every node and client holds, and the certificates it signed
// would stop verifying. A CA that is unusable (expired, weak, not a CA,
// key and certificate apart) is an error too: nothing is minted under it.
func (s *Store) CA(kt KeyType, now time.Time) (ca *Pair, made bool, err error) {
	cb, errC := s.root.ReadFile(CAFile)
	kb, errK := s.root.ReadFile(CAKeyFile)
	switch {
	case errC != nil && !errors.Is(errC, fs.ErrNotExist):
		return nil, false, fmt.Errorf("reading %s: %w", s.path(CAFile), errC)
	case errK != nil && !errors.Is(errK, fs.ErrNotExist):
		return nil, false, fmt.Errorf("reading %s: %w", s.path(CAKeyFile), errK)
	case errC == nil && errK != nil:
		return nil, false, fmt.Errorf("%s exists but %s does not: refusing to make a new CA over it (what it signed would stop verifying); restore the key, or move %s away to start a new PKI", s.path(CAFile), CAKeyFile, CAFile)
	case errC != nil && errK == nil:
		return nil, false, fmt.Errorf("%s exists but %s does not: refusing to make a new CA over the key; restore the certificate, or move %s away to start a new PKI", s.path(CAKeyFile), CAFile, CAKeyFile)
	case errC == nil:
		ca, err := loadCA(cb, kb, now)
		if err != nil {
			return nil, false, fmt.Errorf("the CA in %s: %w", s.Dir, err)
		}
		return ca, false, nil
	}
	ca, err = NewCA("Bulwark CA", kt, CAValidity, now)
	if err != nil {
		return nil, false, err
	}
	// The key first, the certificate last: a store is only ever seen with
	// a certificate when its key is already there. Neither replaces a file.
	if err := s.create(CAKeyFile, ca.KeyPEM, 0o400); err != nil {
		return nil, false, err
	}
	if err := s.create(CAFile, ca.CertPEM, 0o444); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

func loadCA(cb, kb []byte, now time.Time) (*Pair, error) {
	cert, err := ParseOnlyCert(cb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	key, err := ParseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	var errs []error
	if !cert.IsCA {
		errs = append(errs, fmt.Errorf("%s is not a CA (basicConstraints CA:FALSE)", CAFile))
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		errs = append(errs, fmt.Errorf("%s does not match %s", CAKeyFile, CAFile))
	}
	for _, e := range checkCert(cert) {
		errs = append(errs, fmt.Errorf("%s: %w", CAFile, e))
	}
	if now.After(cert.NotAfter) {
		errs = append(errs, fmt.Errorf("%s expired on %s", CAFile, cert.NotAfter.Format(time.DateOnly)))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Pair{CertPEM: cb, KeyPEM: kb, Cert: cert, Key: key}, nil
}

// Write writes p as stem.pem (0444) and stem-key.pem (0400), each
// atomically, replacing earlier ones. stem must be a plain file name.
func (s *Store) Write(stem string, p *Pair) error {
	if err := CheckStem(stem); err != nil {
		return err
	}
	if err := s.replace(stem+".pem", p.CertPEM, 0o444); err != nil {
		return err
	}
	return s.replace(stem+"-key.pem", p.KeyPEM, 0o400)
}

// CheckStem refuses a name Write cannot use: not a plain file name, or
// the CA's own.
func CheckStem(stem string) error {
	if stem == "" || stem[0] == '.' || filepath.Base(stem) != stem {
		return fmt.Errorf("%q is not a file name for certificates", stem)
	}
	if stem+".pem" == CAFile {
		return fmt.Errorf("%q would replace the CA's files", stem)
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.Dir, name) }

// staged writes data to a new temporary file in the store and returns its
// name: the whole file, synced, with its final mode.
func (s *Store) staged(name string, data []byte, mode os.FileMode) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	tmp := "." + name + ".tmp-" + hex.EncodeToString(b[:])
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", s.path(name), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.root.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", s.path(name), err)
	}
	return tmp, nil
}

// replace atomically replaces name with data.
func (s *Store) replace(name string, data []byte, mode os.FileMode) error {
	tmp, err := s.staged(name, data, mode)
	if err != nil {
		return err
	}
	if err := s.root.Rename(tmp, name); err != nil {
		s.root.Remove(tmp)
		return fmt.Errorf("writing %s: %w", s.path(name), err)
	}
	s.syncDir()
	return nil
}

// syncDir makes the store's renames and links durable.
func (s *Store) syncDir() {
	if d, err := s.root.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
}

// create writes name, which must not exist: a hard link from the staged
// file fails if it does, where a rename would replace it.
func (s *Store) create(name string, data []byte, mode os.FileMode) error {
	tmp, err := s.staged(name, data, mode)
	if err != nil {
		return err
	}
	defer s.root.Remove(tmp)
	if err := s.root.Link(tmp, name); err != nil {
		return fmt.Errorf("creating %s: %w", s.path(name), err)
	}
	s.syncDir()
	return nil
}
