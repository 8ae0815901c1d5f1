/*
 * memcheck: write or verify a deterministic pattern in physical memory through
 * /dev/mem, used by the QEMU self-test to prove that bytes written into the
 * CXL region in one boot are still there in the next (no kernel module needed:
 * the region is not claimed by any driver, so STRICT_DEVMEM lets root map it).
 *
 * usage: memcheck write|verify PHYS LEN SEED
 *   PHYS and LEN page aligned (decimal or 0x hex); exit 0 ok, 1 mismatch, 2 error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* splitmix64: a cheap, well-mixed value per (seed, physical address). */
static uint64_t pattern(uint64_t seed, uint64_t addr)
{
	uint64_t z = seed + addr * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: %s write|verify PHYS LEN SEED\n", argv[0]);
		return 2;
	}
	int do_write = !strcmp(argv[1], "write");
	uint64_t phys = strtoull(argv[2], NULL, 0);
	uint64_t len = strtoull(argv[3], NULL, 0);
	uint64_t seed = strtoull(argv[4], NULL, 0);
	long page = sysconf(_SC_PAGESIZE);

	if (len == 0 || phys % page || len % page) {
		fprintf(stderr, "memcheck: PHYS and LEN must be page aligned and LEN > 0\n");
		return 2;
	}
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		fprintf(stderr, "memcheck: open /dev/mem: %s\n", strerror(errno));
		return 2;
	}
	volatile uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)phys);
	if (p == MAP_FAILED) {
		fprintf(stderr, "memcheck: mmap 0x%" PRIx64 "+0x%" PRIx64 ": %s\n", phys, len, strerror(errno));
		return 2;
	}
	uint64_t n = len / 8, bad = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t want = pattern(seed, phys + i * 8);
		if (do_write) {
			p[i] = want;
		} else if (p[i] != want) {
			if (bad++ < 4)
				fprintf(stderr, "memcheck: 0x%" PRIx64 ": got 0x%016" PRIx64 " want 0x%016" PRIx64 "\n",
					phys + i * 8, (uint64_t)p[i], want);
		}
	}
	munmap((void *)p, len);
	close(fd);
	printf("memcheck %s 0x%" PRIx64 "+0x%" PRIx64 ": %s\n", argv[1], phys, len,
	       bad ? "MISMATCH" : "ok");
	if (bad)
		fprintf(stderr, "memcheck: %" PRIu64 " of %" PRIu64 " words differ\n", bad, n);
	return bad ? 1 : 0;
}
