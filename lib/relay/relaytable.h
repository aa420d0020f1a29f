/* relaytable.h - relay.cdb kept open by a long-running reader, re-opened only when the watcher has replaced it. */
#ifndef OSD_RELAYTABLE_H
#define OSD_RELAYTABLE_H

#include <cdb.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct relay_table {
	bool open;              /* cdb holds the table (false: none, as for a missing file) */
	int fd;
	struct cdb cdb;
	/* the identity of what is open: the watcher's rename makes a new inode */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* Nothing open yet. */
void relay_table_init(struct relay_table *rt);

/*
 * Bring rt up to date with path: one stat(2), and only when the file is
 * another one than the open one (dev, inode, size, mtime) is it opened
 * and mapped afresh.  A missing file is an empty table.  0, or -1 with
 * errno when the new file cannot be read (rt then keeps the table it had:
 * the watcher writes whole tables, so the old one is still a whole one).
 */
int relay_table_refresh(struct relay_table *rt, const char *path);

/* The open table for relay_decide_cdb, or NULL when there is none. */
struct cdb *relay_table_cdb(struct relay_table *rt);

/* Unmap and close. */
void relay_table_close(struct relay_table *rt);

#endif
