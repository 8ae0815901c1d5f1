// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Store validation: a valid image passes, and every corruption class is
 * refused with its own error code and a message naming the tensor.  After
 * a structural corruption the CRCs are recomputed, so what refuses the
 * store is the structural check, not a checksum.
 */
#include "codec_test_util.h"
#include "store_format.h"
#include "store_builder.h"

static const struct sbuild_tensor tensors[] = {
	{ "layers.0.w", CXLMS_FMT_INT8, CXLMS_DTYPE_F32, 2, { 64, 300 }, 128, 16 },
	{ "layers.0.b", CXLMS_FMT_BF16, CXLMS_DTYPE_BF16, 1, { 300 }, 0, 0 },
	{ "emb", CXLMS_FMT_FP16, CXLMS_DTYPE_F16, 3, { 2, 3, 40 }, 0, 4 },
	{ "layers.1.w", CXLMS_FMT_INT8, CXLMS_DTYPE_I8, 2, { 50, 33 }, 16, 0 },
};
#define N_TENSORS (sizeof(tensors) / sizeof(tensors[0]))

static char why[512];

static int setup(void **state)
{
	struct sbuild_image *img = calloc(1, sizeof(*img));

	if (!img || sbuild(tensors, N_TENSORS, img))
		return -1;
	*state = img;
	return 0;
}

static int teardown(void **state)
{
	sbuild_free(*state);
	free(*state);
	return 0;
}

static int dir_check(struct sbuild_image *img)
{
	memset(why, 0x7f, sizeof(why));
	return cxlms_dir_check(img->mem, img->len, why, sizeof(why));
}

/* The error and a message that names @name (and says @what, if given). */
static void expect(struct sbuild_image *img, int err, const char *name, const char *what)
{
	int ret = dir_check(img);

	if (ret != -err) {
		print_error("got %d (%s), want %d\n", ret, why, -err);
		fail();
	}
	assert_non_null(memchr(why, '\0', sizeof(why)));
	if (name) {
		char quoted[300];

		snprintf(quoted, sizeof(quoted), "tensor '%s'", name);
		if (!strstr(why, quoted)) {
			print_error("message \"%s\" does not name %s\n", why, quoted);
			fail();
		}
	}
	if (what && !strstr(why, what)) {
		print_error("message \"%s\" does not say \"%s\"\n", why, what);
		fail();
	}
}

static void test_valid(void **state)
{
	struct sbuild_image *img = *state;

	assert_int_equal(cxlms_sb_check(img->mem, img->len, why, sizeof(why)), 0);
	assert_int_equal(dir_check(img), 0);
	for (unsigned i = 0; i < N_TENSORS; i++)
		assert_int_equal(cxlms_tile_crc_check(img->mem, &img->dir[i], why, sizeof(why)), 0);
	/* a 3-D tensor is folded to rows x cols, the last tile may be short */
	assert_int_equal(img->dir[2].rows, 6);
	assert_int_equal(img->dir[2].cols, 40);
	assert_int_equal(img->dir[2].n_tiles, 2);
	assert_int_equal(cxlms_dirent_tile_elems(&img->dir[2], 0), 160);
	assert_int_equal(cxlms_dirent_tile_elems(&img->dir[2], 1), 80);
	assert_int_equal(cxlms_dirent_tile_elems(&img->dir[2], 2), 0);
	/* NULL or tiny message buffers are fine */
	assert_int_equal(cxlms_dir_check(img->mem, img->len, NULL, 0), 0);
	img->sb->magic[0] = 'X';
	assert_int_equal(cxlms_dir_check(img->mem, img->len, why, 1), -CXLMS_EFOREIGN);
	assert_int_equal(why[0], '\0');
}

static void test_bad_magic(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->magic[7] ^= 1;
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EFOREIGN, NULL, "magic");
	/* too short to even hold the magic */
	assert_int_equal(cxlms_sb_check(img->mem, 4, why, sizeof(why)), -CXLMS_EFOREIGN);
}

static void test_bad_version(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->version = CXLMS_STORE_VERSION + 1;
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EVERSION, NULL, "version");
}

static void test_unknown_incompat_feature(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->feature_incompat = 1ull << 40;
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EVERSION, NULL, "feature");
}

static void test_unknown_compat_feature_ok(void **state)
{
	struct sbuild_image *img = *state;

	/* compat features are ignorable by definition */
	img->sb->feature_compat = 1ull << 40;
	cxlms_sb_seal(img->sb);
	assert_int_equal(dir_check(img), 0);
}

static void test_truncated(void **state)
{
	struct sbuild_image *img = *state;

	assert_int_equal(cxlms_dir_check(img->mem, img->len - 1, why, sizeof(why)),
			 -CXLMS_ETRUNCATED);
	assert_int_equal(cxlms_sb_check(img->mem, sizeof(struct cxlms_sb) - 1, why,
					sizeof(why)), -CXLMS_ETRUNCATED);
	assert_int_equal(cxlms_sb_check(img->mem, 100, why, sizeof(why)), -CXLMS_ETRUNCATED);
	/* exactly the bytes available, so ASan sees any read past them */
	{
		uint8_t *head = malloc(100);

		memcpy(head, img->mem, 100);
		assert_int_equal(cxlms_dir_check(head, 100, why, sizeof(why)),
				 -CXLMS_ETRUNCATED);
		free(head);
	}
}

static void test_sb_crc(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->generation++;
	expect(img, CXLMS_ECHECKSUM, NULL, "superblock");
}

static void test_dir_crc(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].shape[0]++;
	img->dir[1].cols++;
	cxlms_dirent_seal(&img->dir[1]);	/* entry fine, directory crc stale */
	expect(img, CXLMS_ECHECKSUM, NULL, "directory checksum");
}

static void test_entry_crc(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[3].flags = 0;
	img->sb->dir_crc = cxlms_dir_crc(img->dir, img->sb->dir_count);
	cxlms_sb_seal(img->sb);		/* directory crc fine, entry crc stale */
	expect(img, CXLMS_ECHECKSUM, "layers.1.w", "entry checksum");
}

/* Superblock areas: each case on a fresh copy of the image. */
static void test_area_out_of_bounds(void **state)
{
	struct sbuild_image *img = *state;
	uint8_t *orig = xcalloc(img->len);
	struct cxlms_sb *sb = img->sb;

	memcpy(orig, img->mem, img->len);
#define AREA_CASE(stmt, what) do {					\
		memcpy(img->mem, orig, img->len);			\
		stmt;							\
		cxlms_sb_seal(sb);					\
		expect(img, CXLMS_EINVALID, NULL, what);		\
	} while (0)
	AREA_CASE(sb->data_bytes += 1, "data area");
	AREA_CASE(sb->data_bytes = ~0ull - 100, "data area");
	AREA_CASE((sb->data_off += 64, sb->data_bytes -= 64), "data area out of bounds, misaligned");	/* misaligned */
	AREA_CASE(sb->data_off = sb->dir_off, "data area");		/* overlaps dir */
	AREA_CASE(sb->dir_off = 64, "directory area");			/* inside the sb */
	AREA_CASE(sb->dir_off += 8, "directory area");			/* misaligned */
	AREA_CASE(sb->dir_off = ~0ull - 511, "directory area");
	AREA_CASE(sb->dir_capacity = 0xffffffffu, "directory area");
	AREA_CASE(sb->dir_count = sb->dir_capacity + 1, "capacity");
	AREA_CASE(sb->data_used = sb->data_bytes + 1, "data area use");
	AREA_CASE(sb->policy_bytes = 64, "policy");			/* offset 0 */
	AREA_CASE((sb->policy_off = sb->data_off - 96, sb->policy_bytes = 64), "policy");
	AREA_CASE(sb->policy_off = sb->data_off - 64, "disagree");	/* size 0 */
	AREA_CASE((sb->policy_off = sb->data_off, sb->policy_bytes = 64), "data area");
	AREA_CASE((sb->policy_off = sb->dir_off, sb->policy_bytes = 64), "policy");
	AREA_CASE(sb->sb_len = 200, "length");
	AREA_CASE(sb->store_bytes = 1024, "smaller");
#undef AREA_CASE
	/* a policy area between the crc area and the data is fine */
	memcpy(img->mem, orig, img->len);
	sb->policy_off = sb->data_off - 64;
	sb->policy_bytes = 64;
	cxlms_sb_seal(sb);
	assert_int_equal(cxlms_sb_check(img->mem, img->len, why, sizeof(why)), 0);
	free(orig);
}

static void test_sb_reserved_nonzero(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->reserved[11] = 1;
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EINVALID, NULL, "reserved");
}

static void test_sb_pad_nonzero(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->pad = 1;
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EINVALID, NULL, "reserved");
}

static void test_overlapping_tile_ranges(void **state)
{
	struct sbuild_image *img = *state;

	/* tensor 3 moved onto tensor 0's last tile */
	img->dir[3].tile_off = img->dir[1].tile_off - 4096;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.1.w", "overlaps");
	assert_non_null(strstr(why, "tensor 'layers.0.w'"));
}

static void test_overlapping_crc_arrays(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].crc_off = img->dir[1].crc_off;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "CRC array");
}

static void test_crc_array_outside_area(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].crc_off = img->sb->data_off - 8;	/* 4 tiles run into the data */
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "CRC area");
	img->dir[0].crc_off = img->sb->dir_off;		/* inside the directory */
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "CRC area");
	/* misaligned, inside the area */
	img->dir[0].crc_off = img->sb->dir_off + img->sb->dir_capacity * 512ull + 2;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "CRC array misaligned");
}

static void test_tile_range_past_data_used(void **state)
{
	struct sbuild_image *img = *state;

	img->sb->data_used -= 4096;	/* the last tensor's last page */
	cxlms_sb_seal(img->sb);
	expect(img, CXLMS_EINVALID, "layers.1.w", "tile range");
	assert_non_null(strstr(why, "data area"));
}

static void test_tile_off_misaligned(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].tile_off += 64;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "aligned");
}

static void test_tile_off_before_data(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].tile_off = img->sb->data_off - 4096;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "tile range");
}

static void test_bad_fmt(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].fmt = 9;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.b", "format");
}

static void test_bad_src_dtype(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].src_dtype = 0;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.b", "dtype");
}

static void test_bad_geometry(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].group_size = 0;	/* INT8 needs a group size */
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "geometry");
	img->dir[0].group_size = 128;
	img->dir[1].group_size = 8;	/* BF16 has none */
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.b", "geometry");
}

/* cols beyond 32 bits must not wrap into a valid geometry */
static void test_huge_cols(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].shape[0] = (1ull << 32) + 300;
	img->dir[1].cols = (1ull << 32) + 300;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.b", "geometry");
}

static void test_shape_rows_mismatch(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].rows = 7;		/* shape 2x3x40 folds to 6 rows */
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "shape");
}

static void test_shape_cols_mismatch(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].shape[2] = 41;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "shape");
}

static void test_bad_ndim(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].ndim = 0;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "ndim");
	img->dir[0].ndim = 9;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "ndim");
}

static void test_shape_past_ndim(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].shape[1] = 1;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.b", "past ndim");
}

static void test_zero_dim(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].shape[0] = 0;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "zero");
}

static void test_shape_overflow(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].shape[0] = 1ull << 40;
	img->dir[2].shape[1] = 1ull << 40;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "overflow");
}

static void test_n_tiles_mismatch(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].n_tiles--;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "n_tiles");
}

static void test_duplicate_names(void **state)
{
	struct sbuild_image *img = *state;

	memset(img->dir[3].name, 0, CXLMS_NAME_MAX);
	strcpy(img->dir[3].name, "emb");
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "duplicate");
}

static void test_unterminated_name(void **state)
{
	struct sbuild_image *img = *state;

	memset(img->dir[1].name, 'x', CXLMS_NAME_MAX);
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, NULL, "entry 1: name not NUL-terminated");
}

static void test_empty_name(void **state)
{
	struct sbuild_image *img = *state;

	memset(img->dir[1].name, 0, CXLMS_NAME_MAX);
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, NULL, "entry 1: empty name");
}

static void test_bytes_after_name(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].name[100] = 'z';
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "after the name");
}

static void test_unknown_flags(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].flags |= 1u << 5;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "emb", "flags");
}

static void test_reserved_nonzero(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].reserved[13] = 1;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.0.w", "reserved");
}

static void test_pad_nonzero(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[3].pad0 = 1;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.1.w", "reserved");
	img->dir[3].pad0 = 0;
	img->dir[3].pad1 = 1;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "layers.1.w", "reserved");
}

static void test_unprintable_name_in_message(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[2].name[1] = '\n';
	img->dir[2].fmt = 0;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, "e?b", "format");
}

static void test_tile_crc_flipped_bit(void **state)
{
	struct sbuild_image *img = *state;
	const struct cxlms_dirent *d = &img->dir[0];
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;

	cxlms_dirent_geom(d, &g);
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	/* one bit of plane 5 of tile 2 */
	img->mem[d->tile_off + 2 * l.tile_bytes + l.planes_off + 5 * l.plane_stride + 17] ^= 0x10;
	/* metadata is still fine: only the tile CRC check sees it */
	assert_int_equal(dir_check(img), 0);
	assert_int_equal(cxlms_tile_crc_check(img->mem, d, why, sizeof(why)), -CXLMS_ECHECKSUM);
	assert_non_null(strstr(why, "tensor 'layers.0.w'"));
	assert_non_null(strstr(why, "tile 2"));
	/* the other tensors are untouched */
	assert_int_equal(cxlms_tile_crc_check(img->mem, &img->dir[3], why, sizeof(why)), 0);
}

static void test_tile_crc_unsealed(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[1].flags = 0;
	sbuild_reseal(img);
	assert_int_equal(dir_check(img), 0);	/* an unsealed entry is valid metadata */
	assert_int_equal(cxlms_tile_crc_check(img->mem, &img->dir[1], why, sizeof(why)),
			 -CXLMS_EINVALID);
	assert_non_null(strstr(why, "not sealed"));
}

/* Many tensors: validation is sort-based, still exact about overlaps. */
static void test_many_tensors(void **state)
{
	enum { N = 300 };
	struct sbuild_tensor *t = xcalloc(N * sizeof(*t));
	char (*names)[16] = xcalloc(N * 16);
	struct sbuild_image img;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], 16, "t.%d", i);
		t[i] = (struct sbuild_tensor){ names[i], CXLMS_FMT_FP16, CXLMS_DTYPE_F16, 1,
					       { 1 + i % 7 }, 0, 0 };
	}
	assert_int_equal(sbuild(t, N, &img), 0);
	assert_int_equal(dir_check(&img), 0);
	img.dir[250].tile_off = img.dir[17].tile_off;
	sbuild_reseal(&img);
	expect(&img, CXLMS_EINVALID, "t.250", "overlaps");
	assert_non_null(strstr(why, "'t.17'"));
	img.dir[250].tile_off = img.dir[251].tile_off - 4096;
	memset(img.dir[299].name, 0, CXLMS_NAME_MAX);
	strcpy(img.dir[299].name, "t.5");
	sbuild_reseal(&img);
	assert_int_equal(dir_check(&img), -CXLMS_EINVALID);
	assert_non_null(strstr(why, "duplicate"));
	assert_non_null(strstr(why, "'t.5'"));
	sbuild_free(&img);
	free(names);
	free(t);
}


/* --- DUAL stores (format.md 1.5): two slots, two directory copies -------- */

static int setup_dual(void **state)
{
	struct sbuild_image *img = calloc(1, sizeof(*img));

	if (!img || sbuild_dual(tensors, N_TENSORS, img))
		return -1;
	*state = img;
	return 0;
}

static struct cxlms_sb *slot1(struct sbuild_image *img)
{
	return (struct cxlms_sb *)(img->mem + CXLMS_SB_SLOT_BYTES);
}

static struct cxlms_dirent *copy1(struct sbuild_image *img)
{
	return (struct cxlms_dirent *)(img->mem + img->sb->dir_off +
				       img->sb->dir_capacity * 512ull);
}

/* Generation @gen into slot 1 and copy 1: copy 0's first @count entries. */
static void write_slot1(struct sbuild_image *img, uint64_t gen, uint32_t count)
{
	struct cxlms_sb *s1 = slot1(img);

	*s1 = *img->sb;
	s1->generation = gen;
	s1->dir_count = count;
	memcpy(copy1(img), img->dir, count * sizeof(*img->dir));
	s1->dir_crc = cxlms_dir_crc(copy1(img), count);
	cxlms_sb_seal(s1);
}

static void pick(struct sbuild_image *img, uint64_t gen, uint32_t count)
{
	struct cxlms_sb sb;
	int ret;

	memset(&sb, 0, sizeof(sb));
	ret = cxlms_store_pick(img->mem, img->len, &sb, NULL, why, sizeof(why));
	if (ret) {
		print_error("pick: %d (%s)\n", ret, why);
		fail();
	}
	assert_int_equal(sb.generation, gen);
	assert_int_equal(sb.dir_count, count);
	assert_int_equal(cxlms_sb_dir_copy(&sb), img->sb->dir_off +
			 (gen & 1) * img->sb->dir_capacity * 512ull);
	assert_int_equal(dir_check(img), 0);
}

static void test_dual_one_slot(void **state)
{
	struct sbuild_image *img = *state;

	/* Slot 1 is all zero: only slot 0 holds the store. */
	pick(img, 2, N_TENSORS);
	assert_int_equal(cxlms_sb_dir_bytes(img->sb),
			 2 * img->sb->dir_capacity * 512ull);
}

static void test_dual_newer_slot_wins(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 3, N_TENSORS - 1);
	pick(img, 3, N_TENSORS - 1);
	/* The same bytes one generation on: slot 0 wins again. */
	img->sb->generation = 4;
	cxlms_sb_seal(img->sb);
	pick(img, 4, N_TENSORS);
}

/* A torn superblock write: the slot's CRC fails, the other slot counts. */
static void test_dual_torn_slot(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 3, N_TENSORS - 1);
	slot1(img)->data_used ^= 0x40;
	pick(img, 2, N_TENSORS);
}

/* A torn directory copy: its superblock is valid, its directory is not. */
static void test_dual_torn_copy(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 3, N_TENSORS);
	copy1(img)[N_TENSORS - 1].tile_off ^= 1ull << 20;
	pick(img, 2, N_TENSORS);
	/* Even resealed the entry is caught by the directory CRC. */
	cxlms_dirent_seal(&copy1(img)[N_TENSORS - 1]);
	pick(img, 2, N_TENSORS);
}

/* A slot holds only generations of its parity. */
static void test_dual_wrong_parity(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 4, N_TENSORS - 1);
	assert_int_equal(cxlms_sb_slot_check(slot1(img), 1, img->len, why,
					     sizeof(why)), -CXLMS_EINVALID);
	assert_non_null(strstr(why, "generation"));
	pick(img, 2, N_TENSORS);
}

/* The newest slot torn: the older one is the store. */
static void test_dual_newest_torn(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 1, N_TENSORS - 2);
	img->sb->dir_count ^= 1;	/* slot 0 (generation 2) torn */
	pick(img, 1, N_TENSORS - 2);
}

/* Generations wrap at 2^64: 0 comes after 2^64 - 1 (serial arithmetic). */
static void test_dual_generation_wrap(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, UINT64_MAX, N_TENSORS - 1);
	img->sb->generation = UINT64_MAX - 1;
	cxlms_sb_seal(img->sb);
	pick(img, UINT64_MAX, N_TENSORS - 1);
	img->sb->generation = 0;
	cxlms_sb_seal(img->sb);
	pick(img, 0, N_TENSORS);
	assert_true(cxlms_sb_newer(img->sb, slot1(img)));
	assert_false(cxlms_sb_newer(slot1(img), img->sb));
	/* The wrapped slot torn: the one before the wrap is the store. */
	img->sb->data_used ^= 1;
	pick(img, UINT64_MAX, N_TENSORS - 1);
}

/* A bad superblock CRC in slot 0 with an older valid slot 1: slot 1. */
static void test_dual_bad_crc_slot0(void **state)
{
	struct sbuild_image *img = *state;

	write_slot1(img, 1, N_TENSORS - 1);
	img->sb->sb_crc ^= 0x100;
	pick(img, 1, N_TENSORS - 1);
	/* And a bad one in slot 1 with slot 0 fine again: slot 0. */
	img->sb->sb_crc ^= 0x100;
	write_slot1(img, 3, N_TENSORS - 1);
	slot1(img)->sb_crc ^= 1;
	pick(img, 2, N_TENSORS);
}

/* The recovery rule itself: single-copy slot 0 alone, else newest first. */
static void test_slot_order(void **state)
{
	struct sbuild_image *img = *state;
	struct cxlms_sb s0 = *img->sb, s1 = *img->sb;
	uint32_t order[2];

	s1.generation = 3;
	assert_int_equal(cxlms_slot_order(&s0, 1, &s1, 1, order), 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
	assert_int_equal(cxlms_slot_order(&s0, 0, &s1, 1, order), 1);
	assert_int_equal(order[0], 1);
	assert_int_equal(cxlms_slot_order(&s0, 1, &s1, 0, order), 1);
	assert_int_equal(order[0], 0);
	assert_int_equal(cxlms_slot_order(&s0, 0, &s1, 0, order), 0);
	s0.feature_incompat &= ~CXLMS_FEAT_INCOMPAT_DUAL;
	assert_int_equal(cxlms_slot_order(&s0, 1, &s1, 1, order), 1);
	assert_int_equal(order[0], 0);
}

static void test_dual_both_torn(void **state)
{
	struct sbuild_image *img = *state;
	struct cxlms_sb sb;

	write_slot1(img, 3, N_TENSORS);
	slot1(img)->dir_count ^= 1;
	img->sb->data_used ^= 1;
	assert_int_equal(cxlms_store_pick(img->mem, img->len, &sb, NULL, why, sizeof(why)),
			 -CXLMS_ECHECKSUM);
	assert_non_null(strstr(why, "superblock checksum"));
	assert_int_equal(dir_check(img), -CXLMS_ECHECKSUM);
}

/* The CRC area starts after both copies. */
static void test_dual_crc_array_in_copy1(void **state)
{
	struct sbuild_image *img = *state;

	img->dir[0].crc_off = img->sb->dir_off + img->sb->dir_capacity * 512ull;
	sbuild_reseal(img);
	expect(img, CXLMS_EINVALID, tensors[0].name, "outside the CRC area");
}

/* A single-copy store never looks at slot 1, and slot 1 is never single. */
static void test_single_ignores_slot1(void **state)
{
	struct sbuild_image *img = *state;
	struct cxlms_sb sb;

	*slot1(img) = *img->sb;
	slot1(img)->generation = 7;
	cxlms_sb_seal(slot1(img));
	assert_int_equal(cxlms_store_pick(img->mem, img->len, &sb, NULL, why, sizeof(why)), 0);
	assert_int_equal(sb.generation, 1);
	assert_int_equal(cxlms_sb_dir_copy(&sb), img->sb->dir_off);
	assert_int_equal(cxlms_sb_slot_check(slot1(img), 1, img->len, why,
					     sizeof(why)), -CXLMS_EINVALID);
	/* A torn single-copy superblock is not rescued by slot 1. */
	img->sb->data_used ^= 1;
	assert_int_equal(dir_check(img), -CXLMS_ECHECKSUM);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TD(f) cmocka_unit_test_setup_teardown(f, setup_dual, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid),
		T(test_bad_magic),
		T(test_bad_version),
		T(test_unknown_incompat_feature),
		T(test_unknown_compat_feature_ok),
		T(test_truncated),
		T(test_sb_crc),
		T(test_dir_crc),
		T(test_entry_crc),
		T(test_area_out_of_bounds),
		T(test_sb_reserved_nonzero),
		T(test_sb_pad_nonzero),
		T(test_overlapping_tile_ranges),
		T(test_overlapping_crc_arrays),
		T(test_crc_array_outside_area),
		T(test_tile_range_past_data_used),
		T(test_tile_off_misaligned),
		T(test_tile_off_before_data),
		T(test_bad_fmt),
		T(test_bad_src_dtype),
		T(test_bad_geometry),
		T(test_huge_cols),
		T(test_shape_rows_mismatch),
		T(test_shape_cols_mismatch),
		T(test_bad_ndim),
		T(test_shape_past_ndim),
		T(test_zero_dim),
		T(test_shape_overflow),
		T(test_n_tiles_mismatch),
		T(test_duplicate_names),
		T(test_unterminated_name),
		T(test_empty_name),
		T(test_bytes_after_name),
		T(test_unknown_flags),
		T(test_reserved_nonzero),
		T(test_pad_nonzero),
		T(test_unprintable_name_in_message),
		T(test_tile_crc_flipped_bit),
		T(test_tile_crc_unsealed),
		cmocka_unit_test(test_many_tensors),
		T(test_single_ignores_slot1),
		TD(test_dual_one_slot),
		TD(test_dual_newer_slot_wins),
		TD(test_dual_torn_slot),
		TD(test_dual_torn_copy),
		TD(test_dual_wrong_parity),
		TD(test_dual_newest_torn),
		TD(test_dual_both_torn),
		TD(test_dual_generation_wrap),
		TD(test_dual_bad_crc_slot0),
		TD(test_slot_order),
		TD(test_dual_crc_array_in_copy1),
	};

	return cmocka_run_group_tests_name("store_format", tests, NULL, NULL);
}
