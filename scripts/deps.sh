#!/bin/sh
# Installs the Debian packages the build host needs. Idempotent: packages
# already installed are left alone, so `make image` and `make test` can call
# it every time at the cost of one dpkg query.
set -eu
PKGS="mmdebstrap qemu-user-static binfmt-support qemu-system-x86 qemu-system-arm qemu-utils
ovmf qemu-efi-aarch64 cryptsetup-bin erofs-utils squashfs-tools e2fsprogs gdisk fdisk
dosfstools mtools policycoreutils python3-pefile debian-archive-keyring libseccomp-dev
zstd xz-utils arch-test ca-certificates selinux-utils pkg-config gpg gpg-agent sbsigntool efitools faketime"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
binfmt() {
	# arm64 maintainer scripts run under qemu-user through binfmt_misc. In a
	# container without systemd nobody mounts or enables it, so do it here.
	[ "$(id -u)" = 0 ] || return 0
	if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
	fi
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && command -v update-binfmts >/dev/null; then
		update-binfmts --enable qemu-aarch64 || true
	fi
}
if [ -z "$missing" ]; then
	binfmt
	echo "deps: all host packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing host packages:$missing" >&2
	echo "deps: run as root: apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
binfmt
