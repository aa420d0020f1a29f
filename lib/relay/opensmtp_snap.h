/* opensmtp_snap.h - a saved list of the open-smtp entries (address, inode, mtime) that lets a cold start skip one fstatat per entry. */
#ifndef OSD_OPENSMTP_SNAP_H
#define OSD_OPENSMTP_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ipaddr.h"

/*
 * The snapshot (state_dir/relay.snap) is a cache, never a source of
 * entries: a scan lists the folder itself and only takes an entry's mtime
 * from the snapshot when the listing shows a file with the inode number the
 * snapshot saved under that name (opensmtp_scan_known, which explains why
 * that mtime is then never later than the file's).  A missing, old, torn
 * or foreign snapshot costs only speed.
 */
struct opensmtp_snap;

/* Load the snapshot at path: NULL when it is missing or not a valid one (errno set). */
struct opensmtp_snap *opensmtp_snap_load(const char *path);

void opensmtp_snap_free(struct opensmtp_snap *s);

/* Entries in the snapshot. */
size_t opensmtp_snap_count(const struct opensmtp_snap *s);

/* opensmtp_known_fn over a loaded snapshot (ctx: the snapshot). */
bool opensmtp_snap_known(void *ctx, const struct ipaddr *addr, uint64_t ino,
			 struct timespec *mtime_r);

/* The entries to save, one a call: 1 and the entry, 0 at the end, -1 to fail. */
typedef int opensmtp_snap_next_fn(void *ctx, struct ipaddr *addr_r, struct timespec *mtime_r,
				  uint64_t *ino_r);

/*
 * Write a snapshot of the entries next gives (those with ino 0 are left
 * out) to path, atomically (temporary file, rename; fsync as do_fsync).
 * Returns the number saved, or -1 with errno.
 */
long opensmtp_snap_save(const char *path, opensmtp_snap_next_fn *next, void *ctx, bool do_fsync);

#endif
