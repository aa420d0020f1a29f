/* watch.c - osd watch: keep relay.cdb equal to tcp.smtp + the live entries of open-smtp/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "fleet.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "log.h"
#include "sigfd.h"
#include "opensmtp.h"
#include "opensmtp_snap.h"
#include "opensmtp_user.h"
#include "path.h"
#include "progress.h"
#include "atomicfile.h"
#include "relay_rebuild.h"
#include "cdbbuild.h"
#include "relaydb.h"
#include "rules.h"
#include "runas.h"
#include "table.h"
#include "timecalc.h"
#include "xmalloc.h"

/* A login creates a file (its mtime is then the login time) or touches one
 * (IN_ATTRIB); IN_CLOSE_WRITE would only repeat IN_CREATE. */
#define DIR_EVENTS (IN_CREATE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define RULES_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
		      IN_ATTRIB | IN_ONLYDIR)

struct watcher {
	struct osd_conf conf;
	const char *conf_arg;
	char dir[PATH_MAX];             /* open-smtp/ */
	char cdb[PATH_MAX];             /* relay.cdb */
	char snap[PATH_MAX];            /* relay.snap: the table as of the last save (cold start) */
	char rules_dir[PATH_MAX];
	const char *rules_base;
	int dirfd;
	int inotify_fd;
	int dir_wd, rules_wd;
	struct rules rules;
	uint32_t rec_gen;               /* the generation of the records kept in table (table_rec): moves with the rules */
	struct cdbbuild cdb_build;      /* relay.cdb's writer (1 MiB buffer, table lists): kept, so a rewrite allocates nothing */
	struct table *table;
	bool dirty;                     /* relay.cdb must be rewritten */
	bool revoked;                   /* an entry was revoked: rewrite without waiting (relay_batch) */
	bool shrunk;                    /* the next relay.cdb may lack a record the last one has: make its rename durable */
	long long next_write_ns;        /* boot clock: no rewrite before (relay_batch; 0: at once) */
	long long wrote_ns;             /* boot clock: the last rewrite began (0: none, or it failed) */
	long long rewrite_ns;           /* a rewrite's wall time, smoothed (0: none yet) */
	bool rescan;                    /* the folder must be read again */
	bool rules_changed;
	bool reinit;                    /* the folder went away: start inotify afresh */
	bool scanned_once;              /* the first scan is done (only it shows progress) */
	struct progress scan_progress;
	uint64_t scan_count;
	long long scan_shift_ns;        /* during a scan: clock_shift_ns, read now and then */
	struct fleet *fleet;            /* fleet = redis (docs/fleet.md), else NULL */
	struct table *mirrored;         /* entries set from the fleet, at the time set: never published back */
	struct table *old_table;        /* during a rescan: the entries as they were */
	struct ipaddr *verify;          /* entries whose mtime the snapshot gave: read after start */
	size_t verify_n, verify_pos;
	unsigned long verify_moved;     /* of those, the ones whose file had moved on */
	long long snap_due_ns;          /* boot clock: save the snapshot at the next wake-up after */
	/*
	 * The watcher's clock: the wall clock at start-up moved on by the
	 * boot clock (which counts suspended time too, and never steps).
	 * Expiry goes by it, so a step of the wall clock neither stretches
	 * nor cuts the life of an entry seen before the step.
	 */
	struct timespec clock_base_real;
	long long clock_base_boot_ns;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd watch [-c FILE] [-1] [-v]\n"
		     "Watch open-smtp/ and the rules file; keep relay.cdb current and\n"
		     "expire entries older than relay_expire.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  -1       scan, expire, rebuild once and exit\n"
		     "  -v       also log each rebuild of relay.cdb and its time\n"
		     "On a terminal, the first scan shows a progress line on stderr.\n");
}

/*
 * libinotifytools hides its descriptor; we need it to wait on inotify and
 * signals together with a millisecond timer, so find it in /proc/self/fd
 * (right after inotifytools_initialize, it is the only inotify one).
 */
static int
find_inotify_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char link[64], target[64];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name) >= sizeof link)
			continue;
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:inotify") == 0)
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

static int
load_rules(struct watcher *w, bool at_start)
{
	struct rules fresh;
	char err[PATH_MAX + 256];
	int r = rules_load_file(&fresh, w->conf.rules, err, sizeof err);

	if (r < 0) {
		if (at_start)
			fatalx("rules: %s", err);
		log_errx("rules: %s (keeping the previous rules)", err);
		return -1;
	}
	if (r == 1)
		log_info("rules: %s does not exist: no static rules", w->conf.rules);
	rules_free(&w->rules);
	w->rules = fresh;
	/* A deny may now cover a kept record, or cover one no more. */
	if (++w->rec_gen == 0)
		w->rec_gen = 1;
	w->shrunk = true;
	return 0;
}

static long long
boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* t moved by ns nanoseconds (|ns| well below a century: no overflow). */
static struct timespec
ts_add_ns(struct timespec t, long long ns)
{
	long long sec = ns / 1000000000LL, nsec = t.tv_nsec + ns % 1000000000LL;

	if (nsec < 0) {
		nsec += 1000000000LL;
		sec--;
	} else if (nsec >= 1000000000LL) {
		nsec -= 1000000000LL;
		sec++;
	}
	t.tv_sec = time_add(t.tv_sec, sec);
	t.tv_nsec = (long)nsec;
	return t;
}

static void
clock_start(struct watcher *w)
{
	clock_gettime(CLOCK_REALTIME, &w->clock_base_real);
	w->clock_base_boot_ns = boot_ns();
}

/* Now on the watcher's clock. */
static struct timespec
clock_now(const struct watcher *w)
{
	return ts_add_ns(w->clock_base_real, boot_ns() - w->clock_base_boot_ns);
}

/*
 * An mtime the wall clock stamped now (or lately) on the watcher's clock:
 * moved by how far the wall clock has stepped since the watcher began
 * (0 while it has not).
 */
static long long
clock_shift_ns(const struct watcher *w)
{
	struct timespec real, now = clock_now(w);

	clock_gettime(CLOCK_REALTIME, &real);
	return time_diff(now.tv_sec, real.tv_sec) * 1000000000LL + (now.tv_nsec - real.tv_nsec);
}

static struct timespec
clock_mtime_of(const struct watcher *w, const struct timespec *mtime)
{
	return ts_add_ns(*mtime, clock_shift_ns(w));
}

/* Put addr in the table as the wall clock stamped it (see clock_mtime_of). */
static int
table_set_now(struct watcher *w, struct table *t, const struct ipaddr *addr,
	      const struct timespec *mtime)
{
	struct timespec cm = clock_mtime_of(w, mtime);

	return table_set_clock(t, addr, mtime, &cm);
}

/*
 * A scanned entry, filed in the fresh table in bulk (full_scan files them
 * at the end).  The clock's shift is read again every 4,096 entries, not
 * for each (three clock reads an entry were 3 % of a start-up).
 */
static int
add_found(void *ctx, const struct opensmtp_found *f)
{
	struct watcher *w = ctx;
	const struct ipaddr *addr = &f->addr;
	const struct timespec *mtime = &f->mtime;
	struct timespec old_m, old_cm, cm;

	if (w->scan_count % 4096 == 0)
		w->scan_shift_ns = clock_shift_ns(w);
	cm = ts_add_ns(*mtime, w->scan_shift_ns);

	/*
	 * An entry seen before, unchanged, keeps its clock mtime if that is
	 * earlier: a rescan after the wall clock stepped back must not give
	 * it the step as extra life.
	 */
	if (w->old_table != NULL && table_count(w->old_table) > 0 &&
	    table_get_clock(w->old_table, addr, &old_m, &old_cm) &&
	    old_m.tv_sec == mtime->tv_sec && old_m.tv_nsec == mtime->tv_nsec &&
	    (old_cm.tv_sec < cm.tv_sec ||
	     (old_cm.tv_sec == cm.tv_sec && old_cm.tv_nsec < cm.tv_nsec)))
		cm = old_cm;
	table_bulk_add(w->table, addr, mtime, &cm, f->ino);
	progress_update(&w->scan_progress, ++w->scan_count, -1);
	if (f->known) {
		if (w->verify_n % 65536 == 0)
			w->verify = xreallocarray(w->verify, w->verify_n + 65536, sizeof *w->verify);
		w->verify[w->verify_n++] = f->addr;
	}
	return 0;
}

/*
 * Start-up reads the mtimes of unchanged entries from the snapshot
 * (opensmtp_scan_known): 1,000,000 entries in well under a second instead
 * of 2-4 s of fstatat.  Only an entry still live SNAP_MARGIN seconds from
 * now by the snapshot's mtime is taken from it, and each one is read again
 * soon after start (verify_some), long before that margin runs out: the
 * table then holds each file's own mtime again, as after a full scan.
 */
#define SNAP_MARGIN RELAY_REBUILD_SNAP_MARGIN
#define SNAP_SAVE_SECS 600      /* a snapshot no older than this survives a crash */
#define VERIFY_CHUNK 4096       /* entries read again a wake-up */

static void
full_scan(struct watcher *w)
{
	struct opensmtp_scan_stats st;
	struct opensmtp_snap *snap = NULL;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Only the first scan: a rescan follows lost events or a new
	 * relay_expire, and reads every file. */
	free(w->verify);
	w->verify = NULL;
	w->verify_n = w->verify_pos = 0;
	w->verify_moved = 0;
	if (!w->scanned_once)
		snap = opensmtp_snap_load(w->snap);
	/* The table is read afresh beside the old one, which add_found consults. */
	w->old_table = w->table;
	w->table = table_new();
	table_reserve(w->table, snap != NULL ? opensmtp_snap_count(snap) : table_count(w->old_table));
	/* Start-up over a million entries takes a while: say how far it is on a terminal. */
	progress_start(&w->scan_progress, w->scanned_once ? -1 : STDERR_FILENO,
		       "osd: watch: first scan", "entries");
	w->scan_count = 0;
	if (opensmtp_scan_known(w->dirfd, w->conf.relay_expire, SNAP_MARGIN,
				snap != NULL ? opensmtp_snap_known : NULL, snap, add_found, w, &st) < 0)
		log_warn("open-smtp: reading %s", w->dir);
	opensmtp_snap_free(snap);
	table_bulk_end(w->table);
	progress_end(&w->scan_progress, w->scan_count, -1);
	table_free(w->old_table);
	w->old_table = NULL;
	/*
	 * The scan's passing lists (the snapshot, the bulk load's sort and heap
	 * build: ~60 MB at a million) are freed inside the heap keep_heap keeps;
	 * give them back before the first rewrite pages in the kept records.
	 */
#ifdef M_TRIM_THRESHOLD
	(void)malloc_trim(0);
#endif
	w->scanned_once = true;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("scan: %lu live, %lu expired, %lu ignored in %.1f ms%s", st.live, st.expired,
		 st.ignored, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
		 w->verify_n > 0 ? " (mtimes from the snapshot, read again now)" : "");
	w->rescan = false;
	w->dirty = true;
	w->shrunk = true;       /* entries gone meanwhile are not in the new table */
}

/* The table's entries for the snapshot. */
struct snap_iter {
	const struct table *table;
	size_t pos;
};

static int
next_snap(void *ctx, struct ipaddr *addr_r, struct timespec *mtime_r, uint64_t *ino_r)
{
	struct snap_iter *it = ctx;

	if (!table_next(it->table, &it->pos, addr_r, mtime_r))
		return 0;
	*ino_r = table_ino(it->table, it->pos);
	return 1;
}

/* Save the snapshot (a cache: not fsynced, a torn one is ignored at start). */
static void
save_snap(struct watcher *w)
{
	struct snap_iter it = { .table = w->table };

	w->snap_due_ns = boot_ns() + SNAP_SAVE_SECS * 1000000000LL;
	if (opensmtp_snap_save(w->snap, next_snap, &it, false) < 0)
		log_warn("cannot save %s", w->snap);
}

/*
 * Read again up to VERIFY_CHUNK of the entries whose mtime came from the
 * snapshot, and take the file's own (a login while the watcher was down
 * moved it on).  An entry gone meanwhile has its inotify event queued.
 */
static void
verify_some(struct watcher *w)
{
	char name[IPADDR_TEXT_MAX];
	struct timespec m, cm;
	struct stat st;

	for (size_t n = 0; n < VERIFY_CHUNK && w->verify_pos < w->verify_n; n++) {
		const struct ipaddr *addr = &w->verify[w->verify_pos++];

		if (!table_get_clock(w->table, addr, &m, &cm))
			continue;
		ipaddr_format(addr, name);
		if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (st.st_mtim.tv_sec == m.tv_sec && st.st_mtim.tv_nsec == m.tv_nsec)
			continue;
		w->verify_moved++;
		table_set_now(w, w->table, addr, &st.st_mtim);
		table_set_ino(w->table, addr, (uint64_t)st.st_ino);
		if (!table_written(w->table, addr))
			w->dirty = true;
	}
	if (w->verify_pos < w->verify_n)
		return;
	log_info("snapshot: %zu entries read again, %lu had a later login", w->verify_n,
		 w->verify_moved);
	free(w->verify);
	w->verify = NULL;
	w->verify_n = w->verify_pos = 0;
	save_snap(w);
}

struct entry_iter {
	struct table *table;
	size_t pos;
	long expire;
	struct timespec cutoff;         /* an entry that expires by then is left out */
	uint32_t gen;                   /* of the records (table_rec) */
	struct rules *statics;
	const struct relaydb_dynamic *dyn;
};

/*
 * The entries for relay.cdb, each marked written or not.  One that expires
 * before the next rewrite may replace relay.cdb (cutoff: lookahead_ns) is
 * left out now: relay.cdb never holds an entry past its expiry, and the expiry
 * of an entry it does not hold needs no rewrite (expire_due).  Those are
 * found through the table's heap (an earlier clock mtime expires no later),
 * so that a rewrite does not read every entry's time.
 */
static bool
expires_by_cutoff(void *ctx, const struct timespec *clock_mtime)
{
	const struct entry_iter *it = ctx;

	return opensmtp_is_expired(clock_mtime, it->expire, &it->cutoff);
}

static int
next_entry(void *ctx, const struct relaydb_rec **rec_r)
{
	struct entry_iter *it = ctx;

	*rec_r = table_next_rec(it->table, &it->pos, it->gen, it->statics, it->dyn);
	return *rec_r != NULL;
}

/*
 * Batched rewrites (relay_batch).  At 1,000 new logins a second a rewrite
 * for each change is ~900 rewrites a second, nearly all the watcher's CPU.
 * The first change after a quiet moment is written at once; the changes
 * that come within the window after the start of the last rewrite wait
 * for its end and go into one rewrite.  relay_batch bounds the wait and the
 * rewrite together, so the window is relay_batch less what a rewrite takes
 * (window_ns): small tables are rewritten at most 1000/relay_batch times a
 * second, and a table whose rewrite takes half of relay_batch or more is
 * rewritten as soon as the last rewrite ends.  A revoke read while nothing
 * waits is written at once, without waiting for the window.
 * Milliseconds until relay.cdb may be rewritten (0: now).
 */
static long long window_ns(const struct watcher *w);

static long
batch_wait_ms(const struct watcher *w)
{
	long long now, due = w->next_write_ns;

	if (w->revoked || due == 0)
		return 0;
	/* The wider window of a fleet resync ends with it (writing sooner is always safe). */
	if (w->wrote_ns != 0 && w->wrote_ns + window_ns(w) < due)
		due = w->wrote_ns + window_ns(w);
	now = boot_ns();
	return now >= due ? 0 : (long)((due - now + 999999) / 1000000);
}

/*
 * relay_batch, but at most a tenth of relay_expire: each rewrite leaves out
 * the entries that expire within the window, so a window as long as
 * relay_expire would leave out every new login.  While the fleet resyncs
 * (up to every live login of the fleet in a burst), at least
 * FLEET_RESYNC_BATCH_MS: a rewrite of the growing table after every few
 * hundred mirrored logins would cost as much as the mirroring.
 */
static long
batch_ms(const struct watcher *w)
{
	long cap = w->conf.relay_expire * 100, ms = w->conf.relay_batch;

	if (fleet_resyncing(w->fleet) && ms < FLEET_RESYNC_BATCH_MS)
		ms = FLEET_RESYNC_BATCH_MS;
	return ms < cap ? ms : cap;
}

/* The window after the start of a rewrite: relay_batch less a rewrite's time. */
static long long
window_ns(const struct watcher *w)
{
	long long budget = batch_ms(w) * 1000000LL;

	return budget > w->rewrite_ns ? budget - w->rewrite_ns : 0;
}

/*
 * How far ahead a rewrite must leave out the entries that expire: the next
 * one may start at the end of the window (or of this rewrite, if later)
 * and replaces relay.cdb a rewrite's time after that.
 */
static long long
lookahead_ns(const struct watcher *w)
{
	long long win = window_ns(w);

	return (win > w->rewrite_ns ? win : w->rewrite_ns) + w->rewrite_ns;
}

/* Smooth a rewrite's wall time in (a quarter of each new one): one slow write does not swing the window. */
static void
note_rewrite_ns(struct watcher *w, long long ns)
{
	w->rewrite_ns = w->rewrite_ns == 0 ? ns : w->rewrite_ns + (ns - w->rewrite_ns) / 4;
}

/* Take addr out of the table: relay.cdb must change only if it holds it. */
static void
drop_entry(struct watcher *w, const struct ipaddr *addr)
{
	bool written = table_written(w->table, addr);

	if (table_remove(w->table, addr) && written)
		w->dirty = w->shrunk = true;
}

/* Make the file now at path, and its name, durable (after its exchange into place). */
static int
sync_published(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r < 0 ? -1 : fsync_parent_dir(path);
}

static void
rebuild(struct watcher *w)
{
	struct relaydb_dynamic dyn = { w->conf.relay_env_value, w->conf.relay_env_len,
				       w->conf.relay_ipv6_prefix };
	struct entry_iter it = { .table = w->table, .expire = w->conf.relay_expire,
				 .gen = w->rec_gen, .statics = &w->rules, .dyn = &dyn };
	struct timespec t0, t1;
	long long start = boot_ns();
	long n;

	it.cutoff = ts_add_ns(clock_now(w), lookahead_ns(w));
	w->next_write_ns = start + window_ns(w);
	w->revoked = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	table_mark_gone(w->table, expires_by_cutoff, &it);
	/*
	 * The new table goes in by an exchange of names, not a rename over the
	 * old one: ext4 writes a file renamed over another to disk at once, and
	 * at 1,000 logins a second that was ~150 MB/s of tables each replaced
	 * within 40 ms.  It is made durable (its data, then the folder) only
	 * when it lacks a record the last one had: after a crash, an older
	 * relay.cdb must not come back with an entry past its expiry, or a
	 * revoked one.  One that only adds may come back older or empty (it
	 * lacks logins; the watcher writes it whole when it starts).
	 */
	n = relaydb_write_recs(&w->cdb_build, w->cdb, &w->rules, &dyn, next_entry, &it,
			       ATOMICFILE_SWAP);
	if (table_unwritten(w->table) > 0)
		w->shrunk = true;       /* the marks moved on: remember it even if the write failed */
	if (n >= 0 && w->conf.fsync && w->shrunk && sync_published(w->cdb) < 0)
		log_warn("relay table: cannot sync %s or its folder", w->cdb);
	else if (n >= 0)
		w->shrunk = false;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (n < 0) {
		/* Keep the change pending; retried in a second. */
		log_warn("relay table: cannot write %s", w->cdb);
		metrics_inc(M_REBUILD_FAILURES);
		w->next_write_ns = boot_ns() + 1000000000LL;
		w->wrote_ns = 0;
		return;
	}
	w->wrote_ns = start;
	w->dirty = false;
	note_rewrite_ns(w, boot_ns() - start);
	metrics_observe_rebuild((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	metrics_set(M_RELAY_ENTRIES, table_count(w->table));
	log_debug("relay table: %ld records (%zu dynamic) in %.2f ms", n, table_count(w->table),
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/*
 * Fleet mode: publish the local login behind entry name (status st) unless
 * it is one mirrored from the fleet (its mtime is the time we set).
 */
static void
publish_entry(struct watcher *w, const struct ipaddr *addr, const char *name, const struct stat *st)
{
	struct fleet_login l = { .addr = *addr };
	struct timespec mirrored;

	if (w->fleet == NULL)
		return;
	if (table_get(w->mirrored, addr, &mirrored)) {
		if (mirrored.tv_sec == st->st_mtim.tv_sec && mirrored.tv_nsec == st->st_mtim.tv_nsec)
			return;
		table_remove(w->mirrored, addr);        /* a local login since */
	}
	l.login_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	if (opensmtp_user_get(w->dirfd, name, st, -1, l.user, sizeof l.user) != 1)
		l.user[0] = '\0';
	fleet_publish(w->fleet, &l);
}

/* Store user on the mirrored entry name, if it still has the time we set (when). */
static void
mirror_user(struct watcher *w, const char *name, const struct timespec *when, const char *user)
{
	struct stat st;
	int fd = openat(w->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return;
	/* A local login since has its own name. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtim.tv_sec == when->tv_sec &&
	    st.st_mtim.tv_nsec == 0 && opensmtp_user_set(w->dirfd, name, fd, &st, user) < 0)
		log_warn("fleet: %s: cannot store the login name", name);
	close(fd);
}

/*
 * Fleet hook: another host's login (checked by fleetmsg.c) becomes the
 * local entry, with the original login time, so relay.cdb, osd check and
 * smtpd see it as any login.  A local entry as new or newer is kept.
 */
static void
mirror_login(void *ctx, const struct fleet_login *l)
{
	struct watcher *w = ctx;
	struct timespec now, when = { 0 }, cur, prev;
	char name[IPADDR_TEXT_MAX];
	struct stat st;
	bool had;
	int r;

	if (w->dirfd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	/* Whole seconds (opensmtp_record_time_at): the copy expires up to a
	 * second before the original, never after; a time ahead of our clock
	 * (within the skew fleetmsg allows) is taken as now. */
	when.tv_sec = l->login_ms / 1000 < now.tv_sec ? l->login_ms / 1000 : now.tv_sec;
	ipaddr_format(&l->addr, name);
	had = table_get(w->mirrored, &l->addr, &prev);
	if (table_get(w->table, &l->addr, &cur) && cur.tv_sec >= when.tv_sec) {
		/* The same login again, now with its name: the origin saw the
		 * touch before its recorder stored the name. */
		if (had && prev.tv_sec == when.tv_sec && prev.tv_nsec == 0 && cur.tv_sec == when.tv_sec &&
		    cur.tv_nsec == 0 && l->user[0] != '\0')
			mirror_user(w, name, &when, l->user);
		return;
	}
	/* Marked before the write: its inotify event must not publish it back. */
	table_set(w->mirrored, &l->addr, &when);
	/* With its login name: a new entry is linked in with it already set. */
	r = opensmtp_mirror_at(w->dirfd, &l->addr, when.tv_sec, l->user[0] != '\0' ? l->user : NULL,
			       &st);
	if (r != 1 && r != 2) {
		if (r < 0)
			log_warn("fleet: cannot mirror the login of %s", name);
		if (had)
			table_set(w->mirrored, &l->addr, &prev);
		else
			table_remove(w->mirrored, &l->addr);
		return;
	}
	if (r == 2) {
		/*
		 * A new entry goes into the table now, as entry_seen would put
		 * it; the IN_CREATE of its link then finds it there by its
		 * inode (kept in mirrored) and reads nothing.
		 */
		table_set_now(w, w->table, &l->addr, &st.st_mtim);
		table_set_ino(w->table, &l->addr, (uint64_t)st.st_ino);
		table_set_ino(w->mirrored, &l->addr, (uint64_t)st.st_ino);
		if (!table_written(w->table, &l->addr))
			w->dirty = true;
	}
	log_debug("fleet: mirrored %s (login %lld ms%s%s)", name, (long long)l->login_ms,
		  l->user[0] ? " by " : "", l->user);
}

/* Fleet hook: (re)connected: publish every live local login (a no-op for those Redis has). */
static void
publish_all(void *ctx)
{
	struct watcher *w = ctx;
	struct ipaddr addr;
	char name[IPADDR_TEXT_MAX];
	struct stat st;
	size_t pos = 0;

	if (w->dirfd < 0)
		return;
	while (table_next(w->table, &pos, &addr, NULL)) {
		ipaddr_format(&addr, name);
		if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			publish_entry(w, &addr, name, &st);
	}
}

/*
 * With fsync = yes, a revocation's removal from open-smtp/ is made durable
 * at once: after a power cut the entry must not come back to relay again
 * (as osd revoke does; the rewrite that follows syncs relay.cdb, not the folder).
 */
static void
revoke_durable(struct watcher *w)
{
	if (w->conf.fsync && fsync(w->dirfd) < 0)
		log_warn("fleet: cannot sync open-smtp after a revocation");
}

/* Remove entry name if its login is at or before at (a later login stands). */
static void
revoke_entry(struct watcher *w, const char *name, const struct timespec *at)
{
	struct timespec m;

	/* Expiry with relay_expire 0 at the revocation's time: the same rename-aside dance. */
	switch (opensmtp_expire_at_time(w->dirfd, name, 0, at, &m)) {
	case OPENSMTP_REMOVED:
		log_info("fleet: revoked %s", name);
		revoke_durable(w);
		break;
	case OPENSMTP_ERROR:
		log_warn("fleet: cannot revoke %s", name);
		break;
	default:
		break;
	}
	/* Its inotify event takes it out of the table and relay.cdb. */
}

/*
 * Fleet hook: a revocation (osd revoke on some host): remove the local
 * entries it voids, mirrored or logged in here.
 */
static void
revoke_local(void *ctx, const struct fleet_revocation *rv)
{
	struct watcher *w = ctx;
	struct timespec at = { .tv_sec = rv->revoke_ms / 1000,
			       .tv_nsec = (long)(rv->revoke_ms % 1000) * 1000000 }, m;
	char name[IPADDR_TEXT_MAX], who[OPENSMTP_USER_MAX + 1];
	struct ipaddr addr;
	struct stat st;
	size_t pos = 0;

	if (w->dirfd < 0)
		return;
	if (!rv->by_user) {
		ipaddr_format(&rv->addr, name);
		revoke_entry(w, name, &at);
		return;
	}
	while (table_next(w->table, &pos, &addr, &m)) {
		if (m.tv_sec > at.tv_sec || (m.tv_sec == at.tv_sec && m.tv_nsec > at.tv_nsec))
			continue;
		ipaddr_format(&addr, name);
		if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    opensmtp_user_get(w->dirfd, name, &st, -1, who, sizeof who) == 1 &&
		    strcmp(who, rv->user) == 0 &&
		    opensmtp_revoke_at(w->dirfd, name, rv->user, NULL) == 1) {
			log_info("fleet: revoked %s (user %s)", name, rv->user);
			revoke_durable(w);
		}
	}
}

/* The fleet's hooks into this watcher. */
static struct fleet_hooks
fleet_hooks_of(struct watcher *w)
{
	return (struct fleet_hooks){ .ctx = w, .mirror = mirror_login, .connected = publish_all,
				     .revoke = revoke_local };
}

/* An entry's file was created, touched or moved in (mask: the event's). */
static void
entry_seen(struct watcher *w, const char *name, uint32_t mask)
{
	struct ipaddr addr;
	struct stat st;
	char shown[64];
	uint64_t ino;

	if (!opensmtp_name_to_addr(name, &addr)) {
		opensmtp_printable(name, shown, sizeof shown);
		log_warnx("open-smtp: ignoring '%s': not an address in canonical form", shown);
		return;
	}
	/*
	 * The link of a new entry mirror_login made, and already put in the
	 * table: nothing to read.  A change after the link has an event of its
	 * own (a login's touch: IN_ATTRIB; a removal), read as usual.
	 */
	if ((mask & IN_CREATE) && w->mirrored != NULL &&
	    (ino = table_get_ino(w->mirrored, &addr)) != 0) {
		table_set_ino(w->mirrored, &addr, 0);
		if (table_get_ino(w->table, &addr) == ino)
			return;
	}
	if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)    /* already gone again: a later event says so */
			return;
		log_warn("open-smtp: %s", name);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("open-smtp: ignoring '%s': not a regular file", name);
		return;
	}
	/* A new entry, or one left out of relay.cdb as about to expire. */
	table_set_now(w, w->table, &addr, &st.st_mtim);
	table_set_ino(w->table, &addr, (uint64_t)st.st_ino);
	if (!table_written(w->table, &addr))
		w->dirty = true;
	publish_entry(w, &addr, name, &st);
}

static void
entry_gone(struct watcher *w, const char *name)
{
	struct ipaddr addr;

	if (!opensmtp_name_to_addr(name, &addr))
		return;
	if (w->mirrored != NULL)
		table_remove(w->mirrored, &addr);
	drop_entry(w, &addr);
}

static void
handle_event(struct watcher *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		log_warnx("inotify queue overflowed: rescanning %s", w->dir);
		w->rescan = true;
		w->rules_changed = true;
		return;
	}
	if (ev->wd == w->dir_wd) {
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
			log_warnx("open-smtp: %s was removed or moved: recreating it", w->dir);
			w->reinit = true;
			return;
		}
		/* osd revoke renames the entry to its revoke name, then removes it. */
		if (ev->len > 0 && (ev->mask & IN_MOVED_TO) &&
		    strncmp(ev->name, OPENSMTP_REVOKE_PREFIX, strlen(OPENSMTP_REVOKE_PREFIX)) == 0 &&
		    w->dirty)
			w->revoked = true;
		/* '#': an unnamed inode on its way in (O_TMPFILE, opensmtp_mirror_at). */
		if (ev->len == 0 || ev->name[0] == '.' || ev->name[0] == '#' || (ev->mask & IN_ISDIR))
			return;
		if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
			entry_gone(w, ev->name);
		else
			entry_seen(w, ev->name, ev->mask);
		return;
	}
	if (ev->wd == w->rules_wd && ev->len > 0 && strcmp(ev->name, w->rules_base) == 0)
		w->rules_changed = true;
}

/* libinotifytools files a watched folder under its name with a '/' added. */
static int
watch_descriptor(const char *dir)
{
	char name[PATH_MAX + 1];
	size_t len = strlen(dir);
	int wd;

	if (len + 2 > sizeof name)
		fatalx("path too long: %s", dir);
	memcpy(name, dir, len + 1);
	if (len == 0 || name[len - 1] != '/')
		memcpy(name + len, "/", 2);
	wd = inotifytools_wd_from_filename(name);
	if (wd < 0)
		wd = inotifytools_wd_from_filename(dir);
	if (wd < 0)
		fatalx("inotify: no watch descriptor for %s", dir);
	return wd;
}

static void
watch_rules(struct watcher *w)
{
	static char base[NAME_MAX + 1];
	const char *slash = strrchr(w->conf.rules, '/');
	const char *b = slash ? slash + 1 : w->conf.rules;

	if (w->rules_wd >= 0) {
		inotifytools_remove_watch_by_wd(w->rules_wd);
		w->rules_wd = -1;
	}
	if (strlen(b) >= sizeof base)
		fatalx("rules file name too long: %s", w->conf.rules);
	memcpy(base, b, strlen(b) + 1);
	w->rules_base = base;
	if (path_dirname(w->rules_dir, sizeof w->rules_dir, w->conf.rules) < 0)
		fatalx("rules path too long: %s", w->conf.rules);
	/* Editors replace a file by renaming a new one over it, so the folder
	 * is watched, not the file's inode. */
	if (!inotifytools_watch_file(w->rules_dir, RULES_EVENTS)) {
		log_warnx("cannot watch %s (%s): changes to %s need SIGHUP", w->rules_dir,
			  strerror(inotifytools_error()), w->conf.rules);
		return;
	}
	w->rules_wd = watch_descriptor(w->rules_dir);
}

/*
 * Start inotify afresh: create the folder if needed, watch it and the
 * rules' folder, and ask for a full scan.  Used at start-up and when the
 * folder was removed, since libinotifytools keeps no consistent state for
 * a watch the kernel dropped.
 */
static void
inotify_setup(struct watcher *w)
{
	/* At start-up the rules were just loaded; after losing the folder a
	 * change to them may have been missed while nothing was watched. */
	bool again = w->inotify_fd >= 0;

	if (again)
		inotifytools_cleanup();
	w->dir_wd = w->rules_wd = -1;
	if (!inotifytools_initialize())
		fatalx("inotify: %s", strerror(inotifytools_error()));
	w->inotify_fd = find_inotify_fd();
	if (w->inotify_fd < 0)
		fatalx("inotify: cannot find the descriptor libinotifytools opened");
	if (fcntl(w->inotify_fd, F_SETFL, fcntl(w->inotify_fd, F_GETFL) | O_NONBLOCK) < 0)
		fatal("inotify: fcntl");
	if (path_mkdirs(w->dir, 0755) < 0)
		fatal("cannot create %s", w->dir);
	/* The watch goes in before the scan so that nothing recorded during
	 * the scan can be missed. */
	if (!inotifytools_watch_file(w->dir, DIR_EVENTS))
		fatalx("cannot watch %s: %s", w->dir, strerror(inotifytools_error()));
	w->dir_wd = watch_descriptor(w->dir);
	watch_rules(w);
	w->reinit = false;
	w->rescan = true;
	w->rules_changed = again;
}

static void
setup_paths(struct watcher *w)
{
	if (conf_opensmtp_dir(&w->conf, w->dir, sizeof w->dir) < 0 ||
	    conf_relay_cdb(&w->conf, w->cdb, sizeof w->cdb) < 0 ||
	    conf_relay_snap(&w->conf, w->snap, sizeof w->snap) < 0)
		fatalx("state_dir path too long: %s", w->conf.state_dir);
}

static void
reload(struct watcher *w)
{
	struct osd_conf fresh;
	char err[PATH_MAX + 256];

	conf_defaults(&fresh);
	if (w->conf_arg != NULL || w->conf.path[0] != '\0') {
		if (conf_load(&fresh, w->conf.path, err, sizeof err) < 0) {
			log_errx("config: %s (keeping the running configuration)", err);
			return;
		}
	}
	if (strcmp(fresh.state_dir, w->conf.state_dir) != 0)
		log_warnx("config: state_dir changed: restart osd watch to move it");
	else
		w->conf.relay_expire = fresh.relay_expire;
	fleet_set_expire(w->fleet, w->conf.relay_expire);
	if (strcmp(fresh.state_dir, w->conf.state_dir) == 0) {
		struct fleet_hooks hooks = fleet_hooks_of(w);

		/* The fleet keys too (a change reconnects; bad ones are kept out, logged). */
		fleet_reload(&w->fleet, &fresh, &hooks);
	}
	w->conf.fsync = fresh.fsync;
	w->conf.relay_batch = fresh.relay_batch;
	if (strcmp(fresh.rules, w->conf.rules) != 0) {
		memcpy(w->conf.rules, fresh.rules, sizeof w->conf.rules);
		watch_rules(w);
	}
	log_info("config reloaded: relay_expire=%lds rules=%s", w->conf.relay_expire, w->conf.rules);
	w->rules_changed = true;
	w->rescan = true;       /* a shorter relay_expire may expire entries now */
}

static void
expire_due(struct watcher *w)
{
	struct ipaddr addr;
	struct timespec mtime, cmtime, now = clock_now(w), at;
	char name[IPADDR_TEXT_MAX];

	while (table_oldest_clock(w->table, &addr, &mtime, &cmtime) &&
	       opensmtp_is_expired(&cmtime, w->conf.relay_expire, &now)) {
		ipaddr_format(&addr, name);
		/*
		 * Due on the watcher's clock.  The file is judged at its own
		 * expiry moment (mtime + relay_expire, on the clock that
		 * stamped it), so it goes unless a login moved its mtime on.
		 */
		at = ts_add_ns(mtime, (long long)w->conf.relay_expire * 1000000000LL);
		switch (opensmtp_expire_at_time(w->dirfd, name, w->conf.relay_expire, &at, &mtime)) {
		case OPENSMTP_REMOVED:
			log_info("expired %s", name);
			/* fall through */
		case OPENSMTP_GONE:
			drop_entry(w, &addr);
			break;
		case OPENSMTP_REFRESHED:
			table_set_now(w, w->table, &addr, &mtime);
			if (!table_written(w->table, &addr))
				w->dirty = true;
			break;
		case OPENSMTP_ERROR:
			/* Drop it from the table anyway: an entry must never
			 * outlive its expiry; the file is retried at a rescan. */
			log_warn("cannot expire %s", name);
			drop_entry(w, &addr);
			break;
		}
	}
}

static int
setup_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	int fd = sigfd_open(sigs, sizeof sigs / sizeof sigs[0], NULL);

	signal(SIGPIPE, SIG_IGN);
	return fd;
}

/* Returns false when asked to stop. */
static bool
handle_signals(struct watcher *w, int sigfd)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP)
			reload(w);
		else
			return false;
	}
	return true;
}

/*
 * Read every queued event without blocking.  libinotifytools sets up and
 * tracks the watches, but its reader only waits in whole seconds (0 means
 * forever), so the events are read from its descriptor here.
 */
static void
drain_events(struct watcher *w)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->inotify_fd, buf, sizeof buf);
		const char *p = buf;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("inotify: read");
			return;
		}
		while (p + sizeof(struct inotify_event) <= buf + n) {
			const struct inotify_event *ev = (const struct inotify_event *)(const void *)p;
			handle_event(w, ev);
			p += sizeof *ev + ev->len;
		}
	}
}

static void
settle(struct watcher *w)
{
	if (w->reinit || w->dirfd < 0) {
		inotify_setup(w);
		if (w->dirfd >= 0)
			close(w->dirfd);
		w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (w->dirfd < 0)
			fatal("cannot open %s", w->dir);
	}
	if (w->rescan)
		full_scan(w);
	if (w->rules_changed) {
		w->rules_changed = false;
		if (load_rules(w, false) == 0)
			w->dirty = true;
	}
	expire_due(w);
	if (w->dirty && batch_wait_ms(w) == 0)
		rebuild(w);
}

/*
 * Memory freed and allocated again at a high rate (rewrites, events) is
 * kept instead of going back to the kernel and being faulted in again:
 * when each rewrite still allocated tinycdb's record lists and hash tables
 * that was a sixth of the watcher's CPU at 1,000 new logins a second (the
 * rewrite now keeps its own buffers).  full_scan trims once after start-up.
 */
static void
keep_heap(void)
{
#ifdef M_TRIM_THRESHOLD
	(void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

/*
 * -1: scan, expire and rebuild once: the job osd expire runs
 * (lib/relay/relay_rebuild.c), reported in the watcher's log.  0, or 111.
 */
static int
watch_once(struct watcher *w)
{
	struct relay_rebuild_args job = {
		.rules = w->conf.rules, .dir = w->dir, .cdb = w->cdb, .expire = w->conf.relay_expire,
		.dyn = { w->conf.relay_env_value, w->conf.relay_env_len, w->conf.relay_ipv6_prefix },
		.fsync = w->conf.fsync, .snap = w->snap,
	};
	struct relay_rebuild_stats st;
	char err[2 * PATH_MAX + 512];

	if (relay_rebuild_once(&job, &st, err, sizeof err) == -1) {
		log_errx("%s", err);
		return 111;
	}
	if (st.rules_missing)
		log_info("rules: %s does not exist: no static rules", w->conf.rules);
	log_info("scan: %lu live, %lu expired, %lu ignored in %.1f ms", st.scan.live, st.scan.expired,
		 st.scan.ignored, st.scan_ms);
	log_debug("snapshot: %ld entries read, %lu live entries' mtimes from it, %ld saved",
		  st.snap_loaded, st.snap_known, st.snap_saved);
	log_debug("relay table: %ld records (%lu dynamic)", st.records, st.scan.live);
	return 0;
}

int
main(int argc, char **argv)
{
	struct watcher w = { .dirfd = -1, .dir_wd = -1, .rules_wd = -1, .shrunk = true };
	bool once = false, verbose = false;
	struct runas ra;
	char err[PATH_MAX + 256];
	int opt, sigfd;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:1vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': w.conf_arg = optarg; break;
		case '1': once = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("watch", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&w.conf, w.conf_arg);
	if (log_init("osd-watch", strcmp(w.conf.log, "syslog") == 0, w.conf.log_facility) < 0)
		fatalx("config: unknown log_facility %s", w.conf.log_facility);
	if (verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	setup_paths(&w);
	/* state_dir (relay.cdb is replaced there), open-smtp/ and its entries
	 * belong to the user we become; else we do not start. */
	if (!once) {
		/* Before dropping privileges: the Redis password file may be root's. */
		struct fleet_hooks hooks = fleet_hooks_of(&w);

		w.fleet = fleet_new(&w.conf, &hooks);
	}
	metrics_attach(&w.conf, false);
	if (runas_init(&ra, &w.conf, err, sizeof err) == -1 ||
	    runas_relay_state(&ra, &w.conf, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("watch", err);
	/* A watcher killed in the middle of a rewrite left its temporary beside relay.cdb (or relay.snap). */
	{
		int stale = atomicfile_clean_stale(w.cdb), snaps = atomicfile_clean_stale(w.snap);

		if (stale > 0)
			log_info("removed %d temporary file(s) a killed rewrite of relay.cdb left", stale);
		if (snaps > 0)
			log_info("removed %d temporary file(s) a killed save of relay.snap left", snaps);
	}

	if (once)
		return watch_once(&w);
	keep_heap();
	rules_init(&w.rules);
	load_rules(&w, true);
	w.table = table_new();
	w.mirrored = table_new();
	clock_start(&w);

	sigfd = setup_signals();
	w.inotify_fd = -1;
	settle(&w);     /* dirfd < 0: sets up inotify, scans, writes the table */
	close(w.dirfd);
	w.dirfd = -1;
	{
		/* The start-up's CPU time beside its wall time: the part no load on the machine changes. */
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		log_info("watching %s (relay_expire %lds, rules %s, %zu live entries; start-up CPU %.0f ms)",
			 w.dir, w.conf.relay_expire, w.conf.rules, table_count(w.table),
			 (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
	}

	for (;;) {
		struct pollfd pfd[2 + FLEET_POLLFDS] = { { .fd = w.inotify_fd, .events = POLLIN },
							 { .fd = sigfd, .events = POLLIN } };
		int nfleet = fleet_pollfds(w.fleet, pfd + 2);
		struct timespec now = clock_now(&w);
		long timeout, wait, fleet_timeout = fleet_timeout_ms(w.fleet);

		timeout = table_ms_until_expiry(w.table, w.conf.relay_expire, &now);
		if (w.dirty && (timeout < 0 || timeout > 1000))
			timeout = 1000;         /* a failed write is retried */
		if (w.dirty && (wait = batch_wait_ms(&w)) > 0) {
			/* Until the batch ends, its events wait in the kernel's
			 * queue, to be read in one go. */
			pfd[0].fd = -1;
			if (wait < timeout)
				timeout = wait;
		}
		if (fleet_timeout >= 0 && (timeout < 0 || fleet_timeout < timeout))
			timeout = fleet_timeout;
		if (w.verify_pos < w.verify_n)
			timeout = 0;            /* reading the snapshot's entries again */
		if (poll(pfd, (nfds_t)(2 + nfleet), timeout > INT_MAX ? INT_MAX : (int)timeout) < 0 &&
		    errno != EINTR)
			fatal("poll");
		if ((pfd[1].revents & POLLIN) && !handle_signals(&w, sigfd))
			break;
		/* The folder is open only while we work on it: an open
		 * descriptor would keep a removed folder's inode alive and
		 * hide its IN_DELETE_SELF. */
		w.dirfd = open(w.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* Everything already queued is one batch: a burst of logins
		 * becomes one rebuild. */
		/* The fleet first: what it mirrors comes back as inotify events
		 * in this same batch (and is not published back). */
		fleet_handle(w.fleet, pfd + 2, nfleet);
		drain_events(&w);
		fleet_flush(w.fleet);   /* our logins leave before our rebuild */
		settle(&w);
		if (w.dirfd >= 0 && w.verify_pos < w.verify_n)
			verify_some(&w);
		else if (boot_ns() >= w.snap_due_ns)
			save_snap(&w);
		close(w.dirfd);
		w.dirfd = -1;
	}
	log_info("stopping");
	/* Entries not read again yet are saved with the snapshot's mtime,
	 * which is still no later than their file's. */
	save_snap(&w);
	free(w.verify);
	fleet_free(w.fleet);
	inotifytools_cleanup();
	table_free(w.mirrored);
	table_free(w.table);
	cdbbuild_free(&w.cdb_build);
	rules_free(&w.rules);
	return 0;
}
