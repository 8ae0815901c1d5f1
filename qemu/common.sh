# shellcheck shell=bash
# Shared paths and helpers for the qemu/ scripts. Sourced, never run.

# Absolute directory of the qemu/ scripts, whatever the caller's cwd.
QEMU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${CXLMS_QEMU_BUILD:-$QEMU_DIR/build}
CACHE_DIR=${CXLMS_QEMU_CACHE:-$BUILD_DIR/cache}
SYSROOT=$BUILD_DIR/sysroot
KVER_FILE=$BUILD_DIR/kver
# Guest kernel modules the initramfs carries (their dependencies come along).
CXL_MODULES="cxl_acpi cxl_pci cxl_mem cxl_pmem libnvdimm nd_pmem nd_btt dax_pmem device_dax kmem dax_hmem"
export QEMU_DIR BUILD_DIR CACHE_DIR SYSROOT KVER_FILE CXL_MODULES

log() { printf '[qemu] %s\n' "$*" >&2; }
die() { printf '[qemu] error: %s\n' "$*" >&2; exit 1; }

# apt-get update at most once per process tree: the lists are only needed to
# resolve or fetch something that is not already here.
apt_update_once() {
	if [ -z "${CXLMS_APT_UPDATED:-}" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		CXLMS_APT_UPDATED=1
		export CXLMS_APT_UPDATED
	fi
}

# Install the Debian packages among "$@" that are not installed yet; no apt
# at all when every one is there.  --no-install-recommends: headless tools.
missing_pkgs() {
	local p status

	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || printf '%s\n' "$p"
	done
}

# Parallel make runs several of these at once: apt takes its locks without
# waiting, so installs queue on one lock of ours and look again once they
# hold it (the one before may have installed the same packages).
install_missing() {
	local missing

	mapfile -t missing < <(missing_pkgs "$@")
	[ "${#missing[@]}" -eq 0 ] && return 0
	exec {apt_lock}>/run/lock/cxlms-apt.lock
	flock "$apt_lock"
	mapfile -t missing < <(missing_pkgs "$@")
	if [ "${#missing[@]}" -gt 0 ]; then
		log "installing: ${missing[*]}"
		apt_update_once
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >&2
	fi
	exec {apt_lock}>&-
}

# The guest kernel release, e.g. 6.1.0-56-amd64: the cached one if a build
# already picked it (so cache, vmlinux and headers stay consistent), else the
# one Debian's linux-image-amd64 metapackage depends on right now.
detect_kver() {
	local kver=""
	if [ -s "$KVER_FILE" ]; then
		cat "$KVER_FILE"
		return 0
	fi
	kver=$(apt_cache_kver)
	if [ -z "$kver" ]; then
		apt_update_once
		kver=$(apt_cache_kver)
	fi
	[ -n "$kver" ] || die "cannot find linux-image-6.1.0-NN-amd64 via apt-cache depends linux-image-amd64"
	printf '%s\n' "$kver"
}

apt_cache_kver() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
