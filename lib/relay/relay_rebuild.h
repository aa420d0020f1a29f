/* relay_rebuild.h - the one-shot relay table job: expire the open-smtp entries, rebuild relay.cdb (osd expire, osd watch -1). */
#ifndef OSD_RELAY_REBUILD_H
#define OSD_RELAY_REBUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "opensmtp.h"
#include "relaydb.h"

/* What the job works on: the settings of osd.conf it needs. */
struct relay_rebuild_args {
	const char *rules;              /* the tcprules source file */
	const char *dir;                /* the open-smtp folder */
	const char *cdb;                /* relay.cdb, replaced atomically */
	long expire;                    /* relay_expire, seconds */
	struct relaydb_dynamic dyn;     /* relay_env, relay_ipv6_prefix */
	bool fsync;
};

struct relay_rebuild_stats {
	struct opensmtp_scan_stats scan;
	double scan_ms;                 /* the folder's scan (expiry included) */
	long records;                   /* written to relay.cdb */
	bool rules_missing;             /* the rules file does not exist: no static rules */
};

/*
 * Once: load the rules (first, so that a broken rules file never leaves a
 * table without them), scan the open-smtp folder removing what has
 * expired, and write relay.cdb from the rules and the live entries.  What
 * the watcher does on every change, for cron or a timer where none runs.
 * 0 with *st filled, or -1 with err saying which step failed and why
 * ("rules: …", "<dir>: …", "reading <dir>: …", "writing <cdb>: …").
 */
int relay_rebuild_once(const struct relay_rebuild_args *a, struct relay_rebuild_stats *st,
		       char *err, size_t errsize);

#endif
