#!/usr/bin/env bash
# Install the host packages the QEMU test machinery needs, only those missing.
# Usage: qemu/deps.sh [--no-headers]
#   --no-headers  skip linux-headers-KVER (only needed to build the module)
# Quiet and fast (no apt-get update) when everything is already installed.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

headers=1
for arg in "$@"; do
	case $arg in
	--no-headers) headers=0 ;;
	-h | --help)
		sed -n '2,5p' "$0"
		exit 0
		;;
	*) die "unknown option: $arg" ;;
	esac
done

# qemu-system-x86: the emulator (pulls seabios, the firmware that enumerates
# pxb-cxl). busybox-static: guest shell and tools. cpio/gzip: initramfs.
# kmod: depmod/modprobe on the build tree (and a real insmod in the guest).
# xz-utils: unpack the vmlinuz payload. ndctl: host-side cxl/ndctl listing.
# make/gcc: module and helper builds.
# run.sh sets CXLMS_DEPS_CHECKED for its children once it has run this.
[ "${CXLMS_DEPS_CHECKED:-}" = 1 ] && exit 0

pkgs=(qemu-system-x86 busybox-static cpio gzip kmod xz-utils ndctl make gcc)
if [ "$headers" = 1 ]; then
	# Headers must match the guest kernel exactly: the module is built against them.
	pkgs+=("linux-headers-$(detect_kver)")
fi

# --no-install-recommends skips qemu's GUI/audio stack, which a headless TCG
# run never uses.
install_missing "${pkgs[@]}"
