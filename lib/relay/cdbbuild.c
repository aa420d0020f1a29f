/* cdbbuild.c - a CDB in one buffer: header, records, then tinycdb's hash tables, written with one write(). */
#include "cdbbuild.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define CDB_HEADER 2048         /* 256 pairs of (table position, slots) */
#define CDB_MAX 0xffffffffu     /* positions are 32-bit */

static void
pack(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

void
cdbbuild_init(struct cdbbuild *b)
{
	memset(b, 0, sizeof *b);
}

void
cdbbuild_free(struct cdbbuild *b)
{
	free(b->buf);
	for (size_t t = 0; t < 256; t++)
		free(b->tables[t].refs);
	cdbbuild_init(b);
}

/* Room for need bytes in all: grow by half again, so that a table that grows slowly is copied rarely. */
static void
reserve(struct cdbbuild *b, size_t need)
{
	if (need <= b->cap)
		return;
	b->cap = need + need / 2;
	b->buf = xreallocarray(b->buf, b->cap, 1);
}

void
cdbbuild_start(struct cdbbuild *b)
{
	reserve(b, CDB_HEADER);
	b->len = CDB_HEADER;
	b->nrefs = 0;
	for (size_t t = 0; t < 256; t++)
		b->tables[t].n = 0;
}

uint32_t
cdbbuild_hash(const void *key, size_t len)
{
	const unsigned char *p = key, *end = p + len;
	uint32_t h = 5381;

	while (p < end)
		h = (h + (h << 5)) ^ *p++;
	return h;
}

int
cdbbuild_add(struct cdbbuild *b, const void *key, size_t klen, uint32_t hash,
	     const void *val, size_t vlen)
{
	size_t room = CDB_MAX - b->len;         /* b->len never passes CDB_MAX */
	struct cdbbuild_table *tab;
	unsigned char *p;

	/* Step by step, so that no sum can wrap where size_t is 32 bits. */
	if (room < 8 || klen > room - 8 || vlen > room - 8 - klen) {
		errno = ENOMEM;
		return -1;
	}
	tab = &b->tables[hash & 255];
	if (tab->n == tab->cap) {
		tab->cap = tab->cap ? tab->cap * 2 : 16;
		tab->refs = xreallocarray(tab->refs, tab->cap, sizeof *tab->refs);
	}
	tab->refs[tab->n].hash = hash;
	tab->refs[tab->n].pos = (uint32_t)b->len;
	tab->n++;
	b->nrefs++;
	reserve(b, b->len + 8 + klen + vlen);
	p = b->buf + b->len;
	pack(p, (uint32_t)klen);
	pack(p + 4, (uint32_t)vlen);
	if (klen > 0)
		memcpy(p + 8, key, klen);
	if (vlen > 0)
		memcpy(p + 8 + klen, val, vlen);
	b->len += 8 + klen + vlen;
	return 0;
}

/*
 * h % d without a division, for any 32-bit h and d > 0 (Lemire, Kaser and
 * Kurz, "Faster remainder by direct computation", 2019): m is
 * fastmod_magic(d).  A division per record was a third of building the
 * tables.
 */
#ifdef __SIZEOF_INT128__
static uint64_t
fastmod_magic(uint32_t d)
{
	return UINT64_C(0xffffffffffffffff) / d + 1;
}

static uint32_t
fastmod(uint32_t h, uint64_t m, uint32_t d)
{
	return (uint32_t)(((unsigned __int128)(m * h) * d) >> 64);
}
#else
static uint64_t
fastmod_magic(uint32_t d)
{
	(void)d;
	return 0;
}

static uint32_t
fastmod(uint32_t h, uint64_t m, uint32_t d)
{
	(void)m;
	return h % d;
}
#endif

/*
 * Each table t holds the records whose hash ends in byte t, in twice as
 * many slots; a record goes to slot (hash >> 8) % slots or the next free
 * one after it, in the order added (the first of a key is found first).
 * The tables follow the records in order of t, an empty one at the
 * position where the next would start: exactly cdb_make_finish's layout.
 * cdbbuild_add filed each record under its table already (a sort by table
 * at the end cost a seventh of a rewrite).
 */
int
cdbbuild_finish(struct cdbbuild *b)
{
	size_t pos;

	if (b->nrefs > (CDB_MAX - b->len) / 16) {
		errno = ENOMEM;
		return -1;
	}
	reserve(b, b->len + 16 * b->nrefs);
	pos = b->len;
	for (size_t t = 0; t < 256; t++) {
		const struct cdbbuild_table *tab = &b->tables[t];
		uint32_t slots = (uint32_t)(2 * tab->n);
		uint64_t magic = slots > 0 ? fastmod_magic(slots) : 0;
		unsigned char *area = b->buf + pos;

		pack(b->buf + 8 * t, (uint32_t)pos);
		pack(b->buf + 8 * t + 4, slots);
		memset(area, 0, (size_t)slots * 8);
		for (size_t i = 0; i < tab->n; i++) {
			uint32_t h = tab->refs[i].hash, s = fastmod(h >> 8, magic, slots);
			uint32_t used;

			/* A record's position is never 0 (the header is there): 0 is a free slot. */
			for (;;) {
				memcpy(&used, area + 8 * s + 4, sizeof used);
				if (used == 0)
					break;
				if (++s == slots)
					s = 0;
			}
			pack(area + 8 * s, h);
			pack(area + 8 * s + 4, tab->refs[i].pos);
		}
		pos += (size_t)slots * 8;
	}
	b->len = pos;
	return 0;
}
