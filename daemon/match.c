// SPDX-License-Identifier: GPL-2.0
/*
 * Tensor-name globs for cxlmsd rules.  fnmatch(3) semantics without
 * FNM_PATHNAME (so '*' crosses dots, as layers.*.attn.* needs), plus one
 * extension fnmatch cannot express: a dot-separated pattern segment "N-M"
 * matches a name segment that is a decimal number in [N, M], for layer
 * ranges such as model.layers.0-3.*.  Names are at most 255 bytes and
 * patterns short, so plain backtracking is fine.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cxlmsd.h"

/*
 * A range segment starts at a segment boundary of the pattern and reads
 * "digits-digits" up to the next '.' or the end.  Returns its length, 0 if
 * @p is not one.
 */
static size_t range_token(const char *pat, const char *p, unsigned long *lo,
			  unsigned long *hi)
{
	const char *q = p;
	char *end;

	if (p != pat && p[-1] != '.')
		return 0;
	if (!isdigit((unsigned char)*q))
		return 0;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q != '-' || !isdigit((unsigned char)q[1]))
		return 0;
	q++;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q != '.' && *q != '\0')
		return 0;
	*lo = strtoul(p, &end, 10);
	*hi = strtoul(end + 1, NULL, 10);
	return (size_t)(q - p);
}

/* A class at @p ('[' included); sets *len to its length, 0 if unterminated. */
static bool class_match(const char *p, unsigned char c, size_t *len)
{
	const char *q = p + 1;
	bool neg = false, hit = false;

	if (*q == '!' || *q == '^') {
		neg = true;
		q++;
	}
	/* A ']' right after the opening (or negation) is a literal. */
	if (*q == ']') {
		hit |= c == ']';
		q++;
	}
	while (*q && *q != ']') {
		unsigned char a = (unsigned char)*q, b;

		if (a == '\\' && q[1]) {
			a = (unsigned char)*++q;
		}
		if (q[1] == '-' && q[2] && q[2] != ']') {
			b = (unsigned char)q[2];
			if (b == '\\' && q[3]) {
				b = (unsigned char)q[3];
				q++;
			}
			hit |= c >= a && c <= b;
			q += 3;
		} else {
			hit |= c == a;
			q++;
		}
	}
	if (*q != ']') {
		*len = 0;
		return false;
	}
	*len = (size_t)(q - p) + 1;
	return hit != neg;
}

static bool match_at(const char *pat, const char *p, const char *name,
		     const char *n)
{
	unsigned long lo, hi, v;
	size_t len;

	while (*p) {
		len = range_token(pat, p, &lo, &hi);
		if (len) {
			const char *d = n;

			/* The name side must be a whole segment of digits. */
			if (n != name && n[-1] != '.')
				return false;
			if (!isdigit((unsigned char)*d))
				return false;
			v = 0;
			while (isdigit((unsigned char)*d)) {
				if (v > 100000000ul)
					return false;
				v = v * 10 + (unsigned long)(*d - '0');
				d++;
			}
			if ((*d != '.' && *d != '\0') || v < lo || v > hi)
				return false;
			p += len;
			n = d;
			continue;
		}
		switch (*p) {
		case '*':
			while (*p == '*')
				p++;
			if (!*p)
				return true;
			for (;; n++) {
				if (match_at(pat, p, name, n))
					return true;
				if (!*n)
					return false;
			}
		case '?':
			if (!*n)
				return false;
			p++;
			n++;
			break;
		case '[':
			if (!*n)
				return false;
			if (!class_match(p, (unsigned char)*n, &len)) {
				if (len)
					return false;
				/* Unterminated: fnmatch treats '[' as literal. */
				if (*n != '[')
					return false;
				len = 1;
			}
			p += len;
			n++;
			break;
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (*p != *n)
				return false;
			p++;
			n++;
		}
	}
	return *n == '\0';
}

bool cxlmsd_match(const char *pattern, const char *name)
{
	return match_at(pattern, pattern, name, name);
}

bool cxlmsd_pattern_valid(const char *pattern, const char **why)
{
	const char *p;
	unsigned long lo, hi;
	size_t len;

	if (!*pattern) {
		*why = "empty pattern";
		return false;
	}
	if (strlen(pattern) >= CXLMS_NAME_MAX) {
		*why = "pattern longer than a tensor name can be";
		return false;
	}
	for (p = pattern; *p; p++) {
		len = range_token(pattern, p, &lo, &hi);
		if (len) {
			if (lo > hi) {
				*why = "range N-M with N > M";
				return false;
			}
			p += len - 1;
			continue;
		}
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[') {
			class_match(p, 0, &len);
			if (!len) {
				*why = "unterminated [ class";
				return false;
			}
			p += len - 1;
		} else if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			*why = "space or control character in pattern";
			return false;
		}
	}
	return true;
}
