/* metrics.h - osd's counters and gauges in one small shared file (state_dir/run/metrics) that every process maps and updates with atomic adds, and their Prometheus text form. */
#ifndef OSD_METRICS_H
#define OSD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Where the file lives under state_dir, and its name. */
#define METRICS_DIR "run"
#define METRICS_FILE "metrics"
/* Bumped whenever a slot changes meaning: a file of another version is replaced. */
#define METRICS_VERSION 1
/* Slots in the file: room to add metrics without growing it. */
#define METRICS_SLOTS 256

/*
 * Every value's slot.  Counters only grow; gauges are set.  The order is
 * the file layout: add new ones before METRIC_COUNT_ and bump nothing
 * (a slot's meaning never changes within a version).
 */
enum metric {
	M_LOGIN_RECORDED_POP3, M_LOGIN_RECORDED_IMAP, M_LOGIN_RECORDED_RECORD,
	M_LOGIN_POP3_OK, M_LOGIN_POP3_FAILED, M_LOGIN_IMAP_OK, M_LOGIN_IMAP_FAILED,
	M_RELAY_POP, M_RELAY_AUTH, M_RELAY_RULE, M_RELAY_REFUSED,
	M_RELAY_ENTRIES,                /* gauge, the watcher's */
	M_REBUILDS, M_REBUILD_FAILURES,
	M_REBUILD_BUCKET0,              /* METRICS_REBUILD_BUCKETS non-cumulative buckets, then +Inf */
	M_REBUILD_BUCKET_LAST = M_REBUILD_BUCKET0 + 11,
	M_REBUILD_SUM_US,               /* the durations' sum in microseconds */
	M_SMTP_SESSIONS,
	M_SMTP_MSG_ACCEPTED, M_SMTP_MSG_REFUSED, M_SMTP_MSG_QUEUE_ERROR,
	M_SMTP_REJ_DENY_RULE, M_SMTP_REJ_BADMAILFROM, M_SMTP_REJ_RCPTHOSTS,
	M_SMTP_REJ_RELAY_TRICK, M_SMTP_REJ_UNKNOWN_USER,
	M_QUEUE_PENDING, M_QUEUE_DEFERRED,      /* gauges, the queue manager's */
	M_DELIVERY_DELIVERED, M_DELIVERY_DEFERRED, M_DELIVERY_BOUNCED,
	M_BOUNCES,
	M_QUEUE_NEW,                    /* filled in by osd metrics at scrape time, never stored */
	M_LOGIN_RECORDED_CHECKPW, M_LOGIN_CHECKPW_OK, M_LOGIN_CHECKPW_FAILED,
	METRIC_COUNT_
};

/* The upper bounds (seconds) of the rebuild duration histogram, +Inf not counted. */
#define METRICS_REBUILD_BUCKETS 11
extern const double metrics_rebuild_bounds[METRICS_REBUILD_BUCKETS];

/* The mapped slots of this process, NULL when none (then every update is a no-op). */
extern volatile uint64_t *metrics_slots;

/*
 * Open (creating it with mode 0644 when missing, or replacing one of
 * another layout) and map the file path, shared, for this process and the
 * children it forks; its folder is made when missing.  When running as
 * root and uid is not -1, the file is given to uid:gid, so the daemons that
 * start later as that user can map it too (the folder stays root's).  0, or -1 with err
 * (the caller logs and runs on without metrics).
 */
int metrics_open(const char *path, uid_t uid, gid_t gid, char *err, size_t errsize);

/* state_dir/run/metrics into out; 0 or -1 (too long). */
int metrics_path(const char *state_dir, char *out, size_t size);

/* Map path read-only (osd metrics): the slots, or NULL with err. */
const volatile uint64_t *metrics_map_readonly(const char *path, char *err, size_t errsize);

/* Add 1 to counter m: one atomic add in the shared page, no system call. */
static inline void
metrics_inc(enum metric m)
{
	if (metrics_slots != NULL)
		__atomic_fetch_add(&metrics_slots[m], 1, __ATOMIC_RELAXED);
}

/* Set gauge m. */
static inline void
metrics_set(enum metric m, uint64_t v)
{
	if (metrics_slots != NULL)
		__atomic_store_n(&metrics_slots[m], v, __ATOMIC_RELAXED);
}

/* One relay table rebuild that took secs seconds: the counter and the histogram. */
void metrics_observe_rebuild(double secs);

/*
 * The Prometheus text exposition (format 0.0.4) of the values v
 * (METRIC_COUNT_ of them: a copy taken from the file), HELP and TYPE
 * lines included.  Pure.  0, or -1 when out of memory.
 */
int metrics_format(const uint64_t *v, struct buf *out);

#endif
