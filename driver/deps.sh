#!/usr/bin/env bash
# Host packages to build cxlms.ko and its guest tests; installs only what is
# missing (idempotent, no apt-get update when everything is there).
# Usage: driver/deps.sh [--kver] [--source]
#   --kver    print the guest kernel release the module is built for and exit
#   --source  also install linux-source-6.1 (kselftest harness headers)
# KVER is the one qemu/ boots: qemu/build/kver once fetched, else what
# Debian's linux-image-amd64 depends on (qemu/common.sh detect_kver).
set -euo pipefail
# shellcheck source=../qemu/common.sh
. "$(dirname "$0")/../qemu/common.sh"

source_pkg=0
for arg in "$@"; do
	case $arg in
	--kver) detect_kver; exit 0 ;;
	--source) source_pkg=1 ;;
	-h | --help) sed -n '2,8p' "$0"; exit 0 ;;
	*) die "unknown option: $arg" ;;
	esac
done

pkgs=("linux-headers-$(detect_kver)" make gcc)
[ "$source_pkg" = 0 ] || pkgs+=(linux-source-6.1 xz-utils)
install_missing "${pkgs[@]}"
