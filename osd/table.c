/* table.c - live open-smtp entries: open-addressing hash by address, indexed min-heap by the watcher's clock mtime. */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "timecalc.h"
#include "xmalloc.h"

struct entry {
	struct ipaddr addr;
	struct timespec mtime;          /* the file's */
	struct timespec clock_mtime;    /* the same moment on the watcher's clock: orders the heap */
	uint32_t heap_pos;
	bool written;                   /* its record is in the relay.cdb last written (table_mark) */
	uint64_t ino;                   /* its file's inode number, for the snapshot (0: not known) */
};

struct table {
	struct entry *entries;  /* dense; removal moves the last one into the hole */
	size_t count, cap;
	uint32_t *slots;        /* entry index + 1, 0 = empty; linear probing */
	size_t nslots;          /* power of two, kept at most half full */
	uint32_t *heap;         /* entry indexes, oldest mtime on top */
	uint64_t seed;
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

static void grow_slots(struct table *t);

void
table_reserve(struct table *t, size_t n)
{
	if (n > t->cap) {
		t->cap = n;
		t->entries = xreallocarray(t->entries, t->cap, sizeof *t->entries);
		t->heap = xreallocarray(t->heap, t->cap, sizeof *t->heap);
	}
	if (n * 2 > t->nslots) {
		size_t want = t->nslots;

		while (n * 2 > want)
			want *= 2;
		t->nslots = want / 2;   /* grow_slots doubles it and files every entry again */
		grow_slots(t);
	}
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	free(t->entries);
	free(t->slots);
	free(t->heap);
	free(t);
}

void
table_clear(struct table *t)
{
	t->count = 0;
	memset(t->slots, 0, t->nslots * sizeof *t->slots);
}

size_t
table_count(const struct table *t)
{
	return t->count;
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

static void
grow_slots(struct table *t)
{
	free(t->slots);
	t->nslots *= 2;
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
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->entries = xreallocarray(t->entries, t->cap, sizeof *t->entries);
		t->heap = xreallocarray(t->heap, t->cap, sizeof *t->heap);
	}
	e = &t->entries[t->count];
	memset(e, 0, sizeof *e);
	e->addr = *addr;
	e->mtime = *mtime;
	e->clock_mtime = *clock_mtime;
	e->heap_pos = (uint32_t)t->count;
	t->heap[t->count] = (uint32_t)t->count;
	t->slots[slot] = (uint32_t)t->count + 1;
	t->count++;
	heap_up(t, t->count - 1);
	if (t->count * 2 > t->nslots)
		grow_slots(t);
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
		t->heap[t->entries[idx].heap_pos] = (uint32_t)idx;
		t->slots[find_slot(t, &t->entries[idx].addr)] = (uint32_t)idx + 1;
	}
	t->count--;
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
		t->entries[pos - 1].written = written;
}

void
table_set_ino(struct table *t, const struct ipaddr *addr, uint64_t ino)
{
	size_t slot = find_slot(t, addr);

	if (t->slots[slot] != 0)
		t->entries[t->slots[slot] - 1].ino = ino;
}

uint64_t
table_ino(const struct table *t, size_t pos)
{
	return pos > 0 && pos <= t->count ? t->entries[pos - 1].ino : 0;
}

bool
table_written(const struct table *t, const struct ipaddr *addr)
{
	size_t slot = find_slot(t, addr);

	return t->slots[slot] != 0 && t->entries[t->slots[slot] - 1].written;
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
