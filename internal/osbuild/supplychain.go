package osbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark/bulwark/internal/manifest"
	"github.com/bulwark/bulwark/internal/osbuild/esp"
	"github.com/bulwark/bulwark/internal/osbuild/nopkg"
	"github.com/bulwark/bulwark/internal/osbuild/sbom"
	"github.com/bulwark/bulwark/internal/osbuild/secureboot"
	"github.com/bulwark/bulwark/internal/outputs"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/signedsums"
)

// stepSBOM writes <name>-<arch>.spdx.json: every installed package with
// the lock's facts about its .deb and the license its copyright file
// states, the Go programs in /usr with their modules, all contained in the
// raw image (hashed here once; the outputs step reuses the digest). The
// document is validated and checked against the installed packages before
// it is written, so an SBOM that would not say what the image holds fails
// the build.
func (b *build) stepSBOM(ctx context.Context, st *progress.Step) error {
	rawFile := b.file(outputs.Raw)
	st.Printf("hashing %s", rawFile)
	rawSum, err := manifest.FileDigest(b.partial(rawFile))
	if err != nil {
		return err
	}
	b.img.Outputs[rawFile] = rawSum
	src := b.source()
	locked := map[string]sbom.Locked{}
	for n, p := range b.lock.Architectures[b.arch.Name].Packages {
		l := sbom.Locked{Version: p.Version, Suite: p.Suite, SHA256: p.SHA256}
		if m := src.Mirror(p.Suite); m != "" && p.Path != "" {
			l.URL = strings.TrimSuffix(m, "/") + "/" + p.Path
		}
		locked[n] = l
	}
	lic := sbom.NewLicenses()
	// The trim step took dpkg's database out of the tree; it saved the
	// status file and the removed packages' copyright files first.
	debs, err := sbom.Debs(filepath.Join(b.path(pkgdbDir), nopkg.StatusFile), []string{b.path("usr/share/doc"), b.path(pkgdbDir + "/doc")}, locked, lic)
	if err != nil {
		return err
	}
	for i := range debs {
		debs[i].Removed = b.img.Packages[debs[i].Name].Removed
	}
	var bins []sbom.GoBinary
	for _, gb := range b.spec.GoBinaries {
		f := b.install[gb.Path].Source
		d, err := manifest.FileDigest(f)
		if err != nil {
			return err
		}
		g, err := sbom.ReadGoBinary(f, gb.Path, d)
		if err != nil {
			return err
		}
		bins = append(bins, g)
	}
	doc, err := sbom.Document(sbom.Image{Name: b.spec.Name, Arch: b.arch.Name, Version: b.version(),
		File: rawFile, SHA256: rawSum, Distro: b.spec.Debian.Release, VerityRootHash: b.img.VerityRootHash, Created: b.epoch},
		debs, bins, lic)
	if err != nil {
		return err
	}
	if err := sbom.Validate(doc); err != nil {
		return err
	}
	installed := map[string]sbom.Locked{}
	for n, p := range b.img.Packages {
		installed[n] = sbom.Locked{Version: p.Version, SHA256: p.SHA256}
	}
	if err := sbom.Check(doc, installed); err != nil {
		return err
	}
	out := b.output(sbom.File(b.spec.Name, b.arch.Name))
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := sbom.Write(f, doc); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	licensed := 0
	for _, d := range debs {
		if d.License != sbom.NoAssertion {
			licensed++
		}
	}
	st.Done("%s: %d Debian packages (%d with a license from their copyright file), %d Go programs", sbom.File(b.spec.Name, b.arch.Name), len(debs), licensed, len(bins))
	return nil
}

// checkSigning makes sure, before anything is written, that the key the
// build is to sign with is there.
func (b *build) checkSigning() error {
	if b.o.SecureBootKeys != "" {
		k, err := secureboot.LoadKeys(b.o.SecureBootKeys)
		if err != nil {
			return err
		}
		b.sbKeys = k
		for _, f := range append([]string{k.DBCert}, k.Auth["PK"], k.Auth["KEK"], k.Auth["db"]) {
			d, err := manifest.FileDigest(f)
			if err != nil {
				return err
			}
			b.img.Inputs["secure boot: "+filepath.Base(f)] = d
		}
	}
	if b.o.SignKey == "" {
		return nil
	}
	return signedsums.CheckKey(context.Background(), b.o.SignKey)
}

// secureBoot signs the UKI and systemd-boot with the db key and returns
// the signed files, loader.conf with enrollment on, and the key set for
// the ESP. Without keys it returns its inputs and says the boot chain is
// unsigned.
func (b *build) secureBoot(ctx context.Context, st *progress.Step, ukiPath, sdboot, loaderConf string) (string, string, string, []esp.File, error) {
	k := b.sbKeys
	if k == nil {
		st.Printf("unsigned boot chain (no --secureboot-keys): boots only with Secure Boot off")
		return ukiPath, sdboot, loaderConf, nil, nil
	}
	signedUKI, signedBoot := b.path("bulwark.signed.efi"), b.path(b.arch.SystemdBoot+".signed")
	for in, out := range map[string]string{ukiPath: signedUKI, sdboot: signedBoot} {
		if err := k.Sign(ctx, in, out, b.epoch); err != nil {
			return "", "", "", nil, err
		}
	}
	var files []esp.File
	for _, v := range secureboot.Variables {
		files = append(files, esp.File{Path: secureboot.EnrollDir + "/" + v + ".auth", Source: k.Auth[v]})
	}
	st.Printf("signed the UKI and systemd-boot with %s; key set for enrollment in %s", k.DBCert, secureboot.EnrollDir)
	return signedUKI, signedBoot, loaderConf + secureboot.LoaderConf, files, nil
}

// signSums signs the directory's SHA256SUMS, which manifest.Update has just
// rewritten, or, building unsigned, removes a SHA256SUMS.gpg an earlier
// build left: it would no longer match and would make the directory fail
// verification for the wrong reason.
func (b *build) signSums(ctx context.Context, st *progress.Step) error {
	sig := filepath.Join(b.o.OutDir, signedsums.SignatureFile)
	if b.o.SignKey == "" {
		if err := os.Remove(sig); err == nil {
			st.Printf("removed the stale %s", signedsums.SignatureFile)
		} else if !os.IsNotExist(err) {
			return err
		}
		st.Done("manifest.json and SHA256SUMS updated; unsigned (no --sign-key)")
		return nil
	}
	if err := signedsums.Sign(ctx, b.o.OutDir, b.o.SignKey); err != nil {
		return err
	}
	st.Done("manifest.json and SHA256SUMS updated; %s signed by %s", signedsums.SignatureFile, b.o.SignKey)
	return nil
}
