#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install` into a temporary DESTDIR with a non-default PREFIX, then
# what an engine does with the installed copy: build a C program with
# nothing but `pkg-config --cflags --libs libcxlms` (pointed at the staged
# tree), run it against the installed shared object to import a
# safetensors file, open the store and fetch a tensor; the version macros
# against the .pc and the library; the SONAME links; the static archive;
# then `make uninstall` removes it all.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
TEST_PREFIX=/opt/cxlms-install-test

for tool in pkg-config cc make readelf; do
	if ! command -v $tool >/dev/null; then
		echo "$tool is not installed"
		exit 77
	fi
done

tmp=$(mktemp -d)
# The install regenerated $O/lib/libcxlms.pc for TEST_PREFIX: put the
# caller's back (PREFIX from the environment, as the build had it).
trap 'make -s O="$O" "$O/lib/libcxlms.pc" >/dev/null; rm -rf "$tmp"' EXIT
root=$tmp/root
pfx=$root$TEST_PREFIX
failed=0 passed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then pass; else fail "$what"; fi; }

if ! make -s O="$O" DESTDIR="$root" PREFIX="$TEST_PREFIX" install >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: make install"
	exit 1
fi

# --- what is where ---------------------------------------------------------
for f in bin/cxlms sbin/cxlmsd lib/libcxlms.a lib/pkgconfig/libcxlms.pc \
	 include/libcxlms.h include/cxlms/linux/cxlms.h share/man/man1/cxlms.1 \
	 share/man/man5/cxlmsd.conf.5 share/man/man8/cxlmsd.8 \
	 lib/systemd/system/cxlmsd.service; do
	check "installed $TEST_PREFIX/$f" test -f "$pfx/$f"
done
check "example config in /etc/cxlms" test -f "$root/etc/cxlms/cxlmsd.conf"
check "drop-in example is inert (not *.conf)" \
	test -f "$root/etc/cxlms/cxlmsd.conf.d/50-local.conf.example"
check "libcxlms.so -> libcxlms.so.1" test "$(readlink "$pfx/lib/libcxlms.so")" = libcxlms.so.1
real=$(readlink "$pfx/lib/libcxlms.so.1")
check "libcxlms.so.1 -> a real file ($real)" test -f "$pfx/lib/$real" -a ! -L "$pfx/lib/$real"
soname=$(readelf -d "$pfx/lib/libcxlms.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "SONAME is libcxlms.so.1 (got '$soname')" test "$soname" = libcxlms.so.1
check "unit runs the installed cxlmsd" \
	grep -q "^ExecStart=$TEST_PREFIX/sbin/cxlmsd " "$pfx/lib/systemd/system/cxlmsd.service"
check "installed cxlms runs" "$pfx/bin/cxlms" --version

# --- the .pc, seen as a user would -------------------------------------------
export PKG_CONFIG_PATH=$pfx/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
# pkgconf puts the sysroot in front of variables too.
check "pc prefix is the install PREFIX (regenerated)" \
	grep -qx "prefix=$TEST_PREFIX" "$pfx/lib/pkgconfig/libcxlms.pc"
cflags=$(pkg-config --cflags libcxlms) libs=$(pkg-config --libs libcxlms)
if [ -z "$libs" ]; then
	echo "FAIL: pkg-config --libs libcxlms: nothing"
	exit 1
fi
check "Cflags reach the staged include dir ($cflags)" grep -qF -- "-I$pfx/include" <<<"$cflags"
pcver=$(pkg-config --modversion libcxlms)

# The engine: nothing from the source tree, only what the .pc says.
mkdir -p "$tmp/engine" && cd "$tmp/engine" || exit 1
cat >engine.c <<'PROG'
#include <libcxlms.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>

#if !LIBCXLMS_VERSION_CHECK(1, 1)
#error "cxlms_fetch_pieces needs libcxlms 1.1"
#endif
#if LIBCXLMS_VERSION_CHECK(LIBCXLMS_VERSION_MAJOR, LIBCXLMS_VERSION_MINOR + 1)
#error "LIBCXLMS_VERSION_CHECK accepts a newer minor than the header"
#endif

/* A 3 x 5 F32 tensor whose values bf16 holds exactly. */
static int write_model(const char *path, float *v, int n)
{
	char hdr[128];
	uint64_t len;
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	for (int i = 0; i < n; i++)
		v[i] = (float)(i - 7) * 0.25f;
	len = (uint64_t)snprintf(hdr, sizeof(hdr),
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[3,5],\"data_offsets\":[0,%d]}}",
		n * 4);
	fwrite(&len, 8, 1, f);	/* little-endian host */
	fwrite(hdr, 1, len, f);
	fwrite(v, 4, (size_t)n, f);
	return fclose(f);
}

int main(int argc, char **argv)
{
	struct cxlms_import_opts io = { .format = CXLMS_FMT_BF16 };
	struct cxlms_ctx *ctx;
	struct cxlms_store *st;
	struct cxlms_tensor *t;
	float in[15], out[15];
	int64_t n;
	int err;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("%d.%d.0\n", LIBCXLMS_VERSION_MAJOR, LIBCXLMS_VERSION_MINOR);
		return 0;
	}
	if (cxlms_version() != LIBCXLMS_VERSION_NUMBER) {
		fprintf(stderr, "header %#x, library %#x\n", LIBCXLMS_VERSION_NUMBER,
			cxlms_version());
		return 1;
	}
	if (strcmp(cxlms_strerror(-EMEDIUMTYPE), "not a cxlms store")) {
		fprintf(stderr, "cxlms_strerror: %s\n", cxlms_strerror(-EMEDIUMTYPE));
		return 1;
	}
	if (write_model("m.safetensors", in, 15) ||
	    (err = cxlms_new(&ctx)) < 0 ||
	    (err = cxlms_import_safetensors(ctx, "m.safetensors", "m.cxlms", &io)) < 0 ||
	    (err = cxlms_open(ctx, "m.cxlms", 0, &st)) < 0 ||
	    (err = cxlms_tensor_lookup(st, "w", &t)) < 0) {
		fprintf(stderr, "setup: %s\n", cxlms_strerror(err));
		return 1;
	}
	n = cxlms_fetch(st, t, 0, 16, CXLMS_OUT_F32, CXLMS_RECON_DEFAULT, out, sizeof(out));
	if (n != (int64_t)sizeof(out) || memcmp(in, out, sizeof(out))) {
		fprintf(stderr, "fetch: %lld bytes, %s\n", (long long)n,
			n < 0 ? cxlms_strerror((int)n) : "data differs");
		return 1;
	}
	cxlms_store_unref(st);
	cxlms_unref(ctx);
	puts("fetched 15 elements, bit-exact");
	return 0;
}
PROG
# shellcheck disable=SC2086 # word splitting of the flags is the point
if ! cc -Wall -Werror -o engine engine.c $cflags $libs 2>"$tmp/cc.err"; then
	cat "$tmp/cc.err"
	echo "FAIL: engine does not build from pkg-config alone"
	exit 1
fi
pass
check "macros match the .pc Version ($pcver)" test "$(LD_LIBRARY_PATH=$pfx/lib ./engine --version)" = "$pcver"
# ldd's output is taken whole: `ldd | grep -q` under pipefail fails when
# grep exits first and ldd gets SIGPIPE.
deps=$(LD_LIBRARY_PATH=$pfx/lib ldd ./engine)
case $deps in
*"libcxlms.so.1 => $pfx/lib/"*) pass ;;
*) fail "engine does not load the installed libcxlms: $(echo "$deps" | grep cxlms)" ;;
esac
check "engine imports, opens and fetches through the installed library" \
	env LD_LIBRARY_PATH="$pfx/lib" ./engine

# Static: the archive plus what `--static` says it needs.
slibs=$(pkg-config --static --libs libcxlms | sed 's/-lcxlms//')
# shellcheck disable=SC2086
if cc -o engine-static engine.c $cflags "$pfx/lib/libcxlms.a" $slibs 2>"$tmp/cc.err" &&
   ! readelf -d engine-static | grep -q 'libcxlms'; then
	check "static engine runs" ./engine-static
else
	fail "static link from libcxlms.a: $(head -c 400 "$tmp/cc.err")"
fi
cd - >/dev/null || exit 1

# The reference Llama engine (engine/) builds against the staged install
# alone: proof that it uses nothing but the public <libcxlms.h>.
mkdir -p "$tmp/llama" && cp engine/llama.c engine/llama.h "$tmp/llama/" || exit 1
cat >"$tmp/llama/main.c" <<'PROG'
#include <stdio.h>
#include <stdlib.h>
#include "llama.h"

int main(int argc, char **argv)
{
	struct cxlms_ctx *ctx;
	struct cxlms_store *s;
	struct cxlms_llama *m;
	int32_t tok[3] = { 1, 2, 3 };
	float *logits;

	if (argc != 2 || cxlms_new(&ctx) || cxlms_open(ctx, argv[1], 0, &s) ||
	    cxlms_llama_open(s, NULL, &m)) {
		fprintf(stderr, "open: %s\n", cxlms_llama_last_error());
		return 1;
	}
	logits = malloc(cxlms_llama_get_config(m)->vocab * sizeof(float));
	if (!logits || cxlms_llama_forward(m, tok, 3, logits, CXLMS_LLAMA_LAST_ONLY))
		return 1;
	printf("%g\n", logits[0]);
	return 0;
}
PROG
"$O/tools/gen-model" -l 1 -c "$tmp/llama/config.json" "$tmp/llama/m.safetensors" >/dev/null &&
	"$O/cxlms" import -q "$tmp/llama/m.safetensors" "$tmp/llama/m.cxlms" ||
	fail "llama: test store"
# shellcheck disable=SC2086
if (cd "$tmp/llama" && cc -Wall -Wextra -Werror -std=gnu11 -O2 -o llama main.c llama.c \
	$cflags $libs -lm) 2>"$tmp/cc.err"; then
	check "engine/llama.c built from the .pc alone runs a forward pass" \
		env LD_LIBRARY_PATH="$pfx/lib" "$tmp/llama/llama" "$tmp/llama/m.cxlms"
else
	fail "engine/llama.c does not build against the installed header: $(head -c 400 "$tmp/cc.err")"
fi

# --- uninstall: a changed config stays, everything else goes ---------------
echo "# local change" >>"$root/etc/cxlms/cxlmsd.conf"
make -s O="$O" DESTDIR="$root" PREFIX="$TEST_PREFIX" uninstall >"$tmp/uninstall.log" 2>&1 ||
	fail "make uninstall: $(cat "$tmp/uninstall.log")"
left=$(find "$root" \( -type f -o -type l \) ! -path "$root/etc/cxlms/cxlmsd.conf" | head)
check "uninstall leaves nothing but the changed config (left: $left)" test -z "$left"
check "uninstall keeps a changed config" test -f "$root/etc/cxlms/cxlmsd.conf"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
