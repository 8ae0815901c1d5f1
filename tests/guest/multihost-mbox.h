/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two-guest shared-pool test (tests/guest/multihost-guest.sh): the
 * mailbox both guests use to meet, and how each maps the shared region.
 *
 * Both guests see the same CXL device memory (qemu/run-pair.sh: one
 * memory-backend-file, share=on).  Region offset X is the same byte in
 * both.  Guest A formats a cxlms store on [0, MH_STORE_BYTES) of the
 * region; the mailbox is the region's last page, outside the store, so A's
 * module never claims it and A reaches it through /dev/mem like B does.
 * Each side writes only its own half (separate cache lines) and reads the
 * other's.  A fresh pool file is all zeros: no stale mailbox.
 */
#ifndef CXLMS_MULTIHOST_MBOX_H
#define CXLMS_MULTIHOST_MBOX_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MH_STORE_BYTES		(64ull << 20)
#define MH_MBOX_BYTES		4096u
#define MH_MAGIC_A		0x31304148534f484dull	/* "MHOSHA01" */
#define MH_MAGIC_B		0x31304248534f484dull	/* "MHOSHB01" */

/* a_state */
#define MH_A_READY		1	/* store formatted, tensors sealed */
#define MH_A_QUIET_DONE		2	/* quiet period passed: B may attack */
#define MH_A_DONE		3
/* b_state */
#define MH_B_WATCHING		1	/* joined, saw A's store; writes nothing */
#define MH_B_ATTACKING		2
#define MH_B_DONE		3

/* Attack kinds (b_attack, counted in b_count[]); 0 = none in progress. */
enum mh_attack {
	MH_ATK_NONE,
	/* (1) random garbage */
	MH_ATK_GARBAGE_SB,
	MH_ATK_GARBAGE_SB_PAGE,
	MH_ATK_GARBAGE_DIR,
	MH_ATK_GARBAGE_TILE,
	/* (2) valid CRCs, impossible fields */
	MH_ATK_DIR_OFF_PAST_END,
	MH_ATK_DIR_OFF_WRAP,
	MH_ATK_DIR_COUNT_OVER_CAP,
	MH_ATK_DIR_CAP_WRAP32,
	MH_ATK_DATA_USED_OVER,
	MH_ATK_DATA_PAST_END,
	MH_ATK_STORE_BYTES_OVER,
	MH_ATK_POLICY_OVER_DIR,
	MH_ATK_VERSION,
	MH_ATK_INCOMPAT,
	MH_ATK_TILE_PAST_END,
	MH_ATK_TILE_WRAP,
	MH_ATK_TILE_OVERLAP,
	MH_ATK_CRC_PAST_END,
	MH_ATK_NTILES_HUGE,
	MH_ATK_ROWS_MISMATCH,
	MH_ATK_TILE_ROWS_ZERO,
	MH_ATK_FMT,
	MH_ATK_FLAGS,
	MH_ATK_DUP_NAME,
	/* (3) tile bytes under a sealed tensor */
	MH_ATK_TILE_FLIP,
	MH_ATK_TILE_FLIP_MANY,
	MH_ATK_N
};

/* One half per guest; fields are only ever written by their owner. */
struct mh_mbox {
	/* guest A, bytes 0..2047 */
	uint64_t magic_a;
	uint64_t a_state;
	uint64_t nonce;			/* A's random number, B echoes it */
	uint64_t store_bytes;
	uint8_t uuid[16];		/* the store A formatted */
	uint64_t a_iter;		/* loop iterations (a heartbeat) */
	uint8_t pad_a[2048 - 56];
	/* guest B, bytes 2048..4095 */
	uint64_t magic_b;
	uint64_t b_state;
	uint64_t nonce_echo;
	uint64_t b_attack;		/* enum mh_attack in progress, or 0 */
	uint64_t b_attacks;		/* attacks done */
	uint64_t b_count[MH_ATK_N];	/* per kind */
};

_Static_assert(sizeof(struct mh_mbox) <= MH_MBOX_BYTES, "mailbox fits a page");

/* The mailbox fields are shared memory: read and write them once each. */
#define MH_READ(x)	(*(volatile __typeof__(x) *)&(x))
#define MH_WRITE(x, v)	do { __sync_synchronize(); \
			     *(volatile __typeof__(x) *)&(x) = (v); \
			     __sync_synchronize(); } while (0)

static inline double mh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void mh_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Map @len bytes of physical memory at @phys (page aligned) through
 * /dev/mem: allowed for a range no driver claims (the CXL region before a
 * module attaches it; qemu/README.md).  NULL with errno set on failure.
 */
static inline void *mh_map_phys(uint64_t phys, uint64_t len)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)phys);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

#endif /* CXLMS_MULTIHOST_MBOX_H */
