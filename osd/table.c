/* table.c - live open-smtp entries: open-addressing hash by address, indexed min-heap by the watcher's clock mtime. */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "relaydb.h"
#include "timecalc.h"
#include "xmalloc.h"

#ifdef __GNUC__
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* 64 bytes, a cache line: heap_pos fills the hole after addr's 20. */
struct entry {
	struct ipaddr addr;
	uint32_t heap_pos;
	struct timespec mtime;          /* the file's */
	struct timespec clock_mtime;    /* the same moment on the watcher's clock: orders the heap */
	uint64_t ino;                   /* its file's inode number, for the snapshot (0: not known) */
};
_Static_assert(sizeof(struct entry) <= 64, "an entry fits a cache line");

/*
 * What a rewrite of relay.cdb reads of an entry, in an array of its own
 * beside the entries (same index): a walk of 100k entries then reads 5 MB
 * instead of 13, and writes only the marks that change.
 */
struct hot {
	struct relaydb_rec rec;         /* its relay.cdb record (table_rec) */
	uint32_t rec_gen;               /* rec was made in this generation (0: not made) */
	uint32_t gone_in;               /* left out of this rewrite (table_mark_gone; 0: none) */
	bool written;                   /* its record is in the relay.cdb last written (table_mark) */
};

struct table {
	struct entry *entries;  /* dense; removal moves the last one into the hole */
	struct hot *hot;        /* beside entries, moved with them */
	size_t hot_dirty;       /* hot[hot_dirty..cap) is known zero (fresh from xcalloc) */
	uint32_t rewrite;       /* the rewrite table_mark_gone last prepared (0: none) */
	size_t unwritten;       /* entries this rewrite's walk took out of relay.cdb (table_unwritten) */
	size_t count, cap;
	uint32_t *slots;        /* entry index + 1, 0 = empty; linear probing */
	size_t nslots;          /* power of two, kept at most half full */
	uint32_t *heap;         /* entry indexes, oldest mtime on top */
	uint64_t seed;
	size_t filed;           /* entries before this one are in slots and heap (table_bulk_add) */
};

static uint64_t
hash_addr(const struct table *t, const struct ipaddr *addr)
{
	/* FNV-1a with a per-table seed, finished with a 64-bit mixer so that
	 * addresses differing only in their last byte spread over all slots. */
	uint64_t h = 1469598103934665603ull ^ t->seed;

	h = fnv1a64_byte(h, (unsigned char)addr->family);
	h = fnv1a64(h, addr->bytes, ipaddr_len(addr));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

struct table *
table_new(void)
{
	struct table *t = xcalloc(1, sizeof *t);
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	t->seed = (uint64_t)now.tv_nsec * 2654435761u ^ (uint64_t)now.tv_sec;
	t->nslots = 64;
	t->slots = xcalloc(t->nslots, sizeof *t->slots);
	return t;
}

static void file_slots(struct table *t, size_t nslots);

/*
 * entries, hot and heap for cap entries (at least count).  An empty
 * table's hot array comes zeroed from xcalloc, so that a start-up's
 * table_bulk_add need not touch it: its pages are then first touched by
 * the first rewrite, after the snapshot and the scan's lists are freed.
 */
static void
resize(struct table *t, size_t cap)
{
	t->cap = cap;
	t->entries = xreallocarray(t->entries, t->cap, sizeof *t->entries);
	t->heap = xreallocarray(t->heap, t->cap, sizeof *t->heap);
	if (t->count == 0) {
		free(t->hot);
		t->hot = xcalloc(t->cap, sizeof *t->hot);
		t->hot_dirty = 0;
	} else {
		t->hot = xreallocarray(t->hot, t->cap, sizeof *t->hot);
		t->hot_dirty = t->cap;
	}
}

/*
 * Growth by half again, not doubling: at a million entries a doubling
 * reserved room for a million more (130 MB of address space, paged in as
 * used).  Still amortized constant per entry.
 */
static size_t
grown(size_t cap)
{
	return cap < 64 ? 64 : cap + cap / 2;
}

/* After a removal: give memory back once the table has shrunk to a quarter (expiry in bulk). */
static void
shrink(struct table *t)
{
	if (t->cap > 1024 && t->count < t->cap / 4)
		resize(t, t->cap / 2);
	if (t->nslots > 1024 && t->count * 8 < t->nslots)
		file_slots(t, t->nslots / 2);
}

void
table_reserve(struct table *t, size_t n)
{
	if (n > t->cap)
		resize(t, n);
	if (n * 2 > t->nslots) {
		size_t want = t->nslots;

		while (n * 2 > want)
			want *= 2;
		file_slots(t, want);
	}
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	free(t->entries);
	free(t->hot);
	free(t->slots);
	free(t->heap);
	free(t);
}

void
table_clear(struct table *t)
{
	t->count = t->filed = 0;
	memset(t->slots, 0, t->nslots * sizeof *t->slots);
}

size_t
table_count(const struct table *t)
{
	return t->count;
}

size_t
table_bytes(const struct table *t)
{
	return t->cap * (sizeof *t->entries + sizeof *t->hot + sizeof *t->heap) +
	       t->nslots * sizeof *t->slots;
}

/* The slot holding addr, or the empty slot where it would go. */
static size_t
find_slot(const struct table *t, const struct ipaddr *addr)
{
	size_t mask = t->nslots - 1;
	size_t i = (size_t)hash_addr(t, addr) & mask;

	while (t->slots[i] != 0 && !ipaddr_equal(&t->entries[t->slots[i] - 1].addr, addr))
		i = (i + 1) & mask;
	return i;
}

/* Slots anew, nslots of them (a power of two, more than twice the entries), every entry filed again. */
static void
file_slots(struct table *t, size_t nslots)
{
	free(t->slots);
	t->nslots = nslots;
	t->slots = xcalloc(t->nslots, sizeof *t->slots);
	for (size_t e = 0; e < t->count; e++)
		t->slots[find_slot(t, &t->entries[e].addr)] = (uint32_t)e + 1;
}

/* ---- heap ---- */

static bool
heap_less(const struct table *t, size_t a, size_t b)
{
	return ts_cmp(&t->entries[t->heap[a]].clock_mtime, &t->entries[t->heap[b]].clock_mtime) < 0;
}

static void
heap_swap(struct table *t, size_t a, size_t b)
{
	uint32_t tmp = t->heap[a];

	t->heap[a] = t->heap[b];
	t->heap[b] = tmp;
	t->entries[t->heap[a]].heap_pos = (uint32_t)a;
	t->entries[t->heap[b]].heap_pos = (uint32_t)b;
}

static void
heap_up(struct table *t, size_t i)
{
	while (i > 0 && heap_less(t, i, (i - 1) / 2)) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct table *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->count && heap_less(t, l, m))
			m = l;
		if (r < t->count && heap_less(t, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

/* ---- public ---- */

int
table_set(struct table *t, const struct ipaddr *addr, const struct timespec *mtime)
{
	return table_set_clock(t, addr, mtime, mtime);
}

int
table_set_clock(struct table *t, const struct ipaddr *addr, const struct timespec *mtime,
		const struct timespec *clock_mtime)
{
	size_t slot = find_slot(t, addr);
	struct entry *e;

	if (t->slots[slot] != 0) {
		e = &t->entries[t->slots[slot] - 1];
		int cmp = ts_cmp(clock_mtime, &e->clock_mtime);
		e->mtime = *mtime;
		e->clock_mtime = *clock_mtime;
		if (cmp > 0)
			heap_down(t, e->heap_pos);
		else if (cmp < 0)
			heap_up(t, e->heap_pos);
		return 0;
	}
	if (t->count == t->cap)
		resize(t, grown(t->cap));
	e = &t->entries[t->count];
	memset(e, 0, sizeof *e);
	memset(&t->hot[t->count], 0, sizeof t->hot[t->count]);
	e->addr = *addr;
	e->mtime = *mtime;
	e->clock_mtime = *clock_mtime;
	e->heap_pos = (uint32_t)t->count;
	t->heap[t->count] = (uint32_t)t->count;
	t->slots[slot] = (uint32_t)t->count + 1;
	t->count++;
	t->filed = t->count;
	if (t->count > t->hot_dirty)
		t->hot_dirty = t->count;
	heap_up(t, t->count - 1);
	if (t->count * 2 > t->nslots)
		file_slots(t, t->nslots * 2);
	return 1;
}

/* Backward-shift deletion keeps linear probing chains unbroken. */
static void
slot_delete(struct table *t, size_t hole)
{
	size_t mask = t->nslots - 1;
	size_t i = hole;

	for (;;) {
		i = (i + 1) & mask;
		if (t->slots[i] == 0)
			break;
		size_t home = (size_t)hash_addr(t, &t->entries[t->slots[i] - 1].addr) & mask;
		/* Move it back if its home is not within (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->slots[hole] = t->slots[i];
			hole = i;
		}
	}
	t->slots[hole] = 0;
}

bool
table_remove(struct table *t, const struct ipaddr *addr)
{
	size_t slot = find_slot(t, addr);
	size_t idx, last, pos;

	if (t->slots[slot] == 0)
		return false;
	idx = t->slots[slot] - 1;
	slot_delete(t, slot);

	/* Take it out of the heap: the last heap element fills its place. */
	pos = t->entries[idx].heap_pos;
	last = t->count - 1;
	if (pos != last) {
		heap_swap(t, pos, last);
		t->count--;     /* heap functions look at count */
		heap_down(t, pos);
		heap_up(t, pos);
		t->count++;
	}
	/* Move the last entry into the hole of the dense array. */
	if (idx != last) {
		t->entries[idx] = t->entries[last];
		t->hot[idx] = t->hot[last];
		t->heap[t->entries[idx].heap_pos] = (uint32_t)idx;
		t->slots[find_slot(t, &t->entries[idx].addr)] = (uint32_t)idx + 1;
	}
	t->count--;
	t->filed = t->count;
	shrink(t);
	return true;
}

bool
table_get(const struct table *t, const struct ipaddr *addr, struct timespec *mtime_r)
{
	size_t slot = find_slot(t, addr);

	if (t->slots[slot] == 0)
		return false;
	*mtime_r = t->entries[t->slots[slot] - 1].mtime;
	return true;
}

bool
table_get_clock(const struct table *t, const struct ipaddr *addr, struct timespec *mtime_r,
		struct timespec *clock_mtime_r)
{
	size_t slot = find_slot(t, addr);

	if (t->slots[slot] == 0)
		return false;
	*mtime_r = t->entries[t->slots[slot] - 1].mtime;
	*clock_mtime_r = t->entries[t->slots[slot] - 1].clock_mtime;
	return true;
}

bool
table_oldest(const struct table *t, struct ipaddr *addr_r, struct timespec *mtime_r)
{
	struct timespec clock_mtime;

	return table_oldest_clock(t, addr_r, mtime_r, &clock_mtime);
}

bool
table_oldest_clock(const struct table *t, struct ipaddr *addr_r, struct timespec *mtime_r,
		   struct timespec *clock_mtime_r)
{
	if (t->count == 0)
		return false;
	*addr_r = t->entries[t->heap[0]].addr;
	*mtime_r = t->entries[t->heap[0]].mtime;
	*clock_mtime_r = t->entries[t->heap[0]].clock_mtime;
	return true;
}

long
table_ms_until_expiry(const struct table *t, long expire, const struct timespec *now)
{
	const struct timespec *m;
	long long secs, ns;

	if (t->count == 0)
		return -1;
	m = &t->entries[t->heap[0]].clock_mtime;
	/* Seconds first, saturating: an mtime set near the end of time must not overflow. */
	secs = time_diff(time_add(m->tv_sec, expire), now->tv_sec);
	if (secs > 86400)
		return 86400000l;
	if (secs < -1)
		return 0;
	ns = secs * 1000000000ll + (m->tv_nsec - now->tv_nsec);
	if (ns <= 0)
		return 0;
	/* Round up so that we never wake a hair before the deadline. */
	ns = (ns + 999999) / 1000000;
	return ns > 86400000ll ? 86400000l : (long)ns;
}

bool
table_next_clock(const struct table *t, size_t *pos, struct ipaddr *addr_r,
		 struct timespec *clock_mtime_r)
{
	if (*pos >= t->count)
		return false;
	*addr_r = t->entries[*pos].addr;
	*clock_mtime_r = t->entries[*pos].clock_mtime;
	(*pos)++;
	return true;
}

void
table_mark(struct table *t, size_t pos, bool written)
{
	if (pos > 0 && pos <= t->count)
		t->hot[pos - 1].written = written;
}

void
table_set_ino(struct table *t, const struct ipaddr *addr, uint64_t ino)
{
	size_t slot = find_slot(t, addr);

	if (t->slots[slot] != 0)
		t->entries[t->slots[slot] - 1].ino = ino;
}

size_t
table_unwritten(const struct table *t)
{
	return t->unwritten;
}

uint64_t
table_get_ino(const struct table *t, const struct ipaddr *addr)
{
	size_t slot = find_slot(t, addr);

	return t->slots[slot] != 0 ? t->entries[t->slots[slot] - 1].ino : 0;
}

uint64_t
table_ino(const struct table *t, size_t pos)
{
	return pos > 0 && pos <= t->count ? t->entries[pos - 1].ino : 0;
}

/* The record of entry i, made again if it is not of generation gen. */
static const struct relaydb_rec *
rec_of(struct table *t, size_t i, uint32_t gen, struct rules *statics,
       const struct relaydb_dynamic *dyn)
{
	struct hot *h = &t->hot[i];

	if (h->rec_gen != gen) {
		relaydb_rec_for(statics, dyn, &t->entries[i].addr, &h->rec);
		h->rec_gen = gen;
	}
	return &h->rec;
}

const struct relaydb_rec *
table_rec(struct table *t, size_t pos, uint32_t gen, struct rules *statics,
	  const struct relaydb_dynamic *dyn)
{
	if (pos == 0 || pos > t->count)
		return NULL;
	return rec_of(t, pos - 1, gen, statics, dyn);
}

/* Mark heap element i and those below it that gone says are gone (a min-heap: below a live one, all are live). */
static size_t
mark_gone_from(struct table *t, size_t i, table_gone_fn *gone, void *ctx)
{
	struct entry *e;

	if (i >= t->count)
		return 0;
	e = &t->entries[t->heap[i]];
	if (!gone(ctx, &e->clock_mtime))
		return 0;
	t->hot[t->heap[i]].gone_in = t->rewrite;
	return 1 + mark_gone_from(t, 2 * i + 1, gone, ctx) + mark_gone_from(t, 2 * i + 2, gone, ctx);
}

size_t
table_mark_gone(struct table *t, table_gone_fn *gone, void *ctx)
{
	if (++t->rewrite == 0)
		t->rewrite = 1;
	t->unwritten = 0;
	return mark_gone_from(t, 0, gone, ctx);
}

const struct relaydb_rec *
table_next_rec(struct table *t, size_t *pos, uint32_t gen, struct rules *statics,
	       const struct relaydb_dynamic *dyn)
{
	while (*pos < t->count) {
		size_t i = (*pos)++;
		struct hot *h = &t->hot[i];

		/* A few lines ahead: the walk waits for memory, not for work. */
		PREFETCH(&t->hot[i + 8 < t->count ? i + 8 : i]);
		bool keep = h->gone_in == 0 || h->gone_in != t->rewrite;

		/* Stores only where something changes: most lines stay clean. */
		if (h->gone_in != 0)
			h->gone_in = 0;         /* used up: a mark never outlives its rewrite */
		if (h->written != keep) {
			t->unwritten += !keep;
			h->written = keep;
		}
		if (keep)
			return rec_of(t, i, gen, statics, dyn);
	}
	return NULL;
}

bool
table_written(const struct table *t, const struct ipaddr *addr)
{
	size_t slot = find_slot(t, addr);

	return t->slots[slot] != 0 && t->hot[t->slots[slot] - 1].written;
}

bool
table_next(const struct table *t, size_t *pos, struct ipaddr *addr_r,
	   struct timespec *mtime_r)
{
	if (*pos >= t->count)
		return false;
	*addr_r = t->entries[*pos].addr;
	if (mtime_r != NULL)
		*mtime_r = t->entries[*pos].mtime;
	(*pos)++;
	return true;
}

/* ---- bulk loading ---- */

void
table_bulk_add(struct table *t, const struct ipaddr *addr, const struct timespec *mtime,
	       const struct timespec *clock_mtime, uint64_t ino)
{
	struct entry *e;

	if (t->count == t->cap)
		resize(t, grown(t->cap));
	if (t->count < t->hot_dirty)
		memset(&t->hot[t->count], 0, sizeof t->hot[t->count]);
	else
		t->hot_dirty = t->count + 1;
	e = &t->entries[t->count++];
	memset(e, 0, sizeof *e);
	e->addr = *addr;
	e->mtime = *mtime;
	e->clock_mtime = *clock_mtime;
	e->ino = ino;
}

/* An entry to file: its address's hash and its index. */
struct pending {
	uint64_t hash;
	uint32_t idx;
};

/* LSD radix sort of p (n items) by the bits of hash under mask, 11 bits a pass. */
static void
sort_by_home(struct pending *p, size_t n, size_t mask)
{
	struct pending *tmp = xreallocarray(NULL, n, sizeof *tmp), *from = p, *to = tmp;

	for (unsigned shift = 0; shift < 64 && (mask >> shift) != 0; shift += 11) {
		size_t count[2048] = { 0 }, sum = 0;

		for (size_t i = 0; i < n; i++)
			count[((from[i].hash & mask) >> shift) & 2047]++;
		for (size_t d = 0; d < 2048; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			to[count[((from[i].hash & mask) >> shift) & 2047]++] = from[i];
		struct pending *swap = from;
		from = to;
		to = swap;
	}
	if (from != p)
		memcpy(p, from, n * sizeof *p);
	free(tmp);
}

/*
 * File the entries table_bulk_add appended, in the order of their home
 * slots: the slots are then written front to back instead of at random
 * (a million entries: a cache miss or two each, a third of a start-up).
 * Two of the same address (never from one listing of a folder) send every
 * appended entry through table_set_clock instead, in their order.
 */
static bool
file_sorted(struct table *t, struct pending *p, size_t n)
{
	size_t mask = t->nslots - 1;

	sort_by_home(p, n, mask);
	for (size_t i = 0; i < n; i++) {
		/* The same address has the same hash, so sorts next to it. */
		for (size_t j = i; j > 0 && p[j - 1].hash == p[i].hash; j--)
			if (ipaddr_equal(&t->entries[p[j - 1].idx].addr, &t->entries[p[i].idx].addr))
				return false;
		if (t->filed > 0 && t->slots[find_slot(t, &t->entries[p[i].idx].addr)] != 0)
			return false;   /* already in the table */
	}
	for (size_t i = 0; i < n; i++) {
		size_t s = (size_t)p[i].hash & mask;

		while (t->slots[s] != 0)
			s = (s + 1) & mask;
		t->slots[s] = p[i].idx + 1;
	}
	return true;
}

/* A heap element while the heap is built: the entry's clock mtime beside its index. */
struct heap_key {
	int64_t sec;
	uint32_t nsec;
	uint32_t idx;
};

static bool
key_less(const struct heap_key *a, const struct heap_key *b)
{
	return a->sec != b->sec ? a->sec < b->sec : a->nsec < b->nsec;
}

/*
 * Build the heap of all entries at once (Floyd: linear), on a compact copy
 * of the keys: on the entries themselves each comparison was a cache miss.
 */
static void
heapify(struct table *t)
{
	size_t n = t->count;
	struct heap_key *k = xreallocarray(NULL, n, sizeof *k);

	for (size_t i = 0; i < n; i++) {
		k[i].sec = (int64_t)t->entries[i].clock_mtime.tv_sec;
		k[i].nsec = (uint32_t)t->entries[i].clock_mtime.tv_nsec;
		k[i].idx = (uint32_t)i;
	}
	for (size_t top = n / 2; top-- > 0;) {
		struct heap_key x = k[top];
		size_t i = top;

		for (;;) {
			size_t l = 2 * i + 1, m = l;

			if (l >= n)
				break;
			if (l + 1 < n && key_less(&k[l + 1], &k[l]))
				m = l + 1;
			if (!key_less(&k[m], &x))
				break;
			k[i] = k[m];
			i = m;
		}
		k[i] = x;
	}
	/* Each entry's place through a small inverse array, then in entry
	 * order: written straight into the entries, each was a cache miss. */
	uint32_t *pos = xreallocarray(NULL, n, sizeof *pos);

	for (size_t i = 0; i < n; i++) {
		t->heap[i] = k[i].idx;
		pos[k[i].idx] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++)
		t->entries[i].heap_pos = pos[i];
	free(pos);
	free(k);
}

void
table_bulk_end(struct table *t)
{
	size_t first = t->filed, n = t->count - first;
	struct pending *p;

	if (n == 0)
		return;
	t->count = first;               /* the slots hold only the filed ones */
	table_reserve(t, first + n);
	t->count = first + n;
	p = xreallocarray(NULL, n, sizeof *p);
	for (size_t i = 0; i < n; i++) {
		p[i].hash = hash_addr(t, &t->entries[first + i].addr);
		p[i].idx = (uint32_t)(first + i);
	}
	if (!file_sorted(t, p, n)) {
		struct entry *e = xreallocarray(NULL, n, sizeof *e);

		/* Nothing was filed: add them one by one, a later one winning. */
		memcpy(e, t->entries + first, n * sizeof *e);
		t->count = t->filed = first;
		for (size_t i = 0; i < n; i++) {
			table_set_clock(t, &e[i].addr, &e[i].mtime, &e[i].clock_mtime);
			table_set_ino(t, &e[i].addr, e[i].ino);
		}
		free(e);
		free(p);
		return;
	}
	free(p);
	t->filed = t->count;
	if (first == 0) {
		heapify(t);
		return;
	}
	for (size_t i = first; i < t->count; i++) {
		t->heap[i] = (uint32_t)i;
		t->entries[i].heap_pos = (uint32_t)i;
		heap_up(t, i);
	}
}
