/* metrics.c - the shared counter file (a versioned header, then an array of 64-bit slots every process maps MAP_SHARED and bumps atomically) and its Prometheus text form. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "path.h"

#define METRICS_MAGIC "osd-metrics\n"

/* The file: this header, then METRICS_SLOTS slots.  Native byte order: one host only. */
struct metrics_header {
	char magic[12];
	uint32_t version;
	uint32_t nslots;
	uint32_t pad[3];
};

#define METRICS_SIZE (sizeof(struct metrics_header) + METRICS_SLOTS * sizeof(uint64_t))

_Static_assert(METRIC_COUNT_ <= METRICS_SLOTS, "more metrics than slots");
_Static_assert(sizeof(struct metrics_header) % sizeof(uint64_t) == 0, "slots not aligned");
_Static_assert(M_REBUILD_BUCKET_LAST - M_REBUILD_BUCKET0 == METRICS_REBUILD_BUCKETS,
	       "a slot per bucket and one for +Inf");

volatile uint64_t *metrics_slots;

const double metrics_rebuild_bounds[METRICS_REBUILD_BUCKETS] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

int
metrics_path(const char *state_dir, char *out, size_t size)
{
	return path_fmt(out, size, "%s/" METRICS_DIR "/" METRICS_FILE, state_dir);
}

static void
header_init(struct metrics_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, METRICS_MAGIC, sizeof(h->magic));
	h->version = METRICS_VERSION;
	h->nslots = METRICS_SLOTS;
}

/* Whether fd holds a file of this layout (size and header). */
static bool
layout_ok(int fd)
{
	struct metrics_header h, want;
	struct stat st;

	header_init(&want);
	return fstat(fd, &st) == 0 && st.st_size == (off_t)METRICS_SIZE &&
	       pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && memcmp(&h, &want, sizeof(h)) == 0;
}

/* A fresh file written beside path and renamed over it: processes still mapping an old one keep theirs. */
static int
replace_file(const char *path, uid_t uid, gid_t gid)
{
	char tmp[PATH_MAX];
	struct metrics_header h;
	int fd;

	if (path_fmt(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) == -1)
		return -1;
	header_init(&h);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1 || ftruncate(fd, (off_t)METRICS_SIZE) == -1 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    (geteuid() == 0 && uid != (uid_t)-1 && fchown(fd, uid, gid) == -1) ||
	    rename(tmp, path) == -1) {
		int e = errno;

		close(fd);
		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

int
metrics_open(const char *path, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	char dir[PATH_MAX];
	void *p;
	int fd = -1, dirfd, tries;

	if (path_dirname(dir, sizeof(dir), path) == -1 || path_mkdirs(dir, 0755) == -1) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	/*
	 * Daemons that start together must all map one file: without a lock,
	 * two that found it missing (or bad) each made one, and the first to
	 * map counted into a file the second had renamed away.  So the look
	 * and the replace happen under an exclusive lock on the folder; no lock
	 * (an old kernel, a folder we cannot open) leaves the loop as it was.
	 */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd != -1 && flock(dirfd, LOCK_EX) == -1) {
		close(dirfd);
		dirfd = -1;
	}
	for (tries = 0; tries < 3; tries++) {
		if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) != -1 && layout_ok(fd))
			break;
		if (fd == -1 && errno != ENOENT)
			break;
		if (fd != -1)
			close(fd);
		fd = -1;
		if (replace_file(path, uid, gid) == -1)
			break;
	}
	if (fd == -1 || !layout_ok(fd)) {
		snprintf(err, errsize, "%s: %s", path, fd == -1 ? strerror(errno) : "not a metrics file");
		if (fd != -1)
			close(fd);
		if (dirfd != -1)
			close(dirfd);
		return -1;
	}
	p = mmap(NULL, METRICS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (dirfd != -1)
		close(dirfd);   /* the lock goes with it */
	if (p == MAP_FAILED) {
		snprintf(err, errsize, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	metrics_slots = (volatile uint64_t *)((char *)p + sizeof(struct metrics_header));
	return 0;
}

const volatile uint64_t *
metrics_map_readonly(const char *path, char *err, size_t errsize)
{
	void *p;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!layout_ok(fd)) {
		close(fd);
		snprintf(err, errsize, "%s: not a metrics file of version %d", path, METRICS_VERSION);
		return NULL;
	}
	p = mmap(NULL, METRICS_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errsize, "%s: mmap: %s", path, strerror(errno));
		return NULL;
	}
	return (const volatile uint64_t *)((const char *)p + sizeof(struct metrics_header));
}

void
metrics_observe_rebuild(double secs)
{
	size_t i;
	uint64_t us;

	if (metrics_slots == NULL)
		return;
	for (i = 0; i < METRICS_REBUILD_BUCKETS && secs > metrics_rebuild_bounds[i]; i++)
		;
	us = secs <= 0 ? 0 : secs >= 1e12 ? UINT64_MAX / 2 : (uint64_t)(secs * 1e6 + 0.5);
	__atomic_fetch_add(&metrics_slots[M_REBUILD_BUCKET0 + i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&metrics_slots[M_REBUILD_SUM_US], us, __ATOMIC_RELAXED);
	__atomic_fetch_add(&metrics_slots[M_REBUILDS], 1, __ATOMIC_RELAXED);
}

/* One sample line: a series of a family (rows of one family are consecutive). */
struct series {
	const char *name;
	const char *type;               /* NULL: the family's HELP/TYPE was given by the row before */
	const char *help;
	const char *labels;             /* "" or `name="value",...` */
	enum metric slot;
};

static const struct series series[] = {
	{ "osd_logins_recorded_total", "counter",
	  "Successful logins recorded in open-smtp/ (each opens or renews a relay entry).",
	  "service=\"pop3\"", M_LOGIN_RECORDED_POP3 },
	{ "osd_logins_recorded_total", NULL, NULL, "service=\"imap\"", M_LOGIN_RECORDED_IMAP },
	{ "osd_logins_recorded_total", NULL, NULL, "service=\"record\"", M_LOGIN_RECORDED_RECORD },
	{ "osd_logins_recorded_total", NULL, NULL, "service=\"checkpassword\"",
	  M_LOGIN_RECORDED_CHECKPW },
	{ "osd_logins_total", "counter",
	  "Login attempts of the POP3 and IMAP servers and of osd checkpassword, by result.",
	  "service=\"pop3\",result=\"ok\"", M_LOGIN_POP3_OK },
	{ "osd_logins_total", NULL, NULL, "service=\"pop3\",result=\"failed\"", M_LOGIN_POP3_FAILED },
	{ "osd_logins_total", NULL, NULL, "service=\"imap\",result=\"ok\"", M_LOGIN_IMAP_OK },
	{ "osd_logins_total", NULL, NULL, "service=\"imap\",result=\"failed\"", M_LOGIN_IMAP_FAILED },
	{ "osd_logins_total", NULL, NULL, "service=\"checkpassword\",result=\"ok\"",
	  M_LOGIN_CHECKPW_OK },
	{ "osd_logins_total", NULL, NULL, "service=\"checkpassword\",result=\"failed\"",
	  M_LOGIN_CHECKPW_FAILED },
	{ "osd_relay_decisions_total", "counter",
	  "SMTP recipients outside rcpthosts, by what allowed or refused relaying to them.",
	  "result=\"pop-before-smtp\"", M_RELAY_POP },
	{ "osd_relay_decisions_total", NULL, NULL, "result=\"auth\"", M_RELAY_AUTH },
	{ "osd_relay_decisions_total", NULL, NULL, "result=\"rule\"", M_RELAY_RULE },
	{ "osd_relay_decisions_total", NULL, NULL, "result=\"refused\"", M_RELAY_REFUSED },
	{ "osd_relay_entries", "gauge", "Live login entries in the watcher's relay table.", "",
	  M_RELAY_ENTRIES },
	{ "osd_relay_table_rebuild_failures_total", "counter",
	  "Rebuilds of relay.cdb that failed (kept pending and retried).", "", M_REBUILD_FAILURES },
	{ "osd_smtp_sessions_total", "counter", "SMTP connections served.", "", M_SMTP_SESSIONS },
	{ "osd_smtp_messages_total", "counter", "Messages at the end of DATA, by result.",
	  "result=\"accepted\"", M_SMTP_MSG_ACCEPTED },
	{ "osd_smtp_messages_total", NULL, NULL, "result=\"refused\"", M_SMTP_MSG_REFUSED },
	{ "osd_smtp_messages_total", NULL, NULL, "result=\"queue_error\"", M_SMTP_MSG_QUEUE_ERROR },
	{ "osd_smtp_rejections_total", "counter",
	  "Connections, senders and recipients the SMTP server refused, by reason.",
	  "reason=\"deny_rule\"", M_SMTP_REJ_DENY_RULE },
	{ "osd_smtp_rejections_total", NULL, NULL, "reason=\"badmailfrom\"", M_SMTP_REJ_BADMAILFROM },
	{ "osd_smtp_rejections_total", NULL, NULL, "reason=\"rcpthosts\"", M_SMTP_REJ_RCPTHOSTS },
	{ "osd_smtp_rejections_total", NULL, NULL, "reason=\"relay_trick\"", M_SMTP_REJ_RELAY_TRICK },
	{ "osd_smtp_rejections_total", NULL, NULL, "reason=\"unknown_user\"", M_SMTP_REJ_UNKNOWN_USER },
	{ "osd_queue_messages", "gauge",
	  "Messages in the queue: new (not yet taken by the queue manager), pending (due or being "
	  "delivered), deferred (waiting for a retry).", "state=\"new\"", M_QUEUE_NEW },
	{ "osd_queue_messages", NULL, NULL, "state=\"pending\"", M_QUEUE_PENDING },
	{ "osd_queue_messages", NULL, NULL, "state=\"deferred\"", M_QUEUE_DEFERRED },
	{ "osd_deliveries_total", "counter", "Delivery attempts per recipient, by result.",
	  "result=\"delivered\"", M_DELIVERY_DELIVERED },
	{ "osd_deliveries_total", NULL, NULL, "result=\"deferred\"", M_DELIVERY_DEFERRED },
	{ "osd_deliveries_total", NULL, NULL, "result=\"bounced\"", M_DELIVERY_BOUNCED },
	{ "osd_bounces_total", "counter", "Bounce messages (DSNs) queued.", "", M_BOUNCES },
};

/* The histogram: buckets are stored apart, printed cumulative (Prometheus wants le= running sums). */
static int
format_rebuilds(const uint64_t *v, struct buf *out)
{
	uint64_t cum = 0;
	int rc = 0;

	rc |= buf_append_str(out, "# HELP osd_relay_table_rebuild_duration_seconds Time taken to "
				  "write relay.cdb (successful rebuilds).\n"
				  "# TYPE osd_relay_table_rebuild_duration_seconds histogram\n");
	for (size_t i = 0; i <= METRICS_REBUILD_BUCKETS; i++) {
		cum += v[M_REBUILD_BUCKET0 + i];
		if (i < METRICS_REBUILD_BUCKETS)
			rc |= buf_printf(out, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"%g\"} "
					 "%llu\n", metrics_rebuild_bounds[i], (unsigned long long)cum);
		else
			rc |= buf_printf(out, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"+Inf\"} "
					 "%llu\n", (unsigned long long)cum);
	}
	rc |= buf_printf(out, "osd_relay_table_rebuild_duration_seconds_sum %llu.%06llu\n",
			 (unsigned long long)(v[M_REBUILD_SUM_US] / 1000000),
			 (unsigned long long)(v[M_REBUILD_SUM_US] % 1000000));
	/* _count equals the +Inf bucket by definition; the counter below is the same number. */
	rc |= buf_printf(out, "osd_relay_table_rebuild_duration_seconds_count %llu\n",
			 (unsigned long long)cum);
	rc |= buf_printf(out, "# HELP osd_relay_table_rebuilds_total Successful rebuilds of relay.cdb.\n"
			      "# TYPE osd_relay_table_rebuilds_total counter\n"
			      "osd_relay_table_rebuilds_total %llu\n", (unsigned long long)v[M_REBUILDS]);
	return rc;
}

int
metrics_format(const uint64_t *v, struct buf *out)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
		const struct series *s = &series[i];

		if (s->type != NULL)
			rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
					 s->type);
		rc |= buf_printf(out, "%s%s%s%s %llu\n", s->name, s->labels[0] ? "{" : "", s->labels,
				 s->labels[0] ? "}" : "", (unsigned long long)v[s->slot]);
	}
	rc |= format_rebuilds(v, out);
	return rc == 0 ? 0 : -1;
}
