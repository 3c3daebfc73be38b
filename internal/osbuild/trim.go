package osbuild

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bulwark/bulwark/internal/osbuild/customize"
	"github.com/bulwark/bulwark/internal/osbuild/nopkg"
	"github.com/bulwark/bulwark/internal/progress"
	"github.com/bulwark/bulwark/internal/setid"
)

// pkgdbDir is where, in the work directory, the trim step saves dpkg's
// status file and the removed packages' copyright files for the SBOM.
const pkgdbDir = "pkgdb"

// stepTrim takes what a container host does not need and an attacker could
// use out of the finished tree: the package manager (apt, dpkg, their
// databases and what only they needed; the SBOM and manifest still list
// every installed package, those removed marked so) and every set-id bit
// but those internal/setid keeps. It runs after every step that installs
// or configures files and before labelling, so nothing adds either back.
func (b *build) stepTrim(ctx context.Context, st *progress.Step) error {
	root := b.path("root")
	res, err := nopkg.Remove(nopkg.Options{Root: root, Save: b.path(pkgdbDir), Wanted: b.spec.Packages.For(b.arch.Name)})
	if err != nil {
		return fmt.Errorf("removing the package manager: %w", err)
	}
	names := make([]string, 0, len(res.Removed))
	for n, v := range res.Removed {
		p, ok := b.img.Packages[n]
		if !ok {
			return fmt.Errorf("removed %s %s, which the rootfs step did not record", n, v)
		}
		p.Removed = true
		b.img.Packages[n] = p
		names = append(names, n+" "+v)
	}
	sort.Strings(names)
	st.Printf("removed %d packages: %s (%d files, %s)", len(names), strings.Join(names, ", "), res.Files, progress.Bytes(res.Bytes))
	st.Printf("kept %d of their dependencies that the rest of the image needs", len(res.Kept))
	for _, u := range res.Units {
		st.Printf("removed unit link %s", u)
	}
	for _, o := range res.Others {
		st.Printf("removed with the package manager's paths: %s", o)
	}
	if err := setid.DBusActivation(root); err != nil {
		return err
	}
	dropped, err := setid.Strip(root)
	if err != nil {
		return err
	}
	var ds []string
	for _, f := range dropped {
		ds = append(ds, f.String())
	}
	st.Printf("dropped set-id bits: %s", strings.Join(ds, ", "))
	// The tree's last change before labelling: clamp the times removing
	// files touched, then stamp /etc as up to date with this /usr, once.
	if err := customize.ClampTimes(root, b.epoch); err != nil {
		return err
	}
	if err := customize.WriteUpdatedStamp(root); err != nil {
		return err
	}
	st.Done("no package manager (%d packages out), %d set-id bits dropped, %d kept (%s)", len(names), len(dropped), len(setid.Keep), keptPaths())
	return nil
}

func keptPaths() string {
	var s []string
	for _, p := range setid.Keep {
		s = append(s, p.Path)
	}
	return strings.Join(s, ", ")
}
