// SPDX-License-Identifier: GPL-2.0
/*
 * multihost-a: guest A of the shared-pool test (multihost-guest.sh).  A
 * formats a cxlms store on the first MH_STORE_BYTES of the CXL region with
 * its module (/dev/cxlms0), seals a few tensors, and then loops:
 *
 *   attach (no FORMAT: validates what is in the shared memory now), list,
 *   fetch and compare with the userspace codec, VERIFY, (every 4th pass)
 *   create + write + seal a new tensor and fetch it back, detach.
 *
 * Guest B (multihost-b.c) shares the same memory and rewrites the store
 * under A.  Phases, driven through the mailbox (multihost-mbox.h):
 *   quiet:  B has joined but writes nothing; every call must succeed and
 *           every fetch match (the negative control within the run);
 *   attack: until B says it is done; every call must return, either
 *           success or an errno from the set that operation may cleanly
 *           fail with, and A must see at least one such error (else the
 *           sharing did not happen);
 *   after:  FORMAT again, create, seal, fetch, verify, detach: the module
 *           still serves a store.
 * A listed tensor A did not create (or with other metadata) would be a
 * crafted entry the module accepted: a failure.  A tensor A sealed that is
 * no longer listed (B's undo put back an older superblock) and fetched
 * bytes that differ (B flipped tile bytes) are counted as B's doing.
 * A watchdog alarm ends the program if any call takes longer than
 * CALL_LIMIT_S (a hang).
 *
 *   multihost-a START SIZE QUIET_SECONDS [--expect-clean] [--wait S] [--tap-base N]
 * --expect-clean: B is in --watch-only mode (negative control): A must
 * see no error at all in either phase.  Exit 0 ok, 1 a check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxlms_util.h"
#include "multihost-mbox.h"

#define PROG		"multihost-a"
static double wait_s = 120;	/* --wait: for B to join, for B to finish */
#define CALL_LIMIT_S	60
#define DIR_CAP		1024
#define MAX_REG		(DIR_CAP + 8)
#define N_BASE		3
#define BUF		(256u << 10)

struct reg {
	struct cxt_tensor t;
	bool sealed;		/* A sealed it in this format epoch */
};

static struct reg reg[MAX_REG];
static unsigned int n_reg;
static struct mh_mbox *mb;
static int fd;
static uint64_t start;
static struct cxt_tap ts = { .prefix = "mhost A: " };


/* --- calls under a watchdog, results counted ------------------------------ */

enum op { OP_ATTACH, OP_LIST, OP_FETCH, OP_VERIFY, OP_CREATE, OP_DETACH, OP_FORMAT, OP_N };
static const char *const op_name[OP_N] = {
	"attach", "list", "fetch", "verify", "create+seal", "detach", "format",
};
/* errnos each operation may cleanly fail with while B rewrites the store */
static const int op_clean[OP_N][8] = {
	[OP_ATTACH] = { EMEDIUMTYPE, EPROTONOSUPPORT, ENODATA, EBADMSG, EUCLEAN,
			EOPNOTSUPP },
	[OP_FETCH] = { EIO },
	[OP_VERIFY] = { EBADMSG, EIO },
	[OP_CREATE] = { ENOSPC, EIO },
};

#define MAX_ERRNO	256
struct stats {
	uint64_t calls[OP_N], ok[OP_N];
	uint64_t err[OP_N][MAX_ERRNO];	/* clean errors by errno */
	uint64_t unexpected;		/* errnos outside op_clean */
	uint64_t by_attack[MH_ATK_N];	/* errors while B had attack k applied */
	uint64_t mismatch, lost, foreign, reformats, iters;
	double max_call;
};
static struct stats st_quiet, st_attack, st_after;
static struct stats *st = &st_quiet;
static const char *cur_op = "-";

static void on_alarm(int sig)
{
	static const char msg[] = "not ok - mhost A: a call did not return within the "
				  "watchdog limit (hang)\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(3);
}

static double call_t0;

static void call_begin(enum op op)
{
	cur_op = op_name[op];
	st->calls[op]++;
	alarm(CALL_LIMIT_S);
	call_t0 = mh_now();
}

static bool clean_errno(enum op op, int err)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(op_clean[op]) && op_clean[op][i]; i++)
		if (op_clean[op][i] == err)
			return true;
	return false;
}

/* Count the result of the call; returns @ret. */
static int call_end(enum op op, int ret, const char *what)
{
	double dt = mh_now() - call_t0;

	alarm(0);
	if (dt > st->max_call)
		st->max_call = dt;
	if (!ret) {
		st->ok[op]++;
		return 0;
	}
	st->by_attack[MH_READ(mb->b_attack) % MH_ATK_N]++;
	if (-ret > 0 && -ret < MAX_ERRNO && clean_errno(op, -ret)) {
		st->err[op][-ret]++;
	} else {
		st->unexpected++;
		printf("# " PROG ": unexpected: %s%s%s: %s\n", op_name[op], what ? " " : "",
		       what ? what : "", strerror(-ret));
	}
	return ret;
}

/* --- the registry of what A created ---------------------------------------- */

static struct reg *reg_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < n_reg; i++)
		if (!strcmp(reg[i].t.name, name))
			return &reg[i];
	return NULL;
}

static int reg_gen(unsigned int serial)
{
	static const uint64_t s_int8[] = { 32, 64 }, s_bf16[] = { 24, 40 };
	static const uint64_t b0[] = { 64, 256 }, b1[] = { 40, 72 }, b2[] = { 1000 };
	struct reg *r = &reg[n_reg];
	char name[64];
	int ret;

	if (n_reg == MAX_REG)
		return -ENOSPC;
	snprintf(name, sizeof(name), serial < N_BASE ? "mh.base.%u" : "mh.%u", serial);
	switch (serial < N_BASE ? serial : N_BASE + serial % 2) {
	case 0:
		ret = cxt_tensor_gen(&r->t, name, CXLMS_FMT_INT8, 2, b0, 128, 128, 16, serial);
		break;
	case 1:
		ret = cxt_tensor_gen(&r->t, name, CXLMS_FMT_BF16, 2, b1, 0, 0, 12, serial);
		break;
	case 2:
		ret = cxt_tensor_gen(&r->t, name, CXLMS_FMT_FP16, 1, b2, 0, 0, 0, serial);
		break;
	case 3:
		ret = cxt_tensor_gen(&r->t, name, CXLMS_FMT_INT8, 2, s_int8, 32, 128, 8, serial);
		break;
	default:
		ret = cxt_tensor_gen(&r->t, name, CXLMS_FMT_BF16, 2, s_bf16, 0, 0, 6, serial);
		break;
	}
	if (ret)
		return ret;
	r->sealed = false;
	n_reg++;
	return 0;
}

static void reg_clear(void)
{
	while (n_reg)
		cxt_tensor_free(&reg[--n_reg].t);
}

/* Fetch tile @tile of @t at @bits and compare with the codec: 0, 1 = differs, -errno. */
static int fetch_cmp(const struct cxt_tensor *t, uint32_t tile, uint32_t bits)
{
	static uint8_t kbuf[BUF], rbuf[BUF];
	uint32_t out = bits % 2 ? CXLMS_OUT_INT : CXLMS_OUT_PLANES;
	int64_t n = cxt_ref_fetch(t, tile, bits, out, 0, rbuf, BUF);
	uint64_t written = 0;
	int ret;

	if (n < 0)
		return (int)n;	/* the reference itself: a test bug */
	call_begin(OP_FETCH);
	ret = call_end(OP_FETCH, cxt_fetch(fd, t->index, tile, 1, bits, out, 0, kbuf, BUF,
					   &written, NULL), t->name);
	if (ret)
		return ret;
	return written != (uint64_t)n || memcmp(kbuf, rbuf, (size_t)n) ? 1 : 0;
}

/* Create, write, seal the next tensor and read it back. */
static int create_one(unsigned int serial)
{
	struct reg *r;
	int ret = reg_gen(serial);

	if (ret)
		return ret;
	r = &reg[n_reg - 1];
	call_begin(OP_CREATE);
	ret = call_end(OP_CREATE, cxt_tensor_upload(fd, &r->t, true), r->t.name);
	if (ret) {
		cxt_tensor_free(&r->t);
		n_reg--;
		return ret;
	}
	r->sealed = true;
	ret = fetch_cmp(&r->t, r->t.n_tiles - 1, r->t.l.n_planes);
	if (ret == 1)
		st->mismatch++;
	return 0;
}

static unsigned int serial = N_BASE;	/* 0..N_BASE-1 are the base tensors */

/* FORMAT the store and seal the base tensors (a new epoch: registry reset). */
static int format_store(void)
{
	char why[CXLMS_WHY_LEN];
	unsigned int i;
	int ret;

	reg_clear();
	call_begin(OP_FORMAT);
	ret = call_end(OP_FORMAT, cxt_attach_cxl(fd, start, MH_STORE_BYTES, true, DIR_CAP,
						 why, sizeof(why)), why);
	if (ret)
		return ret;
	for (i = 0; i < N_BASE && !ret; i++)
		ret = create_one(i);
	if (ret) {
		call_begin(OP_DETACH);
		call_end(OP_DETACH, cxt_detach(fd), NULL);
	}
	return ret;
}

/*
 * One pass over the attached store: list, check each entry against the
 * registry, fetch a few tiles, VERIFY.
 */
static void check_store(unsigned int iter)
{
	static struct cxlms_ioc_tensor_info info[MAX_REG];
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = MAX_REG, .entry_size = sizeof(info[0]),
		.entries = (uintptr_t)info,
	};
	struct cxlms_ioc_verify v;
	bool listed[MAX_REG] = { false };
	unsigned int i;

	call_begin(OP_LIST);
	if (call_end(OP_LIST, cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl), NULL))
		return;
	for (i = 0; i < tl.count; i++) {
		struct reg *r = reg_find(info[i].name);
		struct cxt_tensor *t;
		int ret;

		if (!r || info[i].fmt != r->t.fmt || info[i].ndim != r->t.ndim ||
		    memcmp(info[i].shape, r->t.shape, sizeof(r->t.shape)) ||
		    info[i].n_tiles != r->t.n_tiles || info[i].tile_rows != r->t.g.tile_rows) {
			st->foreign++;
			printf("# " PROG ": listed entry %u '%.40s' is not one A created\n",
			       i, info[i].name);
			continue;
		}
		listed[r - reg] = true;
		t = &r->t;
		t->index = info[i].index;
		if (!(info[i].flags & CXLMS_TENSOR_SEALED))
			continue;
		/* The base tensors, the newest two and one more each pass. */
		if (r - reg >= N_BASE && r - reg + 2 < (long)n_reg && i % 8 != iter % 8)
			continue;
		ret = fetch_cmp(t, (iter + i) % t->n_tiles, 1 + (iter + i) % t->l.n_planes);
		if (ret == 1)
			st->mismatch++;
	}
	for (i = 0; i < n_reg; i++)
		if (reg[i].sealed && !listed[i])
			st->lost++;
	call_begin(OP_VERIFY);
	call_end(OP_VERIFY, cxt_verify(fd, CXLMS_TENSOR_ALL, &v), v.why);
}

#define REFORMAT_S	1.5
static double fail_since;	/* attach failing since, or 0 */

static void iteration(unsigned int iter)
{
	char why[CXLMS_WHY_LEN];
	int ret;

	st->iters++;
	MH_WRITE(mb->a_iter, mb->a_iter + 1);
	call_begin(OP_ATTACH);
	ret = call_end(OP_ATTACH, cxt_attach_cxl(fd, start, MH_STORE_BYTES, false, 0,
						 why, sizeof(why)), why);
	if (ret) {
		/*
		 * B's undo can lose a race with A's own update and leave a
		 * store that never validates again: start over when attach
		 * has failed for longer than B holds any rewrite (400 ms).
		 */
		if (!fail_since)
			fail_since = mh_now();
		if (mh_now() - fail_since > REFORMAT_S) {
			fail_since = 0;
			st->reformats++;
			if (format_store())
				return;
			goto detach;
		}
		mh_sleep_ms(10);
		return;
	}
	fail_since = 0;
	check_store(iter);
	/*
	 * A create rewrites the superblock (A's copy over whatever B put
	 * there): only every 4th pass, so that B's crafted superblocks live
	 * long enough for the next attaches to validate them.
	 */
	if (iter % 4)
		goto detach;
	ret = create_one(serial);
	if (!ret)
		serial++;
	else if (ret == -ENOSPC) {
		/* directory or data full: a new epoch */
		call_begin(OP_DETACH);
		call_end(OP_DETACH, cxt_detach(fd), NULL);
		st->reformats++;
		if (format_store())
			return;
	}
detach:
	call_begin(OP_DETACH);
	call_end(OP_DETACH, cxt_detach(fd), NULL);
}

static uint64_t errors(const struct stats *s)
{
	uint64_t n = s->unexpected;
	unsigned int op, e;

	for (op = 0; op < OP_N; op++)
		for (e = 0; e < MAX_ERRNO; e++)
			n += s->err[op][e];
	return n;
}

static void report(const char *phase, const struct stats *s)
{
	unsigned int op, e;

	printf("# " PROG ": %s: %" PRIu64 " iterations, longest call %.3f s\n", phase,
	       s->iters, s->max_call);
	for (op = 0; op < OP_N; op++) {
		if (!s->calls[op])
			continue;
		printf("# " PROG ":   %-12s %6" PRIu64 " calls %6" PRIu64 " ok", op_name[op],
		       s->calls[op], s->ok[op]);
		for (e = 0; e < MAX_ERRNO; e++)
			if (s->err[op][e])
				printf(", %" PRIu64 " %s", s->err[op][e], strerrorname_np((int)e));
		printf("\n");
	}
	printf("# " PROG ":   unexpected errnos %" PRIu64 ", fetch mismatches %" PRIu64
	       ", sealed tensors lost %" PRIu64 ", foreign entries accepted %" PRIu64
	       ", re-formats %" PRIu64 "\n", s->unexpected, s->mismatch, s->lost,
	       s->foreign, s->reformats);
	for (e = 1; e < MH_ATK_N; e++)
		if (s->by_attack[e])
			printf("# " PROG ":   errors while B's attack %u was in place: %" PRIu64 "\n",
			       e, s->by_attack[e]);
}

#define WAIT_FOR(cond, secs) ({						\
	double _end = mh_now() + (secs);				\
	bool _ok;							\
	while (!(_ok = (cond)) && mh_now() < _end)			\
		mh_sleep_ms(20);					\
	_ok; })

int main(int argc, char **argv)
{
	struct cxlms_ioc_query q;
	struct cxlms_ioc_verify v;
	uint64_t size, nonce;
	double quiet_s, t0, t1;
	bool expect_clean = false, ok;
	unsigned int iter = 0, i;
	int ret;

	if (argc < 4) {
		fprintf(stderr, "usage: " PROG " START SIZE QUIET_SECONDS [--expect-clean] "
			"[--wait S] [--tap-base N]\n");
		return 2;
	}
	start = strtoull(argv[1], NULL, 0);
	size = strtoull(argv[2], NULL, 0);
	quiet_s = strtod(argv[3], NULL);
	for (i = 4; i < (unsigned int)argc; i++) {
		if (!strcmp(argv[i], "--expect-clean"))
			expect_clean = true;
		else if (!strcmp(argv[i], "--wait") && i + 1 < (unsigned int)argc)
			wait_s = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--tap-base") && i + 1 < (unsigned int)argc)
			ts.n = (unsigned int)strtoul(argv[++i], NULL, 0);
	}
	signal(SIGALRM, on_alarm);
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = cxt_open();
	mb = size >= MH_STORE_BYTES + MH_MBOX_BYTES ?
	     mh_map_phys(start + size - MH_MBOX_BYTES, MH_MBOX_BYTES) : NULL;
	if (fd < 0 || !mb) {
		cxt_tap(&ts, false, "open /dev/cxlms0 and map the mailbox (%s)",
		    fd < 0 ? strerror(-fd) : strerror(errno));
		return 1;
	}

	/* The store B will see: format, seal the base tensors, check them. */
	ret = format_store();
	if (!ret) {
		for (i = 0; i < n_reg && !ret; i++)
			ret = fetch_cmp(&reg[i].t, 0, reg[i].t.l.n_planes) ? -EPROTO : 0;
		if (!ret)
			ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v);
		if (!ret)
			ret = cxt_query(fd, &q);
	}
	cxt_tap(&ts, !ret, "FORMAT of the shared region as a cxlms store, %u tensors sealed, fetched "
	    "and verified (%s)", N_BASE, ret ? strerror(-ret) : "ok");
	if (ret)
		return 1;
	cxt_detach(fd);

	if (read(open("/dev/urandom", O_RDONLY | O_CLOEXEC), &nonce, sizeof(nonce)) !=
	    sizeof(nonce))
		nonce = (uint64_t)(mh_now() * 1e9);
	MH_WRITE(mb->nonce, nonce | 1);
	MH_WRITE(mb->store_bytes, MH_STORE_BYTES);
	memcpy((void *)mb->uuid, q.uuid, sizeof(q.uuid));
	MH_WRITE(mb->magic_a, MH_MAGIC_A);
	MH_WRITE(mb->a_state, MH_A_READY);

	t0 = mh_now();
	ok = WAIT_FOR(MH_READ(mb->magic_b) == MH_MAGIC_B &&
		      MH_READ(mb->nonce_echo) == (nonce | 1) &&
		      MH_READ(mb->b_state) >= MH_B_WATCHING, wait_s);
	cxt_tap(&ts, ok, "guest B joined through the shared pool (echoed A's nonce after %.1f s)",
	    mh_now() - t0);
	if (!ok)
		return 1;

	/* Quiet: B is there and writes nothing. */
	st = &st_quiet;
	t0 = mh_now();
	while (mh_now() < t0 + quiet_s)
		iteration(iter++);
	report("quiet period", &st_quiet);
	cxt_tap(&ts, st_quiet.iters && !errors(&st_quiet) && !st_quiet.mismatch && !st_quiet.lost &&
	    !st_quiet.foreign && !st_quiet.reformats,
	    "quiet period (B joined, not writing): %" PRIu64 " iterations, every call "
	    "succeeded, every fetch matched the codec", st_quiet.iters);

	/* Attack: until B is done. */
	st = &st_attack;
	MH_WRITE(mb->a_state, MH_A_QUIET_DONE);
	t1 = mh_now();
	while (MH_READ(mb->b_state) != MH_B_DONE && mh_now() < t1 + wait_s)
		iteration(iter++);
	ok = MH_READ(mb->b_state) == MH_B_DONE;
	if (!ok)
		cxt_tap(&ts, false, "guest B finished within %.0f s", wait_s);
	/* A last pass once B has stopped (its undo may have lost races). */
	iteration(iter++);
	report(expect_clean ? "B watching (control)" : "B rewriting", &st_attack);
	printf("# " PROG ": B reported %" PRIu64 " rewrites in %.1f s\n",
	       MH_READ(mb->b_attacks), mh_now() - t1);

	cxt_tap(&ts, !st_attack.unexpected && !st_attack.foreign,
	    "while B rewrote the store: %" PRIu64 " iterations, every call returned "
	    "(longest %.2f s, limit %d s) with success or a clean errno; no crafted entry "
	    "accepted", st_attack.iters, st_attack.max_call, CALL_LIMIT_S);
	if (expect_clean)
		cxt_tap(&ts, !errors(&st_attack) && !st_attack.mismatch && !st_attack.lost,
		    "negative control: B only watching, A saw %" PRIu64 " errors, %" PRIu64
		    " mismatches, %" PRIu64 " lost tensors (want 0)", errors(&st_attack),
		    st_attack.mismatch, st_attack.lost);
	else
		cxt_tap(&ts, errors(&st_attack) > 0,
		    "B's rewrites reached A through the shared pool: %" PRIu64 " clean errors "
		    "(%" PRIu64 " fetch mismatches, %" PRIu64 " lost tensors, %" PRIu64
		    " re-formats besides)", errors(&st_attack), st_attack.mismatch,
		    st_attack.lost, st_attack.reformats);

	/* After: the module still formats and serves a store. */
	st = &st_after;
	ret = format_store();
	if (!ret)
		ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v) ?: (v.checked == N_BASE ? 0 : -EPROTO);
	for (i = 0; i < n_reg && !ret; i++)
		ret = fetch_cmp(&reg[i].t, 0, reg[i].t.l.n_planes) ? -EPROTO : 0;
	if (!ret)
		ret = cxt_detach(fd);
	else
		cxt_detach(fd);
	cxt_tap(&ts, !ret && !st_after.unexpected,
	    "after B stopped: FORMAT, create, seal, fetch, verify, detach work (%s)",
	    ret ? strerror(-ret) : "ok");
	MH_WRITE(mb->a_state, MH_A_DONE);
	return ts.fail ? 1 : 0;
}
