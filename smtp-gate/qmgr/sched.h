/* sched.h - when the queue manager tries a message: qmail's retry schedule, and a min-heap of messages on their next try. */
#ifndef OSD_SMTP_SCHED_H
#define OSD_SMTP_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/*
 * qmail's schedule: the n-th retry comes c·n² seconds after arrival, with
 * c = 100 s for local and 400 s for remote deliveries (0, 6m40s, 26m40s,
 * 1h, 1h46m... for remote).  Never later than arrival + lifetime, so an
 * undeliverable message gets its last try, and its bounce, on time.
 * tries: rounds made so far (>= 1 after the first).  The result is never
 * before now + 1.
 */
time_t sched_next_try(time_t arrival, unsigned tries, bool remote, long lifetime, time_t now);

/* One message waiting for its next round. */
struct sched_entry {
	time_t next;
	size_t heap_index;      /* private */
	void *item;             /* the caller's message */
};

/* A binary min-heap on next (ties in no set order: new mail waits in a FIFO, not here). */
struct sched_heap {
	struct sched_entry **v;
	size_t len, cap;
};

void sched_heap_init(struct sched_heap *h);
void sched_heap_free(struct sched_heap *h);
int sched_heap_push(struct sched_heap *h, struct sched_entry *e);        /* -1 on ENOMEM */
struct sched_entry *sched_heap_peek(const struct sched_heap *h);         /* NULL when empty */
struct sched_entry *sched_heap_pop(struct sched_heap *h);
void sched_heap_remove(struct sched_heap *h, struct sched_entry *e);
/* e->next changed: restore the order. */
void sched_heap_update(struct sched_heap *h, struct sched_entry *e);

#endif
