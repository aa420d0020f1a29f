/* cdbbuild.c - a CDB written as it is built: records through a 1 MiB buffer, then tinycdb's hash tables, then the header in place. */
#include "cdbbuild.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "atomicfile.h"
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
	b->fd = -1;
}

void
cdbbuild_free(struct cdbbuild *b)
{
	free(b->buf);
	for (size_t t = 0; t < 256; t++)
		free(b->tables[t].refs);
	cdbbuild_init(b);
}

/* Write out what buf holds. */
static int
flush(struct cdbbuild *b)
{
	if (b->len > 0 && write_all(b->fd, b->buf, b->len) == -1)
		return -1;
	b->len = 0;
	return 0;
}

/*
 * Room for n more bytes in buf, writing out what it holds first when they
 * do not fit.  Only a piece larger than the chunk (a hash table of more
 * than 64k records, a huge record) makes buf larger, until the next start.
 */
static int
room(struct cdbbuild *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (flush(b) == -1)
		return -1;
	if (n > b->cap) {
		free(b->buf);
		b->cap = n;
		b->buf = xreallocarray(NULL, b->cap, 1);
	}
	return 0;
}

void
cdbbuild_start(struct cdbbuild *b, int fd)
{
	if (b->cap != CDBBUILD_CHUNK) {
		free(b->buf);
		b->cap = CDBBUILD_CHUNK;
		b->buf = xreallocarray(NULL, b->cap, 1);
	}
	b->fd = fd;
	/* The header's place: cdbbuild_finish fills it in at the end. */
	memset(b->buf, 0, CDB_HEADER);
	b->len = b->pos = CDB_HEADER;
	b->nrefs = 0;
	for (size_t t = 0; t < 256; t++) {
		struct cdbbuild_table *tab = &b->tables[t];

		/* Give back most of what a much larger file needed (entries expire in bulk too). */
		if (tab->cap > 64 && tab->cap / 4 > tab->n) {
			tab->cap = tab->n * 2 > 16 ? tab->n * 2 : 16;
			tab->refs = xreallocarray(tab->refs, tab->cap, sizeof *tab->refs);
		}
		tab->n = 0;
	}
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
	size_t left = CDB_MAX - b->pos;         /* b->pos never passes CDB_MAX */
	struct cdbbuild_table *tab;
	unsigned char *p;

	/* Step by step, so that no sum can wrap where size_t is 32 bits. */
	if (left < 8 || klen > left - 8 || vlen > left - 8 - klen) {
		errno = ENOMEM;
		return -1;
	}
	if (room(b, 8 + klen + vlen) == -1)
		return -1;
	tab = &b->tables[hash & 255];
	if (tab->n == tab->cap) {
		tab->cap = tab->cap ? tab->cap * 2 : 16;
		tab->refs = xreallocarray(tab->refs, tab->cap, sizeof *tab->refs);
	}
	tab->refs[tab->n].hash = hash;
	tab->refs[tab->n].pos = (uint32_t)b->pos;
	tab->n++;
	b->nrefs++;
	p = b->buf + b->len;
	pack(p, (uint32_t)klen);
	pack(p + 4, (uint32_t)vlen);
	if (klen > 0)
		memcpy(p + 8, key, klen);
	if (vlen > 0)
		memcpy(p + 8 + klen, val, vlen);
	b->len += 8 + klen + vlen;
	b->pos += 8 + klen + vlen;
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

/* Write len bytes at offset off of fd (the header, at the end). */
static int
pwrite_all(int fd, const unsigned char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;    /* no progress and no error: do not spin */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Each table t holds the records whose hash ends in byte t, in twice as
 * many slots; a record goes to slot (hash >> 8) % slots or the next free
 * one after it, in the order added (the first of a key is found first).
 * The tables follow the records in order of t, an empty one at the
 * position where the next would start: exactly cdb_make_finish's layout.
 * cdbbuild_add filed each record under its table already (a sort by table
 * at the end cost a seventh of a rewrite).  Each table is built in the
 * buffer, written out with what came before it whenever the buffer fills.
 */
int
cdbbuild_finish(struct cdbbuild *b)
{
	unsigned char header[CDB_HEADER];

	if (b->nrefs > (CDB_MAX - b->pos) / 16) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t t = 0; t < 256; t++) {
		const struct cdbbuild_table *tab = &b->tables[t];
		uint32_t slots = (uint32_t)(2 * tab->n);
		uint64_t magic = slots > 0 ? fastmod_magic(slots) : 0;
		unsigned char *area;

		if (room(b, (size_t)slots * 8) == -1)
			return -1;
		area = b->buf + b->len;
		pack(header + 8 * t, (uint32_t)b->pos);
		pack(header + 8 * t + 4, slots);
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
		b->len += (size_t)slots * 8;
		b->pos += (size_t)slots * 8;
	}
	/* A file that fits in the buffer still goes out in one write, header included. */
	if (b->len == b->pos) {
		memcpy(b->buf, header, CDB_HEADER);
		return flush(b);
	}
	if (flush(b) == -1)
		return -1;
	return pwrite_all(b->fd, header, CDB_HEADER, 0);
}
