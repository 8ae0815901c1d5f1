#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fetch.sh [--tools] [DIR] - fetch and build llama.cpp's ggml, the peer the
# GEMV and engine benchmarks measure against (docs/performance.md).
#
# The source is the llama.cpp tree that node-llama-cpp@3.21.1 ships as a git
# bundle (ggml 0.23.0), taken from the npm registry with `npm pack` (no
# install scripts run).  It is built with cmake for this CPU (GGML_NATIVE:
# what a user building llama.cpp here gets) into DIR, default
# $CXLMS_GGML_DIR or ~/.cache/cxlms-ggml, never into the source tree.
# --tools also builds llama-bench and llama-quantize (about 5 minutes).
# Idempotent: a finished build is reused.  Prints DIR on stdout at the end.
# Exit 0 ok, 1 a failure (the message says which step), 2 usage.
set -eu

PKG=node-llama-cpp
VER=3.21.1
tools=0
dir=
for a in "$@"; do
	case "$a" in
	--tools) tools=1 ;;
	-h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fetch.sh: unknown option $a" >&2; exit 2 ;;
	*) dir=$a ;;
	esac
done
dir=${dir:-${CXLMS_GGML_DIR:-$HOME/.cache/cxlms-ggml}}
src=$dir/llama.cpp
bld=$src/build

die() { echo "fetch.sh: $*" >&2; exit 1; }
say() { echo "fetch.sh: $*" >&2; }

# Debian packages the fetch and build need; installed here, not by
# scripts/install-deps.sh, because `make check` does not need them.
need=
command -v npm >/dev/null 2>&1 || need="$need npm"
command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v g++ >/dev/null 2>&1 || need="$need g++"
command -v git >/dev/null 2>&1 || need="$need git"
if [ -n "$need" ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	say "installing$need"
	$sudo apt-get install -y --no-install-recommends $need >&2 ||
		die "missing$need and apt-get could not install them"
fi

mkdir -p "$dir"
# One build at a time per DIR (two benchmarks may start together).
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi

stamp=$bld/.cxlms-ggml-$VER
[ $tools = 1 ] && stamp=$stamp-tools
if [ -f "$stamp" ]; then
	echo "$dir"
	exit 0
fi

tgz=$dir/$PKG-$VER.tgz
if [ ! -f "$tgz" ]; then
	say "fetching $PKG@$VER from the npm registry"
	tmp=$(mktemp -d "$dir/pack.XXXXXX")
	if ! (cd "$tmp" && timeout 300 npm pack --silent "$PKG@$VER" >/dev/null 2>"$tmp/err"); then
		cat "$tmp/err" >&2
		rm -rf "$tmp"
		die "cannot fetch $PKG@$VER: the npm registry is unreachable or refused (npm pack failed; see above). Set CXLMS_GGML_DIR to a directory holding a finished build to skip the fetch."
	fi
	mv "$tmp/$PKG-$VER.tgz" "$tgz"
	rm -rf "$tmp"
fi

if [ ! -d "$src/ggml/include" ]; then
	say "unpacking the llama.cpp source from $PKG@$VER"
	rm -rf "$dir/pkg" "$src"
	mkdir -p "$dir/pkg"
	tar xzf "$tgz" -C "$dir/pkg" package/llama/gitRelease.bundle ||
		die "$tgz holds no llama/gitRelease.bundle"
	git clone -q "$dir/pkg/package/llama/gitRelease.bundle" "$src" 2>/dev/null ||
		die "git clone of the bundle in $tgz failed"
	rm -rf "$dir/pkg"
fi

if [ ! -f "$bld/CMakeCache.txt" ]; then
	say "configuring ggml (cmake, native CPU) in $bld"
	cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
		-DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
		-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
		>"$dir/cmake.log" 2>&1 || die "cmake configure failed, see $dir/cmake.log"
fi
targets="ggml ggml-base ggml-cpu"
[ $tools = 1 ] && targets="$targets llama-bench llama-quantize"
say "building $targets (log: $dir/build.log)"
# shellcheck disable=SC2086
nice -n 10 cmake --build "$bld" -j2 --target $targets >"$dir/build.log" 2>&1 ||
	die "the ggml build failed, see $dir/build.log"
[ -f "$bld/bin/libggml-cpu.so" ] || die "no $bld/bin/libggml-cpu.so after the build"
touch "$bld/.cxlms-ggml-$VER"
touch "$stamp"
echo "$dir"
