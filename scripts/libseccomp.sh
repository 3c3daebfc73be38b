#!/bin/sh
# Fetches trixie's libseccomp (headers and static library) into DEST for cgo.
#
# Why: bookworm's libseccomp 2.5.4 predates fchmodat2 (Linux 6.6), so a host
# build of osbuild could not resolve that name and the strict seccomp profile
# would fail validation. Linking trixie's libseccomp.a statically gives osbuild
# the same syscall tables as the runc inside the image, without replacing the
# host's shared library. Idempotent.
set -eu
DEST=${1:?usage: libseccomp.sh DEST}
[ -f "$DEST/pkgconfig/libseccomp.pc" ] && exit 0
"$(dirname "$0")/fetch-deb.sh" "$DEST" "$(dpkg --print-architecture)" libseccomp-dev libseccomp2
lib=$(find "$DEST/root" -name libseccomp.a | head -n1)
[ -n "$lib" ] || { echo "libseccomp: no libseccomp.a in the packages" >&2; exit 1; }
version=$(awk '$1=="libseccomp-dev"{print $2}' "$DEST/versions")
mkdir -p "$DEST/pkgconfig"
# Libs names the archive itself, so the link is static whatever else is installed.
cat >"$DEST/pkgconfig/libseccomp.pc.tmp" <<PC
Name: libseccomp
Description: trixie's libseccomp $version, linked statically (scripts/libseccomp.sh)
Version: ${version%%-*}
Cflags: -I$DEST/root/usr/include
Libs: $lib
PC
mv "$DEST/pkgconfig/libseccomp.pc.tmp" "$DEST/pkgconfig/libseccomp.pc"
echo "libseccomp: $version in $DEST"
