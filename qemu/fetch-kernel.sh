#!/usr/bin/env bash
# Fetch Debian's guest kernel and the guest userspace debs, unpack them into a
# sysroot, depmod it, and extract an uncompressed vmlinux for QEMU's PVH boot.
# Prints KVER on stdout and records it in qemu/build/kver (the Makefile builds
# the module against /usr/src/linux-headers-KVER). Does nothing when cached.
# Env: CXLMS_QEMU_CACHE  where the .debs go (default qemu/build/cache)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,6p' "$0"; exit 0; }

"$QEMU_DIR/deps.sh"
kver=$(detect_kver)
vmlinux=$BUILD_DIR/vmlinux-$kver
stamp=$SYSROOT/.complete-$kver

cached() { [ -f "$stamp" ] && [ -s "$vmlinux" ] && [ -s "$KVER_FILE" ]; }
if cached; then
	printf '%s\n' "$kver"
	exit 0
fi
# One builder at a time; a waiter finds the work done.
mkdir -p "$BUILD_DIR"
exec 9>"$BUILD_DIR/.fetch.lock"
flock 9
if cached; then
	printf '%s\n' "$kver"
	exit 0
fi

# Guest userspace: ndctl's tools and their libraries, plus libraries the
# project's test binaries link against (not necessarily installed on the host).
debs=("linux-image-$kver" ndctl daxctl libcxl1 libndctl6 libdaxctl1
	libtraceevent1 libtracefs1 libiniparser1 liburing2 libinih1 libcmocka0)

mkdir -p "$CACHE_DIR"
need=()
for p in "${debs[@]}"; do
	compgen -G "$CACHE_DIR/${p}_*.deb" >/dev/null || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
	log "downloading: ${need[*]}"
	# Root downloading into a root-owned dir: tell apt not to drop to _apt.
	if ! (cd "$CACHE_DIR" && apt-get download -qq -o APT::Sandbox::User=root "${need[@]}" >&2); then
		apt_update_once
		(cd "$CACHE_DIR" && apt-get download -qq -o APT::Sandbox::User=root "${need[@]}" >&2)
	fi
fi

log "unpacking debs into $SYSROOT"
rm -rf "$SYSROOT"
mkdir -p "$SYSROOT"
for p in "${debs[@]}"; do
	# Newest cached version if several accumulated (sort -V on file names).
	deb=$(compgen -G "$CACHE_DIR/${p}_*.deb" | sort -V | tail -n 1)
	dpkg -x "$deb" "$SYSROOT"
done
# The image .deb ships no modules.dep.
depmod -b "$SYSROOT" "$kver"

# vmlinuz is a bzImage whose payload is an xz stream: find the first xz magic
# (FD '7zXZ' 00) and decompress from there; --single-stream ignores the
# trailing setup data after the stream.
vmlinuz=$SYSROOT/boot/vmlinuz-$kver
# (No "| head" or "tail |" pipes: under pipefail the writer's SIGPIPE would
# abort the script, so cut reads everything and xz reads a process substitution.)
offs=$(LC_ALL=C grep -m 1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1 || true)
off=${offs%%$'\n'*}
[ -n "$off" ] || die "no xz payload in $vmlinuz"
xz -dc --single-stream < <(tail -c "+$((off + 1))" "$vmlinuz") >"$vmlinux.tmp"
[ "$(head -c 4 "$vmlinux.tmp" | tr -d '\0')" = $'\x7fELF' ] || die "extracted vmlinux is not ELF"
mv "$vmlinux.tmp" "$vmlinux"

printf '%s\n' "$kver" >"$KVER_FILE"
touch "$stamp"
printf '%s\n' "$kver"
