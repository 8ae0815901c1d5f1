// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness: the safetensors reader (lib/safetensors.c), the
 * header JSON parser and the tensor checks, on an arbitrary file image.
 * On success every tensor's byte range must lie in the data area, and the
 * harness reads its first and last byte so ASan sees any range that does
 * not.
 */
#include "fuzz_common.h"
#include "safetensors.h"

static struct cxlms_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ctx = fuzz_ctx();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cxlms_st_file f;
	volatile uint8_t sink = 0;
	size_t i;
	int rc;

	rc = cxlms_st_parse(ctx, "fuzz", data, size, &f);
	if (rc) {
		FUZZ_ASSERT(rc < 0 && !f.tensors && !f.n_tensors);
		return 0;
	}
	FUZZ_ASSERT(8 + f.header_len + f.data_len == size);
	FUZZ_ASSERT(f.data == data + 8 + f.header_len);
	if (f.meta_json) {
		FUZZ_ASSERT(f.meta_json >= data + 8 &&
			    f.meta_json + f.meta_len <= data + 8 + f.header_len);
		FUZZ_ASSERT(f.meta_len >= 2 && f.meta_json[0] == '{' &&
			    f.meta_json[f.meta_len - 1] == '}');
	}
	for (i = 0; i < f.n_tensors; i++) {
		const struct cxlms_st_tensor *t = &f.tensors[i];

		FUZZ_ASSERT(t->begin <= t->end && t->end <= f.data_len);
		FUZZ_ASSERT(t->data == f.data + t->begin);
		FUZZ_ASSERT(strnlen(t->name, CXLMS_NAME_MAX) < CXLMS_NAME_MAX);
		FUZZ_ASSERT(t->ndim <= CXLMS_MAX_DIMS);
		if (t->end > t->begin) {
			sink ^= t->data[0];
			sink ^= t->data[t->end - t->begin - 1];
		}
	}
	(void)sink;
	cxlms_st_release(&f);
	return 0;
}
