/* imap_seqset.c - IMAP sequence sets (RFC 3501 section 9 sequence-set) parsed into sorted, merged ranges, and looked up by binary search. */
#include "imap_seqset.h"

#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "xmalloc.h"

/* max_ranges 0: this many. */
#define DEFAULT_MAX_RANGES      65536

/* "1", ..., "4294967295" or "*" (-1 for star): nz-number = digit-nz *DIGIT, no leading zero, at most 2^32-1. */
static int
parse_number(const char *s, size_t len, int64_t *v_r)
{
	uint64_t v;

	if (len == 1 && s[0] == '*') {
		*v_r = -1;
		return 0;
	}
	if (len == 0 || s[0] == '0' || decimal_parse(s, len, UINT32_MAX, &v) < 0)
		return -1;
	*v_r = (int64_t)v;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int
imap_seqset_parse(const char *text, uint32_t star, size_t max_ranges, struct imap_seqset *set_r)
{
	struct imap_range *v = NULL;
	size_t n = 0, cap = 0, items = 0;
	const char *s = text;

	set_r->v = NULL;
	set_r->n = 0;
	if (max_ranges == 0)
		max_ranges = DEFAULT_MAX_RANGES;
	if (*s == '\0')
		return -1;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
		const char *colon = memchr(s, ':', len);
		int64_t a, b;

		if (++items > max_ranges)
			goto bad;
		if (colon == NULL) {
			if (parse_number(s, len, &a) < 0)
				goto bad;
			b = a;
		} else if (parse_number(s, (size_t)(colon - s), &a) < 0 ||
			   parse_number(colon + 1, len - (size_t)(colon - s) - 1, &b) < 0) {
			goto bad;
		}
		/*
		 * "*" is the highest number in use; in an empty mailbox (star
		 * 0) there is none, and a range that ends at it holds nothing.
		 */
		if ((a >= 0 && b >= 0) || star > 0) {
			uint32_t lo = a < 0 ? star : (uint32_t)a, hi = b < 0 ? star : (uint32_t)b;

			if (n == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			/* Backwards (4:1, or 5:* with star 3) is the same range (RFC 3501 seq-range). */
			v[n].lo = lo < hi ? lo : hi;
			v[n].hi = lo < hi ? hi : lo;
			n++;
		}
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	if (n > 1) {
		size_t out = 0;

		qsort(v, n, sizeof(*v), range_cmp);
		for (size_t i = 1; i < n; i++) {
			/* Overlapping or adjacent (hi + 1 == lo, without overflowing at 2^32-1): one range. */
			if (v[i].lo <= v[out].hi || v[i].lo - 1 == v[out].hi) {
				if (v[i].hi > v[out].hi)
					v[out].hi = v[i].hi;
			} else {
				v[++out] = v[i];
			}
		}
		n = out + 1;
	}
	set_r->v = v;
	set_r->n = n;
	return 0;
bad:
	free(v);
	return -1;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

bool
imap_seqset_has(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->n;

	/* The first range whose hi >= n, if any, is the only one that can hold n. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->v[mid].hi < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < set->n && set->v[lo].lo <= n;
}
