// SPDX-License-Identifier: GPL-2.0
/*
 * cxlmsd configuration: /etc/cxlms/cxlmsd.conf, then the drop-ins of
 * /etc/cxlms/cxlmsd.conf.d/ (files ending in .conf) in name order; a later
 * file wins.  INI,
 * parsed by inih.  inih does not tell a handler its line number in the
 * build Debian ships, so we feed it lines ourselves (ini_parse_stream)
 * and count them: every message carries file:line.
 *
 * The parse fills a fresh struct; the daemon swaps it in only when the
 * whole thing (all files) parsed and validated, so a reload with a bad
 * file never half-applies.
 */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cxlmsd.h"

#define MAX_ERRORS	32
#define MAX_RULES	4096

struct parse_state {
	struct cxlmsd_config *cfg;
	const char *file;
	unsigned int file_rank;
	FILE *f;
	int line;
	bool too_long;		/* the reader cut a line */
	int default_context_line;
	const char *default_context_file;
};

static void add_error(struct cxlmsd_config *cfg, const char *file, int line,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_error(struct cxlmsd_config *cfg, const char *file, int line,
		      const char *fmt, ...)
{
	char msg[512], *full;
	char **errs;
	va_list ap;

	if (cfg->n_errors >= MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0) {
		if (asprintf(&full, "%s:%d: %s", file, line, msg) < 0)
			return;
	} else if (asprintf(&full, "%s: %s", file, msg) < 0) {
		return;
	}
	errs = realloc(cfg->errors, (cfg->n_errors + 1) * sizeof(*errs));
	if (!errs) {
		free(full);
		return;
	}
	cfg->errors = errs;
	cfg->errors[cfg->n_errors++] = full;
}

/* --- value parsers ----------------------------------------------------------- */

static bool parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

bool cxlmsd_parse_bits(const char *s, unsigned int *bits)
{
	uint64_t v;

	if (!strcmp(s, "full")) {
		*bits = CXLMSD_BITS_FULL;
		return true;
	}
	if (!parse_uint(s, CXLMS_MAX_PLANES, &v) || v < 1)
		return false;
	*bits = (unsigned int)v;
	return true;
}

bool cxlmsd_parse_x100(const char *s, uint32_t lo, uint32_t hi, uint32_t *v)
{
	uint64_t whole = 0, frac = 0;
	const char *dot = strchr(s, '.');
	char ip[24];
	size_t n;

	n = dot ? (size_t)(dot - s) : strlen(s);
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (!parse_uint(ip, 1000000, &whole))
		return false;
	if (dot) {
		size_t fl = strlen(dot + 1);

		if (fl < 1 || fl > 2 || !parse_uint(dot + 1, 99, &frac))
			return false;
		if (fl == 1)
			frac *= 10;
	}
	whole = whole * 100 + frac;
	if (whole < lo || whole > hi)
		return false;
	*v = (uint32_t)whole;
	return true;
}

bool cxlmsd_parse_rate(const char *s, uint64_t *v)
{
	char num[32];
	size_t n = strlen(s);
	unsigned int shift = 0;
	uint64_t x;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	}
	if (shift)
		num[--n] = '\0';
	if (!parse_uint(num, UINT64_MAX >> shift, &x) || x == 0)
		return false;
	*v = x << shift;
	return true;
}

static bool parse_importance(const char *s, double *v)
{
	char *end;
	double d;

	if (!*s)
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || !(d >= 0.0) || d > 1e6)
		return false;
	*v = d;
	return true;
}

static char *xstrdup_set(char **dst, const char *src)
{
	char *d = strdup(src);

	if (!d)
		return NULL;
	free(*dst);
	*dst = d;
	return d;
}

/* --- sections -------------------------------------------------------------- */

static struct cxlmsd_context *get_context(struct parse_state *ps,
					  const char *name)
{
	struct cxlmsd_config *cfg = ps->cfg;
	struct cxlmsd_context *c = cxlmsd_config_find(cfg, name), *n;

	if (c)
		return c;
	if (cfg->n_contexts >= CXLMS_POLICY_MAX_CONTEXTS) {
		add_error(cfg, ps->file, ps->line, "more than %d contexts",
			  CXLMS_POLICY_MAX_CONTEXTS);
		return NULL;
	}
	n = realloc(cfg->contexts, (cfg->n_contexts + 1) * sizeof(*n));
	if (!n)
		return NULL;
	cfg->contexts = n;
	c = &n[cfg->n_contexts];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->mode = CXLMSD_MODE_FIXED;
	c->default_bits = CXLMSD_BITS_FULL;
	c->min_bits = 1;
	c->max_bits = CXLMSD_BITS_FULL;
	c->pressure_step_x100 = 50;
	c->file = strdup(ps->file);
	c->line = ps->line;
	cfg->n_contexts++;
	return c;
}

/*
 * `rule = PATTERN [tiles=A[-B]] [bits=N|full] [min=N] [max=N]
 * [importance=X]`, whitespace separated.
 */
static bool parse_rule(struct parse_state *ps, struct cxlmsd_context *c,
		       const char *value)
{
	struct cxlmsd_rule r = { .tile_hi = UINT32_MAX, .importance = -1.0 };
	char buf[CXLMSD_LINE_MAX], *tok, *save = NULL;
	const char *why;
	struct cxlmsd_rule *n;

	snprintf(buf, sizeof(buf), "%s", value);
	tok = strtok_r(buf, " \t", &save);
	if (!tok || strchr(tok, '=')) {
		add_error(ps->cfg, ps->file, ps->line,
			  "rule needs a tensor pattern first: rule = PATTERN [bits=N] ...");
		return false;
	}
	if (!cxlmsd_pattern_valid(tok, &why)) {
		add_error(ps->cfg, ps->file, ps->line, "rule pattern '%s': %s", tok, why);
		return false;
	}
	r.pattern = strdup(tok);
	r.file = strdup(ps->file);
	if (!r.pattern || !r.file)
		goto oom;
	r.line = ps->line;
	r.file_rank = ps->file_rank;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '='), *val;
		uint64_t a, b;

		if (!eq) {
			add_error(ps->cfg, ps->file, ps->line,
				  "rule option '%s' is not key=value", tok);
			goto bad;
		}
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(tok, "bits") || !strcmp(tok, "min") || !strcmp(tok, "max")) {
			unsigned int *dst = tok[0] == 'b' ? &r.bits :
					    tok[1] == 'i' ? &r.min : &r.max;

			if (!cxlmsd_parse_bits(val, dst)) {
				add_error(ps->cfg, ps->file, ps->line,
					  "rule %s=%s: bits must be 1..16 or full", tok, val);
				goto bad;
			}
		} else if (!strcmp(tok, "importance")) {
			if (!parse_importance(val, &r.importance)) {
				add_error(ps->cfg, ps->file, ps->line,
					  "rule importance=%s: need a number in 0..1e6", val);
				goto bad;
			}
		} else if (!strcmp(tok, "tiles")) {
			char *dash = strchr(val, '-');

			if (dash)
				*dash = '\0';
			if (!parse_uint(val, UINT32_MAX, &a) ||
			    (dash && !parse_uint(dash + 1, UINT32_MAX, &b)) ||
			    (dash && b < a)) {
				add_error(ps->cfg, ps->file, ps->line,
					  "rule tiles=: need N or N-M with N <= M");
				goto bad;
			}
			r.tile_lo = (uint32_t)a;
			r.tile_hi = dash ? (uint32_t)b : (uint32_t)a;
		} else {
			add_error(ps->cfg, ps->file, ps->line,
				  "unknown rule option '%s' (bits, min, max, importance, tiles)",
				  tok);
			goto bad;
		}
	}
	if (r.min && r.max && r.min > r.max) {
		add_error(ps->cfg, ps->file, ps->line, "rule min=%u above max=%u",
			  r.min, r.max);
		goto bad;
	}
	if (c->n_rules >= MAX_RULES) {
		add_error(ps->cfg, ps->file, ps->line, "more than %d rules in context '%s'",
			  MAX_RULES, c->name);
		goto bad;
	}
	n = realloc(c->rules, (c->n_rules + 1) * sizeof(*n));
	if (!n)
		goto oom;
	c->rules = n;
	c->rules[c->n_rules++] = r;
	return true;
oom:
	add_error(ps->cfg, ps->file, ps->line, "out of memory");
bad:
	free(r.pattern);
	free(r.file);
	return false;
}

static bool context_key(struct parse_state *ps, struct cxlmsd_context *c,
			const char *name, const char *value)
{
	struct cxlmsd_config *cfg = ps->cfg;

	if (!strcmp(name, "rule"))
		return parse_rule(ps, c, value);
	if (!strcmp(name, "mode")) {
		if (!strcmp(value, "fixed"))
			c->mode = CXLMSD_MODE_FIXED;
		else if (!strcmp(value, "budget"))
			c->mode = CXLMSD_MODE_BUDGET;
		else if (!strcmp(value, "pressure"))
			c->mode = CXLMSD_MODE_PRESSURE;
		else {
			add_error(cfg, ps->file, ps->line,
				  "mode = %s: must be fixed, budget or pressure", value);
			return false;
		}
		c->mode_set = true;
		return true;
	}
	if (!strcmp(name, "objective")) {
		if (!strcmp(value, "mse") || !strcmp(value, "relative")) {
			c->relative = value[0] == 'r';
			return true;
		}
		add_error(cfg, ps->file, ps->line,
			  "objective = %s: must be mse or relative", value);
		return false;
	}
	if (!strcmp(name, "default_bits") || !strcmp(name, "min_bits") ||
	    !strcmp(name, "max_bits")) {
		unsigned int *dst = name[1] == 'e' ? &c->default_bits :
				    name[1] == 'i' ? &c->min_bits : &c->max_bits;

		if (!cxlmsd_parse_bits(value, dst)) {
			add_error(cfg, ps->file, ps->line,
				  "%s = %s: bits must be 1..16 or full", name, value);
			return false;
		}
		return true;
	}
	if (!strcmp(name, "budget_bits")) {
		if (!cxlmsd_parse_x100(value, 100, 1600, &c->budget_x100)) {
			add_error(cfg, ps->file, ps->line,
				  "budget_bits = %s: need 1..16 with at most two decimals",
				  value);
			return false;
		}
		return true;
	}
	if (!strcmp(name, "pressure_step")) {
		if (!cxlmsd_parse_x100(value, 1, 1500, &c->pressure_step_x100)) {
			add_error(cfg, ps->file, ps->line,
				  "pressure_step = %s: need 0.01..15 bits", value);
			return false;
		}
		return true;
	}
	if (!strcmp(name, "pressure_high") || !strcmp(name, "pressure_low")) {
		uint64_t *dst = name[9] == 'h' ? &c->pressure_high : &c->pressure_low;

		if (!cxlmsd_parse_rate(value, dst)) {
			add_error(cfg, ps->file, ps->line,
				  "%s = %s: need bytes per second, e.g. 800M or 2G",
				  name, value);
			return false;
		}
		return true;
	}
	add_error(cfg, ps->file, ps->line, "unknown key '%s' in [context %s]",
		  name, c->name);
	return false;
}

static bool abs_path_key(struct parse_state *ps, char **dst, const char *name,
			 const char *value)
{
	if (value[0] != '/') {
		add_error(ps->cfg, ps->file, ps->line,
			  "%s = %s: must be an absolute path", name, value);
		return false;
	}
	if (!xstrdup_set(dst, value)) {
		add_error(ps->cfg, ps->file, ps->line, "out of memory");
		return false;
	}
	return true;
}

static int conf_handler(void *user, const char *section, const char *name,
		       const char *value)
{
	struct parse_state *ps = user;
	struct cxlmsd_config *cfg = ps->cfg;

	if (!value)
		value = "";
	if (!strcmp(section, "store")) {
		if (!strcmp(name, "path"))
			return abs_path_key(ps, &cfg->store_path, name, value);
		if (!strcmp(name, "default_context")) {
			if (!cxlms_policy_name_valid(value)) {
				add_error(cfg, ps->file, ps->line,
					  "default_context = %s: not a valid context name", value);
				return 0;
			}
			if (!xstrdup_set(&cfg->default_context, value))
				return 0;
			ps->default_context_line = ps->line;
			ps->default_context_file = ps->file;
			return 1;
		}
		add_error(cfg, ps->file, ps->line, "unknown key '%s' in [store]", name);
		return 0;
	}
	if (!strcmp(section, "daemon")) {
		uint64_t v;

		if (!strcmp(name, "socket"))
			return abs_path_key(ps, &cfg->socket_path, name, value);
		if (!strcmp(name, "socket_mode")) {
			char *end;
			unsigned long m = strtoul(value, &end, 8);

			if (!*value || *end || m > 0777) {
				add_error(cfg, ps->file, ps->line,
					  "socket_mode = %s: need an octal mode like 0660", value);
				return 0;
			}
			cfg->socket_mode = (unsigned int)m;
			return 1;
		}
		if (!strcmp(name, "socket_group")) {
			if (!*value || strlen(value) > 32 || strchr(value, '/')) {
				add_error(cfg, ps->file, ps->line,
					  "socket_group = %s: need a group name", value);
				return 0;
			}
			return xstrdup_set(&cfg->socket_group, value) ? 1 : 0;
		}
		if (!strcmp(name, "interval_ms")) {
			if (!parse_uint(value, 3600000, &v) || v < 10) {
				add_error(cfg, ps->file, ps->line,
					  "interval_ms = %s: need 10..3600000", value);
				return 0;
			}
			cfg->interval_ms = (unsigned int)v;
			return 1;
		}
		add_error(cfg, ps->file, ps->line, "unknown key '%s' in [daemon]", name);
		return 0;
	}
	if (!strncmp(section, "context", 7) && (section[7] == ' ' || section[7] == '\t')) {
		const char *cname = section + 8;
		struct cxlmsd_context *c;

		while (*cname == ' ' || *cname == '\t')
			cname++;
		if (!cxlms_policy_name_valid(cname)) {
			add_error(cfg, ps->file, ps->line,
				  "[context %s]: names are 1..47 of A-Z a-z 0-9 _ . -", cname);
			return 0;
		}
		c = get_context(ps, cname);
		return c ? context_key(ps, c, name, value) : 0;
	}
	if (!section[0])
		add_error(cfg, ps->file, ps->line, "'%s' outside any section", name);
	else
		add_error(cfg, ps->file, ps->line,
			  "unknown section [%s] (store, daemon, context NAME)", section);
	return 0;
}

/*
 * inih calls handlers for keys only, so a section is seen here, as a line:
 * a [context NAME] exists (with its defaults) even without keys, and its
 * errors point at its header line.
 */
static void section_line(struct parse_state *ps, const char *str)
{
	char name[CXLMSD_LINE_MAX];
	const char *end;
	size_t n;

	while (*str == ' ' || *str == '\t')
		str++;
	if (*str++ != '[' || !(end = strchr(str, ']')))
		return;
	if (strncmp(str, "context", 7) || (str[7] != ' ' && str[7] != '\t'))
		return;
	str += 8;
	while (*str == ' ' || *str == '\t')
		str++;
	while (end > str && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - str);
	if (n >= sizeof(name))
		return;
	memcpy(name, str, n);
	name[n] = '\0';
	if (cxlms_policy_name_valid(name))
		get_context(ps, name);	/* invalid names: the handler says why */
}

/* fgets for inih that counts lines and refuses to split long ones. */
static char *line_reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	size_t len;

	if (!fgets(str, num, ps->f))
		return NULL;
	ps->line++;
	section_line(ps, str);
	len = strlen(str);
	if (len && str[len - 1] != '\n' && !feof(ps->f)) {
		int c;

		add_error(ps->cfg, ps->file, ps->line, "line longer than %d bytes",
			  num - 2);
		ps->too_long = true;
		while ((c = fgetc(ps->f)) != EOF && c != '\n')
			;
		str[0] = '\0';	/* an empty line: nothing for inih to act on */
	}
	return str;
}

static void parse_file(struct parse_state *ps, const char *path,
		       unsigned int rank)
{
	int rc, errs = (int)ps->cfg->n_errors;

	ps->file = path;
	ps->file_rank = rank;
	ps->line = 0;
	ps->f = fopen(path, "re");
	if (!ps->f) {
		add_error(ps->cfg, path, 0, "cannot open: %s", strerror(errno));
		return;
	}
	rc = ini_parse_stream(line_reader, ps, conf_handler, ps);
	fclose(ps->f);
	ps->f = NULL;
	/*
	 * A positive rc is the first line inih or a handler refused; handlers
	 * said why already, so only syntax errors need a message here.
	 */
	if (rc > 0 && (int)ps->cfg->n_errors == errs)
		add_error(ps->cfg, path, rc,
			  "syntax error (expected [section] or key = value)");
	else if (rc < 0)
		add_error(ps->cfg, path, 0, "cannot parse (%d)", rc);
}

/* The rank sort keeps in-file order: a stable insertion sort. */
static void order_rules(struct cxlmsd_context *c)
{
	unsigned int i, j;

	for (i = 1; i < c->n_rules; i++) {
		struct cxlmsd_rule r = c->rules[i];

		for (j = i; j > 0 && c->rules[j - 1].file_rank < r.file_rank; j--)
			c->rules[j] = c->rules[j - 1];
		c->rules[j] = r;
	}
}

static void validate(struct cxlmsd_config *cfg, struct parse_state *ps,
		     const char *main_path)
{
	unsigned int i, j;

	if (!cfg->store_path)
		add_error(cfg, main_path, 0, "no [store] path = /path/to/store");
	if (!cfg->n_contexts)
		add_error(cfg, main_path, 0, "no [context NAME] section");
	for (i = 0; i < cfg->n_contexts; i++) {
		struct cxlmsd_context *c = &cfg->contexts[i];

		order_rules(c);
		if (c->min_bits > c->max_bits)
			add_error(cfg, c->file, c->line,
				  "[context %s]: min_bits %u above max_bits %u",
				  c->name, c->min_bits, c->max_bits);
		if (c->mode == CXLMSD_MODE_BUDGET && !c->budget_x100)
			add_error(cfg, c->file, c->line,
				  "[context %s]: mode = budget needs budget_bits", c->name);
		if (c->mode != CXLMSD_MODE_BUDGET && c->budget_x100)
			add_error(cfg, c->file, c->line,
				  "[context %s]: budget_bits needs mode = budget", c->name);
		if (c->mode == CXLMSD_MODE_PRESSURE) {
			if (!c->pressure_high || !c->pressure_low)
				add_error(cfg, c->file, c->line,
					  "[context %s]: mode = pressure needs pressure_high and pressure_low",
					  c->name);
			else if (c->pressure_low >= c->pressure_high)
				add_error(cfg, c->file, c->line,
					  "[context %s]: pressure_low must be below pressure_high (hysteresis)",
					  c->name);
		} else if (c->pressure_high || c->pressure_low) {
			add_error(cfg, c->file, c->line,
				  "[context %s]: pressure_* needs mode = pressure", c->name);
		}
		for (j = 0; j < c->n_rules; j++) {
			struct cxlmsd_rule *r = &c->rules[j];

			if (r->bits && (r->min || r->max))
				add_error(cfg, r->file, r->line,
					  "rule sets bits= and min=/max=: bits pins the tile");
		}
	}
	if (cfg->default_context && !cxlmsd_config_find(cfg, cfg->default_context))
		add_error(cfg, ps->default_context_file, ps->default_context_line,
			  "default_context = %s: no such [context]", cfg->default_context);
}

static int conf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

int cxlmsd_config_load(struct cxlmsd_config *cfg, const char *main_path,
		       const char *dropin_dir)
{
	struct parse_state ps = { .cfg = cfg };
	struct dirent **ents = NULL;
	char *dir_alloc = NULL;
	char **paths = NULL;
	int n = 0, i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_mode = 0660;
	cfg->interval_ms = 1000;
	if (!dropin_dir) {
		if (asprintf(&dir_alloc, "%s.d", main_path) < 0)
			return -ENOMEM;
		dropin_dir = dir_alloc;
	}
	parse_file(&ps, main_path, 0);
	n = scandir(dropin_dir, &ents, conf_filter, alphasort);
	if (n < 0) {
		if (errno != ENOENT)
			add_error(cfg, dropin_dir, 0, "cannot read drop-in directory: %s",
				  strerror(errno));
		n = 0;
	}
	/* File names must outlive the parse: rules and contexts point at them. */
	paths = calloc((size_t)n + 1, sizeof(*paths));
	for (i = 0; i < n; i++) {
		if (paths && asprintf(&paths[i], "%s/%s", dropin_dir, ents[i]->d_name) > 0) {
			struct stat st;

			if (!stat(paths[i], &st) && S_ISREG(st.st_mode))
				parse_file(&ps, paths[i], (unsigned int)i + 1);
		}
		free(ents[i]);
	}
	free(ents);
	if (!cfg->socket_path)
		cfg->socket_path = strdup(CXLMSD_DEFAULT_SOCKET);
	validate(cfg, &ps, main_path);
	for (i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
	free(dir_alloc);
	if (!cfg->socket_path)
		return -ENOMEM;
	return cfg->n_errors ? -EINVAL : 0;
}

void cxlmsd_config_free(struct cxlmsd_config *cfg)
{
	unsigned int i, j;

	for (i = 0; i < cfg->n_contexts; i++) {
		struct cxlmsd_context *c = &cfg->contexts[i];

		for (j = 0; j < c->n_rules; j++) {
			free(c->rules[j].pattern);
			free(c->rules[j].file);
		}
		free(c->rules);
		free(c->file);
	}
	free(cfg->contexts);
	for (i = 0; i < cfg->n_errors; i++)
		free(cfg->errors[i]);
	free(cfg->errors);
	free(cfg->store_path);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->default_context);
	memset(cfg, 0, sizeof(*cfg));
}

struct cxlmsd_context *cxlmsd_config_find(const struct cxlmsd_config *cfg,
					  const char *name)
{
	unsigned int i;

	for (i = 0; i < cfg->n_contexts; i++)
		if (!strcmp(cfg->contexts[i].name, name))
			return &cfg->contexts[i];
	return NULL;
}
