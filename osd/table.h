/* table.h - the watcher's live entries: a hash by address and a heap by mtime (read on the watcher's clock). */
#ifndef OSD_TABLE_H
#define OSD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ipaddr.h"

struct table;

struct table *table_new(void);
void table_free(struct table *t);

/*
 * Make room for n entries at once (a start-up scan of a million: without
 * it the hash is filed again at every doubling).  Only ever grows.
 */
void table_reserve(struct table *t, size_t n);

/*
 * Insert addr with mtime, or update its mtime.  Returns 1 when the
 * address is new (the relay table must change), 0 when only its time moved.
 */
int table_set(struct table *t, const struct ipaddr *addr, const struct timespec *mtime);

/*
 * As table_set, saying also when the entry's life began on the watcher's
 * clock (clock_mtime: mtime moved by the steps the wall clock made since
 * the watcher began).  The heap, table_oldest and table_ms_until_expiry
 * go by clock_mtime, so that a step of the wall clock does not stretch or
 * cut the life of an entry seen before it.  table_set is this with
 * clock_mtime = mtime.
 */
int table_set_clock(struct table *t, const struct ipaddr *addr, const struct timespec *mtime,
		    const struct timespec *clock_mtime);

/* Remove addr; true when it was there. */
bool table_remove(struct table *t, const struct ipaddr *addr);

/* The mtime of addr, if present. */
bool table_get(const struct table *t, const struct ipaddr *addr, struct timespec *mtime_r);

/* The mtime and clock mtime of addr, if present. */
bool table_get_clock(const struct table *t, const struct ipaddr *addr, struct timespec *mtime_r,
		     struct timespec *clock_mtime_r);

size_t table_count(const struct table *t);

/* Bytes held for the entries, the hash and the heap (by capacity, not count). */
size_t table_bytes(const struct table *t);

/* The entry with the oldest (clock) mtime (the next to expire); false when empty. */
bool table_oldest(const struct table *t, struct ipaddr *addr_r, struct timespec *mtime_r);

/* table_oldest, with its clock mtime too. */
bool table_oldest_clock(const struct table *t, struct ipaddr *addr_r, struct timespec *mtime_r,
			struct timespec *clock_mtime_r);

/*
 * Milliseconds from now (on the watcher's clock) until the oldest entry
 * expires (rounded up, 0 when it already has), or -1 when the table is
 * empty.
 */
long table_ms_until_expiry(const struct table *t, long expire, const struct timespec *now);

/* Walk every entry: start with *pos = 0; false at the end. */
bool table_next(const struct table *t, size_t *pos, struct ipaddr *addr_r,
		struct timespec *mtime_r);

/* table_next, giving the clock mtime instead of the mtime. */
bool table_next_clock(const struct table *t, size_t *pos, struct ipaddr *addr_r,
		      struct timespec *clock_mtime_r);

/*
 * Note whether the entry table_next or table_next_clock just returned (pos
 * as they left it) went into the relay.cdb being written.  A new entry
 * starts unwritten, and table_set does not change the mark: the watcher
 * asks table_written to know whether a change must reach relay.cdb.
 */
void table_mark(struct table *t, size_t pos, bool written);

/* Note the inode number of addr's file (0: not known), kept until changed. */
void table_set_ino(struct table *t, const struct ipaddr *addr, uint64_t ino);

/* The inode number of addr (0: not known, or not in the table). */
uint64_t table_get_ino(const struct table *t, const struct ipaddr *addr);

/* The inode number of the entry table_next just returned (pos as it left it). */
uint64_t table_ino(const struct table *t, size_t pos);

struct rules;
struct relaydb_dynamic;
struct relaydb_rec;

/*
 * The relay.cdb record of the entry table_next or table_next_clock just
 * returned (pos as they left it): made by relaydb_rec_for the first time
 * it is asked for in generation gen (never 0), then kept with the entry,
 * so that a rewrite neither formats nor hashes its key again.  The caller
 * moves to a new generation whenever statics or dyn change.  NULL when
 * pos is out of range.
 */
const struct relaydb_rec *table_rec(struct table *t, size_t pos, uint32_t gen,
				    struct rules *statics, const struct relaydb_dynamic *dyn);

/*
 * A rewrite of relay.cdb, without reading every entry's time: first
 * table_mark_gone marks the entries that are to be left out (gone(ctx,
 * clock_mtime) true), found through the heap in time proportional to
 * their number, so gone must also hold for every earlier clock mtime.
 * Then table_next_rec, from *pos = 0, gives the record (as table_rec) of
 * each entry not marked, in table order, marking each entry written or
 * not (table_mark) on the way; NULL at the end.  A table_mark_gone
 * forgets the marks of the one before.  Returns the number marked.
 */
typedef bool table_gone_fn(void *ctx, const struct timespec *clock_mtime);
size_t table_mark_gone(struct table *t, table_gone_fn *gone, void *ctx);
const struct relaydb_rec *table_next_rec(struct table *t, size_t *pos, uint32_t gen,
					 struct rules *statics, const struct relaydb_dynamic *dyn);

/*
 * How many entries the walk of table_next_rec since the last
 * table_mark_gone took out of relay.cdb (marked written before, not now).
 */
size_t table_unwritten(const struct table *t);

/* addr is in the table and marked written. */
bool table_written(const struct table *t, const struct ipaddr *addr);

/*
 * Bulk loading (a start-up scan of a million entries): table_bulk_add
 * appends an entry without filing it in the hash or the heap, and
 * table_bulk_end files all of them at once, much faster than one
 * table_set_clock each.  Between the two, only table_bulk_add may be
 * called.  An address added twice (or already in the table) ends as
 * table_set_clock and table_set_ino would leave it, the last one winning.
 */
void table_bulk_add(struct table *t, const struct ipaddr *addr, const struct timespec *mtime,
		    const struct timespec *clock_mtime, uint64_t ino);
void table_bulk_end(struct table *t);

/* Remove everything. */
void table_clear(struct table *t);

#endif
