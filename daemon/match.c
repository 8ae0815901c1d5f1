// SPDX-License-Identifier: GPL-2.0
/*
 * Tensor-name globs for cxlmsd rules.  fnmatch(3) semantics without
 * FNM_PATHNAME (so '*' crosses dots, as layers.*.attn.* needs), plus one
 * extension fnmatch cannot express: a dot-separated pattern segment "N-M"
 * matches a name segment that is a decimal number in [N, M], for layer
 * ranges such as model.layers.0-3.*.  Matching is iterative (no recursion,
 * no exponential backtracking): rule patterns reach the matcher from config
 * files and the control socket, so they are untrusted input.
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

/*
 * One pattern element at @p against the name at @n, for everything but '*':
 * returns how many name bytes it consumes and sets *plen to its pattern
 * length, or returns -1 when it does not match here.  Every element
 * consumes a length fixed by the name (a range eats the whole digit
 * segment), so the end of a match never moves left when its start moves
 * right: that is what makes retrying only from the last '*' complete.
 */
static long element_at(const char *pat, const char *p, const char *name,
		       const char *n, size_t *plen)
{
	unsigned long lo, hi, v;
	size_t len;

	len = range_token(pat, p, &lo, &hi);
	if (len) {
		const char *d = n;

		/* The name side must be a whole segment of digits. */
		if (n != name && n[-1] != '.')
			return -1;
		if (!isdigit((unsigned char)*d))
			return -1;
		v = 0;
		while (isdigit((unsigned char)*d)) {
			if (v > 100000000ul)
				return -1;
			v = v * 10 + (unsigned long)(*d - '0');
			d++;
		}
		if ((*d != '.' && *d != '\0') || v < lo || v > hi)
			return -1;
		*plen = len;
		return d - n;
	}
	if (!*n)
		return -1;
	switch (*p) {
	case '?':
		*plen = 1;
		return 1;
	case '[':
		if (!class_match(p, (unsigned char)*n, &len)) {
			if (len)
				return -1;
			/* Unterminated: fnmatch treats '[' as literal. */
			if (*n != '[')
				return -1;
			len = 1;
		}
		*plen = len;
		return 1;
	case '\\':
		if (p[1]) {
			*plen = 2;
			return p[1] == *n ? 1 : -1;
		}
		/* A trailing backslash is literal. */
		/* fall through */
	default:
		*plen = 1;
		return *p == *n ? 1 : -1;
	}
}

/*
 * The classic iterative star-backtrack: on a mismatch, only the last '*'
 * takes one more name byte and matching resumes after it.  Earlier stars
 * never need revisiting (element_at's monotone ends), so the work is at
 * most (pattern elements + 1) x (name bytes + 1) steps, never exponential
 * in the number of stars.
 */
bool cxlmsd_match_steps(const char *pattern, const char *name,
			unsigned long *steps)
{
	const char *p = pattern, *n = name;
	const char *star_p = NULL, *star_n = NULL;
	unsigned long count = 0;
	bool hit;
	long used;
	size_t plen;

	for (;;) {
		count++;
		if (*p == '*') {
			while (*p == '*')
				p++;
			star_p = p;
			star_n = n;
			continue;
		}
		if (!*p) {
			if (!*n) {
				hit = true;
				break;
			}
			used = -1;
		} else {
			used = element_at(pattern, p, name, n, &plen);
		}
		if (used >= 0) {
			p += plen;
			n += used;
			continue;
		}
		/* Mismatch: the last star swallows one more byte, if any left. */
		if (!star_p || !*star_n) {
			hit = false;
			break;
		}
		star_n++;
		p = star_p;
		n = star_n;
	}
	if (steps)
		*steps = count;
	return hit;
}

bool cxlmsd_match(const char *pattern, const char *name)
{
	return cxlmsd_match_steps(pattern, name, NULL);
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
