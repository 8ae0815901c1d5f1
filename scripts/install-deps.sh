#!/usr/bin/env bash
# Install the Debian packages cxlms builds and tests with, only those missing.
# Idempotent and quiet when everything is present; needs root to install.
set -euo pipefail

pkgs=(build-essential pkg-config python3 libcmocka-dev liburing-dev libcxl-dev libinih-dev
      clang libclang-rt-dev python3-numpy)
[ "${CXLMS_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$CXLMS_DEPS_EXTRA" && pkgs+=("${extra[@]}")

find_missing() {
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
}
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages and not root: apt-get install ${missing[*]}" >&2
	exit 1
fi
# One apt at a time with qemu/common.sh's installs (make -j runs both).
exec {apt_lock}>/run/lock/cxlms-apt.lock
flock "$apt_lock"
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
