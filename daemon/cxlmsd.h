/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cxlmsd internals: the configuration (config.c), tensor-name matching
 * (match.c), the map engine (engine.c), the control protocol (control.c)
 * and the daemon loop (cxlmsd.c).  Everything but cxlmsd.c is testable
 * without a store, a socket or a signal: tests/unit/test_policy_*.c.
 */
#ifndef CXLMSD_H
#define CXLMSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/cxlms.h>
#include "policy_format.h"

#define CXLMSD_DEFAULT_CONFIG	"/etc/cxlms/cxlmsd.conf"
#define CXLMSD_DEFAULT_SOCKET	"/run/cxlms/cxlmsd.sock"
/* Bits value meaning "every plane the tensor has". */
#define CXLMSD_BITS_FULL	CXLMS_MAX_PLANES
/* Longest config line and control line we accept. */
#define CXLMSD_LINE_MAX		1024

enum cxlmsd_mode {
	CXLMSD_MODE_FIXED = CXLMS_POLICY_MODE_FIXED,
	CXLMSD_MODE_BUDGET = CXLMS_POLICY_MODE_BUDGET,
	CXLMSD_MODE_PRESSURE = CXLMS_POLICY_MODE_PRESSURE,
};

/* --- configuration --------------------------------------------------------- */

/**
 * struct cxlmsd_rule - `rule = PATTERN [tiles=A-B] [bits=N] [min=N] [max=N]
 * [importance=X]`; unset numbers are 0 (bits/min/max) or negative
 * (importance)
 * @pattern: glob on the tensor name (match.c), numeric ranges per segment
 * @tile_lo, @tile_hi: tiles the rule covers (inclusive; 0..UINT32_MAX: all)
 * @file_rank: which file it came from (rules of later files match first)
 */
struct cxlmsd_rule {
	char *pattern;
	uint32_t tile_lo, tile_hi;
	unsigned int bits, min, max;
	double importance;
	unsigned int file_rank;
	char *file;
	int line;
};

/**
 * struct cxlmsd_context - one [context NAME] section (merged over files)
 * @budget_x100: budget mode: average bits over all weights, times 100
 * @pressure_high, @pressure_low: bytes/s thresholds (high > low)
 * @pressure_step_x100: bits the average drops per pressure level, x100
 * @relative: objective = relative: weigh every tile's error relative to its
 *	own magnitude instead of in weight units (objective = mse, default)
 */
struct cxlmsd_context {
	char name[CXLMS_POLICY_NAME_MAX];
	enum cxlmsd_mode mode;
	bool mode_set;
	unsigned int default_bits;
	unsigned int min_bits, max_bits;
	uint32_t budget_x100;
	uint64_t pressure_high, pressure_low;
	uint32_t pressure_step_x100;
	bool relative;
	struct cxlmsd_rule *rules;
	unsigned int n_rules;
	char *file;		/* where the section first appeared */
	int line;
};

struct cxlmsd_config {
	char *store_path;
	char *socket_path;
	unsigned int socket_mode;
	char *socket_group;	/* NULL: the daemon's group */
	char *default_context;
	unsigned int interval_ms;
	struct cxlmsd_context *contexts;
	unsigned int n_contexts;
	/* Diagnostics: "file:line: message" lines. */
	char **errors;
	unsigned int n_errors;
};

/*
 * Parse @main_path and then every *.conf in @dropin_dir (NULL: "<main
 * without .conf>.conf.d", i.e. /etc/cxlms/cxlmsd.conf.d) in name order,
 * then validate.  Returns 0 with a complete config, or -EINVAL with
 * cfg->errors filled (each "file:line: what"), -ENOMEM.  Always call
 * cxlmsd_config_free() afterwards.
 */
int cxlmsd_config_load(struct cxlmsd_config *cfg, const char *main_path,
		       const char *dropin_dir);
void cxlmsd_config_free(struct cxlmsd_config *cfg);
struct cxlmsd_context *cxlmsd_config_find(const struct cxlmsd_config *cfg,
					  const char *name);

/* Parse "N" or "full" as bits 1..16; false if invalid. */
bool cxlmsd_parse_bits(const char *s, unsigned int *bits);
/* Parse "3", "3.5", "3.25" as x100 fixed point in [lo, hi] (x100). */
bool cxlmsd_parse_x100(const char *s, uint32_t lo, uint32_t hi, uint32_t *v);
/* Parse a byte rate "500M", "2G", "1048576" (binary suffixes K M G T). */
bool cxlmsd_parse_rate(const char *s, uint64_t *v);

/* --- matching -------------------------------------------------------------- */

/*
 * Glob match of @name against @pattern: '*' any run (dots included), '?'
 * one byte, '[...]' a class ('!' or '^' negates, a-z ranges), '\' escapes;
 * and a dot-separated segment of the form N-M (decimal, N <= M) matches a
 * whole name segment holding a decimal number in [N, M]: layers.0-3.*
 */
bool cxlmsd_match(const char *pattern, const char *name);
/* The same, and the number of matcher steps in *@steps (tests bound it). */
bool cxlmsd_match_steps(const char *pattern, const char *name,
			unsigned long *steps);
/* Does @pattern parse (balanced classes, sane ranges)?  Why in @why. */
bool cxlmsd_pattern_valid(const char *pattern, const char **why);

/* --- the engine ------------------------------------------------------------ */

/**
 * struct cxlmsd_model - what the engine needs of a store
 * @n_tensors: tensors, directory order
 * @names: tensor names
 * @planes: planes of each tensor's format (8 or 16)
 * @min_bits: fewest bits every output of the format can serve (1 int8,
 *	9 bf16, 6 fp16: sign and whole exponent for dequantized outputs)
 * @tile_base: first global tile of each tensor; [n_tensors] = n_tiles
 * @tile_elems: elements of each global tile
 * @importance: reported importance of each tile (1.0 unless reported)
 * @energy: error power per element of each tile at 0 bits, so that b bits
 *	leave about energy * 4^-b (NULL: all 1, tests)
 */
struct cxlmsd_model {
	unsigned int n_tensors;
	char **names;
	uint8_t *planes;
	uint8_t *min_bits;
	uint32_t *tile_base;
	uint32_t n_tiles;
	uint64_t *tile_elems;
	double *importance;
	double *energy;
};

/* Resolved attributes of one tile in one context (first matching rule). */
struct cxlmsd_tile_attr {
	unsigned int lo, hi;	/* allowed bits, after format clamps */
	unsigned int want;	/* fixed-mode bits */
	double importance;	/* static x reported */
};

/**
 * struct cxlmsd_ctx_state - runtime state of one context
 * @level: pressure level (0: no step down)
 * @avg_x100: average bits of the last map, x100
 */
struct cxlmsd_ctx_state {
	unsigned int level;
	unsigned int max_level;
	uint32_t avg_x100;
};

/*
 * Compute the map of @c over @m into @map (m->n_tiles bytes) at pressure
 * level @st->level (ignored unless pressure mode); fills @st->avg_x100 and
 * @st->max_level.  -ERANGE if a budget is below what the min bounds need
 * (message in @why), -ENOMEM.
 */
int cxlmsd_engine_map(const struct cxlmsd_context *c,
		      const struct cxlmsd_model *m, struct cxlmsd_ctx_state *st,
		      uint8_t *map, char *why, size_t why_len);

/*
 * Greedy allocation under a budget (exposed for tests): bits[i] starts at
 * lo[i]; one bit at a time goes to the tile with the largest
 * importance[i] * 4^-bits[i] while the element-weighted total stays within
 * @budget_eb (element-bits); stops at the first increment that does not
 * fit.  -ERANGE if the lower bounds alone exceed the budget.
 */
int cxlmsd_allocate(unsigned int n, const uint64_t *elems,
		    const uint8_t *lo, const uint8_t *hi,
		    const double *importance, uint64_t budget_eb,
		    uint8_t *bits);

/* Element-weighted average bits of @map over @m, x100 (rounded down). */
uint32_t cxlmsd_map_avg_x100(const struct cxlmsd_model *m, const uint8_t *map);

/* Build a model from a store handle (public libcxlms API only). */
struct cxlms_store;
int cxlmsd_model_from_store(struct cxlms_store *s, struct cxlmsd_model *m);
void cxlmsd_model_free(struct cxlmsd_model *m);
/*
 * Estimate every tile's error power (m->energy) from the store: INT8 from
 * the group scales (one plane and the scales read per tile), BF16/FP16
 * from the values at their smallest servable precision.
 */
int cxlmsd_model_energy(struct cxlms_store *s, struct cxlmsd_model *m);
/* Global tile index of (tensor name, tile), or -ENOENT / -ERANGE. */
long cxlmsd_model_tile(const struct cxlmsd_model *m, const char *tensor,
		       unsigned int tile, unsigned int *n_tiles_of_tensor);

/* --- control protocol ------------------------------------------------------ */

/* What the daemon loop does for the protocol (cxlmsd.c fills these). */
struct cxlmsd_ops {
	void *arg;
	/* Write "key value" lines of `show` to @out. */
	void (*show)(void *arg, FILE *out);
	int (*set_context)(void *arg, const char *name);
	/* @tile < 0: every tile of the tensor */
	int (*report)(void *arg, const char *tensor, long tile, double importance);
	int (*load)(void *arg, uint64_t bytes);
	int (*sync)(void *arg, uint64_t *generation);
};

/*
 * Handle one request line (no newline) and write the reply to @out: data
 * lines, then "ok[ detail]" or "err ERRNO-NAME message".  Never fails the
 * daemon: a malformed line gets an err reply.  Returns the -errno of the
 * reply (0 for ok).
 */
int cxlmsd_control_line(const struct cxlmsd_ops *ops, const char *line,
			FILE *out);

#endif /* CXLMSD_H */
