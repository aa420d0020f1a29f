/* relay_rebuild.h - the one-shot relay table job: expire the open-smtp entries, rebuild relay.cdb (osd expire, osd watch -1). */
#ifndef OSD_RELAY_REBUILD_H
#define OSD_RELAY_REBUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "opensmtp.h"
#include "relaydb.h"

/*
 * An entry whose snapshot mtime says it expires within this many seconds is
 * read, not taken from the snapshot: the one place a file's mtime moves
 * back is opensmtp_record_time_at's whole seconds, a fraction of one.
 */
#define RELAY_REBUILD_SNAP_MARGIN 60

/* What the job works on: the settings of osd.conf it needs. */
struct relay_rebuild_args {
	const char *rules;              /* the tcprules source file */
	const char *dir;                /* the open-smtp folder */
	const char *cdb;                /* relay.cdb, replaced atomically */
	long expire;                    /* relay_expire, seconds */
	struct relaydb_dynamic dyn;     /* relay_env, relay_ipv6_prefix */
	bool fsync;
	const char *snap;               /* the snapshot to start from and to save (NULL: none) */
};

struct relay_rebuild_stats {
	struct opensmtp_scan_stats scan;
	double scan_ms;                 /* the folder's scan (expiry included) */
	long records;                   /* written to relay.cdb */
	bool rules_missing;             /* the rules file does not exist: no static rules */
	long snap_loaded;               /* entries of the snapshot read (-1: none or not valid) */
	unsigned long snap_known;       /* live entries whose mtime it gave (no fstatat) */
	long snap_saved;                /* entries of the snapshot written (-1: not written) */
};

/*
 * Once: load the rules (first, so that a broken rules file never leaves a
 * table without them), scan the open-smtp folder removing what has
 * expired, and write relay.cdb from the rules and the live entries.  What
 * the watcher does on every change, for cron or a timer where none runs.
 * With a->snap, the scan takes the mtimes of unchanged entries from that
 * snapshot (opensmtp_scan_known, RELAY_REBUILD_SNAP_MARGIN: by the
 * snapshot's mtime, which is not later than the file's, an entry live a
 * minute from now is live now), and saves a new one
 * after writing relay.cdb (a failure there only costs the next start time).
 * 0 with *st filled, or -1 with err saying which step failed and why
 * ("rules: …", "<dir>: …", "reading <dir>: …", "writing <cdb>: …").
 */
int relay_rebuild_once(const struct relay_rebuild_args *a, struct relay_rebuild_stats *st,
		       char *err, size_t errsize);

#endif
