// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms-policy-probe - an engine-like process for cxlmsd's integration
 * tests (tests/integ/daemon-*.sh).  Not installed.
 *
 *   probe ctl SOCKET LINE...        send control lines, print the replies;
 *                                   exit 1 if any reply is an err
 *   probe bits STORE CONTEXT TENSOR print the bits of every tile
 *   probe fetch STORE CONTEXT NAME=BITS...
 *       fetch every tile of every tensor with CXLMS_BITS_POLICY under
 *       CONTEXT ("-": the store's default) and again with the explicit
 *       BITS the test expects for that tensor; the bytes and the store's
 *       read counters must agree exactly.  Prints per-tensor and total
 *       bytes read; exit 1 on any difference.
 *   probe notify-listen PATH        bind a datagram socket at PATH, print
 *                                   the first message (sd_notify), 5 s max
 *   probe sqnr STORE CONTEXT SAFETENSORS
 *       fetch every tensor as f32 with CXLMS_BITS_POLICY under CONTEXT and
 *       print bytes read, their share of a full-precision read, and the
 *       SQNR against the original weights (the demo's per-context line).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <math.h>
#include <signal.h>

#include <libcxlms.h>
#include "../tools/st-read.h"

static int ctl(const char *path, int n, char **lines)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd, i, bad = 0;
	FILE *in;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "probe: connect %s: %s\n", path, strerror(errno));
		return 2;
	}
	in = fdopen(dup(fd), "r");
	if (!in)
		return 2;
	for (i = 0; i < n; i++) {
		size_t len = strlen(lines[i]);

		/* A refused over-long line may be cut off: read the reply anyway. */
		if (write(fd, lines[i], len) == (ssize_t)len && write(fd, "\n", 1) == 1)
			;
		else if (errno != EPIPE && errno != ECONNRESET)
			return 2;
		while (fgets(buf, sizeof(buf), in)) {
			fputs(buf, stdout);
			if (!strncmp(buf, "ok", 2) && (buf[2] == '\n' || buf[2] == ' '))
				break;
			if (!strncmp(buf, "err ", 4)) {
				bad = 1;
				break;
			}
		}
	}
	fclose(in);
	close(fd);
	return bad;
}

static uint64_t bytes_read(struct cxlms_tensor *t)
{
	struct cxlms_stats st;
	uint64_t sum;
	int p;

	if (cxlms_tensor_get_stats(t, &st))
		return 0;
	sum = st.side_bytes;
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		sum += st.plane_bytes[p];
	return sum;
}

static int expected_bits(int n, char **want, const char *name)
{
	size_t len = strlen(name);
	int i;

	for (i = 0; i < n; i++)
		if (!strncmp(want[i], name, len) && want[i][len] == '=')
			return atoi(want[i] + len + 1);
	return -1;
}

static int fetch(struct cxlms_store *s, int n, char **want)
{
	struct cxlms_tensor *t;
	uint64_t total_policy = 0, total_expect = 0;
	int bad = 0;

	cxlms_tensor_foreach(s, t) {
		const char *name = cxlms_tensor_get_name(t);
		unsigned int tiles = cxlms_tensor_get_tile_count(t);
		int k = expected_bits(n, want, name);
		int64_t sp, se, got;
		uint64_t b0, b1, b2;
		void *a, *b;

		if (k < 1) {
			printf("tensor %s: no expected bits given\n", name);
			bad = 1;
			continue;
		}
		sp = cxlms_fetch_size(t, 0, tiles, CXLMS_BITS_POLICY, CXLMS_OUT_PLANES, 0);
		se = cxlms_fetch_size(t, 0, tiles, (unsigned int)k, CXLMS_OUT_PLANES, 0);
		if (sp < 0 || se < 0) {
			printf("tensor %s: fetch size: policy %" PRId64 ", explicit %" PRId64 "\n",
			       name, sp, se);
			bad = 1;
			continue;
		}
		a = calloc(1, (size_t)sp + 1);
		b = calloc(1, (size_t)se + 1);
		if (!a || !b)
			return 2;
		b0 = bytes_read(t);
		got = cxlms_fetch_tiles(s, t, 0, tiles, CXLMS_BITS_POLICY, CXLMS_OUT_PLANES,
					0, a, (size_t)sp);
		b1 = bytes_read(t);
		if (got != sp) {
			printf("tensor %s: policy fetch returned %" PRId64 " (%s)\n", name,
			       got, got < 0 ? strerror((int)-got) : "short");
			bad = 1;
		}
		got = cxlms_fetch_tiles(s, t, 0, tiles, (unsigned int)k, CXLMS_OUT_PLANES,
					0, b, (size_t)se);
		b2 = bytes_read(t);
		if (got != se || sp != se || memcmp(a, b, (size_t)se)) {
			printf("tensor %s: policy output differs from %d-bit output\n", name, k);
			bad = 1;
		}
		if (b1 - b0 != b2 - b1) {
			printf("tensor %s: policy read %" PRIu64 " bytes, %d bits reads %" PRIu64 "\n",
			       name, b1 - b0, k, b2 - b1);
			bad = 1;
		}
		printf("tensor %s bits %d bytes %" PRIu64 "\n", name, k, b1 - b0);
		total_policy += b1 - b0;
		total_expect += b2 - b1;
		free(a);
		free(b);
	}
	printf("total policy %" PRIu64 " expected %" PRIu64 "\n", total_policy,
	       total_expect);
	return bad;
}

static int print_bits(struct cxlms_store *s, const char *tensor)
{
	struct cxlms_tensor *t;
	unsigned int i, n;
	uint64_t gen;
	uint8_t *bits;
	int rc;

	if (cxlms_tensor_lookup(s, tensor, &t))
		return 2;
	n = cxlms_tensor_get_tile_count(t);
	bits = malloc(n);
	if (!bits)
		return 2;
	rc = cxlms_policy_get_bits(t, 0, n, bits, &gen);
	if (rc) {
		fprintf(stderr, "probe: policy bits: %s\n", strerror(-rc));
		free(bits);
		return 1;
	}
	printf("generation %" PRIu64 " bits", gen);
	for (i = 0; i < n; i++)
		printf(" %u", bits[i]);
	printf("\n");
	free(bits);
	return 0;
}

/* Whole-model SQNR: signal and error energy summed over every weight. */
static int sqnr(struct cxlms_store *s, const char *ctxname, const char *st_path)
{
	struct cxlms_tensor *t;
	struct st_file sf;
	double sig = 0, err = 0;
	uint64_t bytes = 0, full = 0;
	char why[256];
	int bad = 0;

	if (st_open(st_path, &sf, why, sizeof(why))) {
		fprintf(stderr, "probe: %s: %s\n", st_path, why);
		return 2;
	}
	cxlms_tensor_foreach(s, t) {
		const struct st_tensor *ref = st_find(&sf, cxlms_tensor_get_name(t));
		unsigned int tiles = cxlms_tensor_get_tile_count(t);
		uint64_t n = cxlms_tensor_get_elems(t), i, b0;
		int64_t sz = cxlms_fetch_size(t, 0, tiles, CXLMS_BITS_POLICY, CXLMS_OUT_F32, 0);
		struct cxlms_fetch_info fi;
		unsigned int k;
		float *got, *want;

		if (!ref || sz < 0 || (uint64_t)sz != n * 4) {
			bad = 1;
			continue;
		}
		got = malloc((size_t)sz);
		want = malloc((size_t)n * 4);
		if (!got || !want)
			return 2;
		st_read_f32(&sf, ref, want);
		b0 = bytes_read(t);
		if (cxlms_fetch_tiles(s, t, 0, tiles, CXLMS_BITS_POLICY, CXLMS_OUT_F32, 0,
				      got, (size_t)sz) != sz)
			bad = 1;
		bytes += bytes_read(t) - b0;
		for (k = 0; k < tiles; k++)
			if (!cxlms_fetch_info(t, k, cxlms_tensor_get_planes(t), CXLMS_OUT_F32,
					      0, &fi))
				full += fi.bytes_read;
		for (i = 0; i < n; i++) {
			double d = (double)got[i] - (double)want[i];

			sig += (double)want[i] * want[i];
			err += d * d;
		}
		free(got);
		free(want);
	}
	st_close(&sf);
	printf("context %-10s bytes read %10" PRIu64 "  (%5.1f%% of full)  SQNR %6.2f dB\n",
	       ctxname, bytes, full ? 100.0 * (double)bytes / (double)full : 0.0,
	       err > 0 ? 10.0 * log10(sig / err) : INFINITY);
	return bad;
}

static int notify_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	char buf[256];
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return 2;
	printf("listening\n");
	fflush(stdout);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	printf("%s\n", buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct cxlms_store *s = NULL;
	struct cxlms_ctx *ctx;
	char name[CXLMS_CONTEXT_NAME_MAX];
	int rc;

	if (argc >= 3 && !strcmp(argv[1], "ctl"))
		return ctl(argv[2], argc - 3, argv + 3);
	if (argc == 3 && !strcmp(argv[1], "notify-listen"))
		return notify_listen(argv[2]);
	if (argc < 4 || (strcmp(argv[1], "bits") && strcmp(argv[1], "fetch") &&
			 strcmp(argv[1], "sqnr"))) {
		fprintf(stderr, "usage: probe ctl SOCKET LINE... | bits STORE CONTEXT TENSOR |"
			" fetch STORE CONTEXT NAME=BITS... | sqnr STORE CONTEXT SAFETENSORS\n");
		return 2;
	}
	if (cxlms_new(&ctx) || cxlms_open(ctx, argv[2], 0, &s)) {
		fprintf(stderr, "probe: cannot open %s\n", argv[2]);
		return 2;
	}
	rc = cxlms_set_context(s, strcmp(argv[3], "-") ? argv[3] : NULL);
	if (rc) {
		fprintf(stderr, "probe: set context %s: %s\n", argv[3], strerror(-rc));
		return 1;
	}
	if (cxlms_get_context(s, name, sizeof(name)))
		snprintf(name, sizeof(name), "?");
	if (!strcmp(argv[1], "sqnr")) {
		rc = argc == 5 ? sqnr(s, name, argv[4]) : 2;
	} else {
		printf("context %s\n", name);
		if (!strcmp(argv[1], "bits"))
			rc = argc == 5 ? print_bits(s, argv[4]) : 2;
		else
			rc = fetch(s, argc - 4, argv + 4);
	}
	cxlms_store_unref(s);
	cxlms_unref(ctx);
	return rc;
}
