#!/usr/bin/env bash
# Build the guest initramfs and print its path.
# Usage: qemu/mkinitramfs.sh [--payload DIR] [-o OUT]
#   --payload DIR  copied to /payload in the guest; the shared libraries of
#                  every ELF in it (per ldd) are added too
#   -o OUT         output file (default qemu/build/initramfs.img)
# The output is a cached base cpio.gz (busybox, kmod, ndctl/cxl/daxctl and
# their libraries, the CXL modules, /init), padded to 4 bytes, followed by an
# uncompressed cpio of the payload, rebuilt each call (cheap). The kernel
# unpacks concatenated archives in order.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

payload=""
out=$BUILD_DIR/initramfs.img
while [ $# -gt 0 ]; do
	case $1 in
	--payload)
		payload=${2:?--payload needs a directory}
		shift 2
		;;
	-o)
		out=${2:?-o needs a file}
		shift 2
		;;
	-h | --help)
		sed -n '2,10p' "$0"
		exit 0
		;;
	*) die "unknown option: $1" ;;
	esac
done
[ -z "$payload" ] || [ -d "$payload" ] || die "payload is not a directory: $payload"

kver=$("$QEMU_DIR/fetch-kernel.sh")
base=$BUILD_DIR/initramfs-base-$kver.cpio.gz
broot=$BUILD_DIR/initramfs-root
# ldd resolves the ndctl family from the unpacked debs first.
sysroot_libs=$SYSROOT/usr/lib/x86_64-linux-gnu:$SYSROOT/lib/x86_64-linux-gnu

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | tr -d '\0')" = $'\x7fELF' ]; }

# Copy the shared libraries (and the loader) ELF $2 needs into root $1, at
# the paths the loader will look for them. Libraries found in the sysroot go
# where they would be on a real system. Skips files already in root $1 or $3.
copy_libs() {
	local root=$1 elf=$2 also=${3:-} out line path gpath
	# ldd fails on static binaries and non-executables (.ko): no libs then.
	out=$(LD_LIBRARY_PATH=$sysroot_libs ldd "$elf" 2>/dev/null) || return 0
	if grep -q 'not found' <<<"$out"; then
		die "$elf: missing libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
	fi
	while read -r line; do
		case $line in
		*'=> /'*) path=${line#*=> } ;;
		/*) path=$line ;;
		*) continue ;; # linux-vdso and the like
		esac
		path=${path%% (0x*}
		gpath=${path#"$SYSROOT"}
		# Merged /usr: /lib is a symlink in the base image; a real /lib
		# directory in the payload archive would replace it on unpacking.
		case $gpath in /lib/* | /lib64/*) gpath=/usr$gpath ;; esac
		[ -e "$root$gpath" ] && continue
		[ -n "$also" ] && [ -e "$also$gpath" ] && continue
		mkdir -p "$root$(dirname "$gpath")"
		cp -L "$path" "$root$gpath"
	done <<<"$out"
}

# Pack directory $1 as a newc cpio on stdout, owned by root.
pack() { (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet); }

build_base() {
	log "building base initramfs for $kver"
	rm -rf "$broot"
	mkdir -p "$broot"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,tmp,run,root,payload}
	# Same layout as the merged-/usr host, so ldd's paths are valid in the guest.
	ln -s usr/lib "$broot/lib"
	ln -s usr/lib64 "$broot/lib64"
	# An initial console before /init mounts devtmpfs (the kernel's built-in
	# archive normally has one; harmless if mknod is not permitted here).
	mknod -m 600 "$broot/dev/console" c 5 1 2>/dev/null || true

	# busybox: one symlink per applet from --list-full, skipping the busybox
	# entry itself (a busybox -> busybox link loops and /init fails with -40).
	cp /bin/busybox "$broot/bin/busybox"
	local a
	while read -r a; do
		[ "$a" = bin/busybox ] && continue
		[ -e "$broot/$a" ] || ln -s /bin/busybox "$broot/$a"
	done < <(/bin/busybox --list-full)

	# kmod's tools replace busybox's: busybox insmod retries init_module after
	# a failed finit_module, so a failing module_init would run twice.
	cp /usr/bin/kmod "$broot/usr/bin/kmod"
	copy_libs "$broot" /usr/bin/kmod
	for a in insmod rmmod modprobe lsmod modinfo depmod; do
		rm -f "$broot/sbin/$a" "$broot/bin/$a" "$broot/usr/sbin/$a" "$broot/usr/bin/$a"
		ln -s /usr/bin/kmod "$broot/sbin/$a"
	done

	# ndctl, cxl, daxctl from the unpacked debs, with their libraries.
	for a in cxl ndctl daxctl; do
		rm -f "$broot/usr/bin/$a"
		cp "$SYSROOT/usr/bin/$a" "$broot/usr/bin/$a"
		copy_libs "$broot" "$SYSROOT/usr/bin/$a"
	done

	# Guest copies of libraries the project's test binaries may link but the
	# host may lack (liburing, inih, cmocka), so they need not be installed here.
	local lib
	for lib in "$SYSROOT"/usr/lib/x86_64-linux-gnu/lib{uring,inih,cmocka}.so.*; do
		[ -e "$lib" ] && cp -a "$lib" "$broot/usr/lib/x86_64-linux-gnu/"
	done

	# The CXL/nvdimm/dax modules and their dependencies (per the sysroot's
	# modules.dep; -C /nonexistent ignores the host's modprobe.d install hooks),
	# then a depmod of just this subset.
	local mdir=lib/modules/$kver ko
	mkdir -p "$broot/$mdir"
	cp "$SYSROOT/$mdir"/modules.{builtin,builtin.modinfo,order} "$broot/$mdir/"
	# shellcheck disable=SC2086 # CXL_MODULES is a word list
	while read -r ko; do
		mkdir -p "$broot$(dirname "${ko#"$SYSROOT"}")"
		cp "$ko" "$broot${ko#"$SYSROOT"}"
	done < <(modprobe -C /nonexistent -d "$SYSROOT" -S "$kver" --show-depends -a $CXL_MODULES |
		sed -n 's/^insmod \([^ ]*\).*/\1/p' | sort -u)
	depmod -b "$broot" "$kver"

	install -m 755 "$QEMU_DIR/init" "$broot/init"

	pack "$broot" | gzip -6 >"$base.tmp"
	# The kernel only takes an uncompressed archive that starts 4-byte aligned.
	local pad=$(($(stat -c %s "$base.tmp") % 4))
	[ "$pad" -eq 0 ] || head -c $((4 - pad)) /dev/zero >>"$base.tmp"
	mv "$base.tmp" "$base"
}

# Rebuild the base when missing or older than anything it is made from
# (under a lock: one builder at a time).
stale() {
	[ -s "$base" ] || return 0
	local f
	for f in "$QEMU_DIR/init" "$QEMU_DIR/mkinitramfs.sh" "$QEMU_DIR/common.sh" "$SYSROOT/.complete-$kver"; do
		[ "$f" -nt "$base" ] && return 0
	done
	return 1
}
if stale; then
	exec 9>"$BUILD_DIR/.initramfs.lock"
	flock 9
	if stale; then build_base; fi
	exec 9>&-
fi

mkdir -p "$(dirname "$out")"
cp "$base" "$out.tmp"
if [ -n "$payload" ]; then
	proot=$(mktemp -d "$BUILD_DIR/payload-root.XXXXXX")
	trap 'rm -rf "$proot"' EXIT
	mkdir -p "$proot/payload"
	cp -a "$payload/." "$proot/payload/"
	while IFS= read -r -d '' f; do
		is_elf "$f" && copy_libs "$proot" "$f" "$broot"
	done < <(find "$proot/payload" -type f -print0)
	pack "$proot" >>"$out.tmp"
fi
mv "$out.tmp" "$out"
printf '%s\n' "$out"
