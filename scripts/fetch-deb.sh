#!/bin/sh
# Downloads Debian trixie packages for one architecture and unpacks them into
# DEST/root, without touching the host's apt state (a private sources list and
# lists/cache directories). Idempotent: an existing DEST/.complete is kept.
# Prints the downloaded packages' versions to DEST/versions.
#   fetch-deb.sh DEST ARCH PACKAGE...
set -eu
DEST=${1:?usage: fetch-deb.sh DEST ARCH PACKAGE...}
ARCH=${2:?usage: fetch-deb.sh DEST ARCH PACKAGE...}
shift 2
[ -f "$DEST/.complete" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/prefs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=- \
 -o Dir::Etc::Preferences=- -o Dir::Etc::PreferencesParts=$work/prefs \
 -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Architecture=$ARCH \
 -o APT::Architectures::=$ARCH -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q"
echo "fetch-deb: trixie $ARCH: $*"
# shellcheck disable=SC2086
apt-get $apt_opts update >/dev/null
# shellcheck disable=SC2086
(cd "$work" && apt-get $apt_opts download "$@" >/dev/null)
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp/root"
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$DEST.tmp/root"
	echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$DEST.tmp/versions"
done
touch "$DEST.tmp/.complete"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
