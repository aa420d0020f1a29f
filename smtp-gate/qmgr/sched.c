/* sched.c - the retry schedule and the heap of waiting messages. */
#include "sched.h"

#include <stdlib.h>

#include "timecalc.h"

/* qmail-send's "chanskip" per channel, in seconds. */
#define SCHED_LOCAL_STEP 100
#define SCHED_REMOTE_STEP 400

time_t
sched_next_try(time_t arrival, unsigned tries, bool remote, long lifetime, time_t now)
{
	long long step = remote ? SCHED_REMOTE_STEP : SCHED_LOCAL_STEP;
	/* At most 400 * 100000^2 = 4e12 s; the sums saturate (an arrival read from a damaged file). */
	long long n = tries > 100000 ? 100000 : tries;
	time_t next = time_add(arrival, step * n * n);
	time_t last = time_add(arrival, lifetime > 0 ? lifetime : 0);

	if (next > last)
		next = last;
	if (next <= now)
		next = time_add(now, 1);
	return next;
}

void
sched_heap_init(struct sched_heap *h)
{
	h->v = NULL;
	h->len = h->cap = 0;
}

void
sched_heap_free(struct sched_heap *h)
{
	free(h->v);
	sched_heap_init(h);
}

static bool
before(const struct sched_entry *a, const struct sched_entry *b)
{
	return a->next < b->next;
}

static void
place(struct sched_heap *h, size_t i, struct sched_entry *e)
{
	h->v[i] = e;
	e->heap_index = i;
}

static void
sift_up(struct sched_heap *h, size_t i)
{
	struct sched_entry *e = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!before(e, h->v[parent]))
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, e);
}

static void
sift_down(struct sched_heap *h, size_t i)
{
	struct sched_entry *e = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sched_entry *best = e;

		if (l < h->len && before(h->v[l], best))
			m = l, best = h->v[l];
		if (r < h->len && before(h->v[r], best))
			m = r;
		if (m == i)
			break;
		place(h, i, h->v[m]);
		i = m;
	}
	place(h, i, e);
}

int
sched_heap_push(struct sched_heap *h, struct sched_entry *e)
{
	if (h->len == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		struct sched_entry **v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	place(h, h->len++, e);
	sift_up(h, h->len - 1);
	return 0;
}

struct sched_entry *
sched_heap_peek(const struct sched_heap *h)
{
	return h->len > 0 ? h->v[0] : NULL;
}

void
sched_heap_remove(struct sched_heap *h, struct sched_entry *e)
{
	size_t i = e->heap_index;
	struct sched_entry *last;

	if (i >= h->len || h->v[i] != e)
		return;
	last = h->v[--h->len];
	if (i == h->len)
		return;
	place(h, i, last);
	sift_up(h, i);
	sift_down(h, last->heap_index);
}

struct sched_entry *
sched_heap_pop(struct sched_heap *h)
{
	struct sched_entry *top = sched_heap_peek(h);

	if (top != NULL)
		sched_heap_remove(h, top);
	return top;
}

void
sched_heap_update(struct sched_heap *h, struct sched_entry *e)
{
	if (e->heap_index >= h->len || h->v[e->heap_index] != e)
		return;
	sift_up(h, e->heap_index);
	sift_down(h, e->heap_index);
}
