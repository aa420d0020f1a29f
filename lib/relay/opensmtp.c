/* opensmtp.c - record, read and expire the per-address files of open-smtp/. */
#include "opensmtp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "fdclose.h"
#include "log.h"
#include "opensmtp_user.h"
#include "xmalloc.h"

/*
 * How a login and an expiry that meet cannot lose the login.
 *
 * Nothing is locked: recorders (osd pop3d, osd record, any number at once)
 * and expirers (osd watch, osd expire, also at once) only use system calls
 * that are atomic on their own.  An entry N is a name for an inode X.
 *
 * A recorder (opensmtp_record_at):
 *   R1  open N (O_CREAT, O_NOFOLLOW): X, or a new empty file if N is missing
 *   R2  futimens(X): mtime = now
 *   R3  fstatat(N): does N still name X?  yes: return success.
 *       no (N is missing, or names another file): start again at R1.
 * An expirer (opensmtp_expire_begin, opensmtp_expire_finish), with a now
 * read before it starts:
 *   E1  fstatat(N): not expired at now: keep it, done
 *   E2  rename N to A = .osd-expire.N,<pid>.<n>.<ns>: a name no one else
 *       ever uses, so nothing but this expiry (or a scan finishing it) acts
 *       on A, and A never names anything else later
 *   E3  fstatat(A): still expired at now: unlink A, done
 *   E4  else put back: rename A to N without replacing; if N exists again,
 *       unlink A
 *
 * The one rule: every touch that made a recorder return success happened
 * (R2) before that recorder saw N name X (R3), so before any later E2 took
 * X away from N, so every E3 after that E2 sees it.  Case by case:
 * - R2 before E1 (the expirer saw the touch): X expired at now means the
 *   login is relay_expire old; removing it is what expiry is for.
 * - R2 between E1 and E2: E3 sees an mtime read after now (the clock only
 *   goes forward; file times may lag the clock by a tick, far less than
 *   relay_expire), so not expired: E4 puts X back, or drops X because a
 *   recorder created a new N after E2, whose mtime is later still.
 * - R2 after E2 (the recorder opened X before the rename, or, through a
 *   put-back, X again): R3 sees that N no longer names X, or (if E4 put X
 *   back meanwhile) that it does, with the touch on it.  Either way only a
 *   file that N names when the recorder looks counts as success.
 * - Two recorders: O_CREAT without O_EXCL gives both the same new file;
 *   each checks its own touch.  A recorder starts again only if an expiry
 *   renamed N inside its R1..R3; each expiry renames once, so a bounded
 *   number of rounds suffices (EAGAIN beyond it, never a false success).
 * - Two expirers: the second may rename a newer N (created after the
 *   first's E2) that it never checked at E1; its E3 then sees a fresh mtime
 *   and puts it back.  A scan that meets another expirer's A finishes it by
 *   the same E3/E4 rule; both verdicts are right and the loser gets ENOENT.
 * - kill -9 at any step: after R1..R3 a touched or new file under N, which
 *   is a login (the caller never heard success: it only lasts longer);
 *   after E2 an A left over: the next scan finishes it by E3/E4
 *   (finish_interrupted_expiry); after E4's put-back failed with N
 *   existing, a leftover A that the next scan drops.
 *
 * A revoke (opensmtp_revoke_at) is an expiry without the age test: E2 to
 * .osd-revoke.N,<unique>, then unlink (or, for osd revoke --user, a put-back
 * as E4 when the renamed file turns out to name another user).  A login
 * whose R3 came before the E2 is revoked, as it should be; one after it
 * makes a new N, which stays.  The login name (opensmtp_user.h) lives on
 * the inode, so every rename above carries it, and every unlink of an
 * entry drops its sidecar first.
 *
 * The watcher sees all of it: E2 is IN_MOVED_FROM N, E4 IN_MOVED_TO N, a
 * recorder IN_CREATE or IN_ATTRIB (see DIR_EVENTS in osd/watch.c).
 * opensmtp_record_time_at (the vpopmail import) sets an older time, so it
 * is run when no recorder runs (docs/operations.md).
 */

/* Renamed-aside entries: OPENSMTP_TMP_PREFIX "expire." <address> "," <unique>
 * (older versions wrote no ",<unique>"; a leftover of theirs is finished too). */
#define EXPIRE_PREFIX OPENSMTP_TMP_PREFIX "expire."
/* Entries renamed aside by opensmtp_revoke_at, removed a moment later. */
#define REVOKE_PREFIX OPENSMTP_REVOKE_PREFIX
/* New entries of opensmtp_record_time_user_at, made here with their time, then linked in. */
#define NEW_PREFIX OPENSMTP_TMP_PREFIX "new."
/* A revoke's renamed entry older than this was left by a crash: finish it. */
#define REVOKE_STALE 60

/* Rounds of R1..R3 before giving up: each needs an expiry renaming the entry
 * in the middle, and an expirer renames only an entry it found expired. */
#define RECORD_TRIES 16

int
opensmtp_touch_at(int dirfd, const char *name, struct stat *st_r)
{
	int fd;

	/* NOFOLLOW: a planted symlink cannot make us touch another file;
	 * NONBLOCK: nor a planted FIFO hang us. */
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (fstat(fd, st_r) < 0)
		goto fail;
	if (!S_ISREG(st_r->st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (futimens(fd, NULL) < 0)
		goto fail;
	return fd;
fail:
	return close_keep_errno(fd);
}

int
opensmtp_touch_landed(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;

	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	return now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

int
opensmtp_record_at(int dirfd, const struct ipaddr *addr)
{
	return opensmtp_record_user_at(dirfd, addr, NULL);
}

int
opensmtp_record_user_at(int dirfd, const struct ipaddr *addr, const char *user)
{
	char name[IPADDR_TEXT_MAX];
	struct stat st;
	int fd, r;

	if (!ipaddr_is_unicast(addr)) {
		errno = EINVAL;
		return -1;
	}
	ipaddr_format(addr, name);
	for (int i = 0; i < RECORD_TRIES; i++) {
		fd = opensmtp_touch_at(dirfd, name, &st);
		if (fd < 0)
			return -1;
		/* The name goes on the inode before R3, so a login that counts
		 * has its name on the live entry too (a failure to store it
		 * never fails the login). */
		if (opensmtp_user_set(dirfd, name, fd, &st, user) < 0)
			log_warn("open-smtp: %s: cannot store the login name", name);
		r = opensmtp_touch_landed(dirfd, name, &st);
		(void)close_keep_errno(fd);
		if (r != 0)
			return r > 0 ? 0 : -1;
		/* An expiry renamed the entry away under us: the touch may be
		 * on a file about to be deleted.  Record again. */
	}
	errno = EAGAIN;
	return -1;
}

int
opensmtp_record(const char *dir, const struct ipaddr *addr)
{
	return opensmtp_record_user(dir, addr, NULL);
}

int
opensmtp_record_user(const char *dir, const struct ipaddr *addr, const char *user)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (dirfd < 0)
		return -1;
	r = opensmtp_record_user_at(dirfd, addr, user);
	(void)close_keep_errno(dirfd);
	return r;
}

/*
 * A new entry's login name: user, or none.  A fresh inode has no name
 * attribute to remove (a journaled step on ext4 even when there is none),
 * only maybe a sidecar left by an earlier inode of its number.
 */
static void
name_new_entry(int dirfd, const char *name, int fd, const struct stat *st, const char *user)
{
	int r = user != NULL && opensmtp_user_valid(user) ? opensmtp_user_set(dirfd, name, fd, st, user)
							  : opensmtp_user_forget(dirfd, st);

	if (r < 0)
		log_warn("open-smtp: %s: cannot store the login name", name);
}

/*
 * create_at_time without a name aside: an unnamed inode (O_TMPFILE) made
 * with its time and login name, then linked in through /proc.  Two
 * journaled steps fewer than the aside name (its creation and removal),
 * and nothing left behind by a crash.  1 or 0 as create_at_time; -2 when
 * the file system or /proc cannot do it (the caller falls back).
 */
static int
create_unnamed(int dirfd, const char *name, const struct timespec times[2], const char *user,
	       struct stat *st_r)
{
	char proc[64];
	int fd, r = -1, saved;

	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? -2 : -1;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (futimens(fd, times) == 0 && fstat(fd, st_r) == 0) {
		name_new_entry(dirfd, name, fd, st_r, user);
		/* link, not rename: it never replaces an entry made meanwhile. */
		if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			r = 1;
		else if (errno == EEXIST)
			r = 0;
		else if (errno == ENOENT && access("/proc/self/fd", X_OK) < 0)
			r = -2;         /* no /proc */
	}
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/*
 * A new entry name with mtime times and login name user (NULL: none):
 * made unnamed (create_unnamed), or else aside (NEW_PREFIX), with its time
 * and name, then linked in, so that the name never carries another time,
 * not for an instant (a reader, a mirrored login on another host) nor
 * after a crash (a login made hours ago would live relay_expire anew).
 * 1 (*st_r: the entry), 0 when name appeared meanwhile (errno EEXIST),
 * -1 on error.
 */
static int
create_at_time(int dirfd, const char *name, const struct timespec times[2], const char *user,
	       struct stat *st_r)
{
	static _Atomic unsigned long counter;
	char aside[IPADDR_TEXT_MAX + 80];
	struct timespec now;
	int fd, n, r = create_unnamed(dirfd, name, times, user, st_r);

	if (r != -2)
		return r;
	r = -1;
	clock_gettime(CLOCK_REALTIME, &now);
	n = snprintf(aside, sizeof aside, "%s%s,%ld.%lu.%ld", NEW_PREFIX, name, (long)getpid(),
		     ++counter, now.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof aside) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, aside, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (futimens(fd, times) == 0 && fstat(fd, st_r) == 0) {
		/* Under the entry's name (a sidecar names it). */
		name_new_entry(dirfd, name, fd, st_r, user);
		if (linkat(dirfd, aside, dirfd, name, 0) == 0)
			r = 1;
		else if (errno == EEXIST)
			r = 0;
	}
	n = errno;
	close(fd);
	(void)unlinkat(dirfd, aside, 0);
	errno = n;
	return r;
}

int
opensmtp_record_time_at(int dirfd, const struct ipaddr *addr, time_t when)
{
	return opensmtp_record_time_user_at(dirfd, addr, when, NULL);
}

int
opensmtp_record_time_user_at(int dirfd, const struct ipaddr *addr, time_t when, const char *user)
{
	struct stat st;
	int r = opensmtp_mirror_at(dirfd, addr, when, user, &st);

	return r == 2 ? 1 : r;
}

int
opensmtp_mirror_at(int dirfd, const struct ipaddr *addr, time_t when, const char *user,
		   struct stat *st_r)
{
	char name[IPADDR_TEXT_MAX];
	struct timespec times[2] = { { .tv_sec = when }, { .tv_sec = when } };
	int fd, r;

	if (!ipaddr_is_unicast(addr)) {
		errno = EINVAL;
		return -1;
	}
	ipaddr_format(addr, name);
	if (fstatat(dirfd, name, st_r, AT_SYMLINK_NOFOLLOW) == 0) {
		/* An entry with a later mtime is a newer login: importing must not age it. */
		if (st_r->st_mtime > when)
			return 0;
	} else if (errno == ENOENT) {
		/* The common case of a mirrored login: done in one go, name and all. */
		r = create_at_time(dirfd, name, times, user, st_r);
		if (r != 0)
			return r == 1 ? 2 : r;
		/* Made meanwhile (a login): set below only if it is older. */
		if (fstatat(dirfd, name, st_r, AT_SYMLINK_NOFOLLOW) == 0 && st_r->st_mtime > when)
			return 0;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (futimens(fd, times) < 0 || fstat(fd, st_r) < 0) {
		return close_keep_errno(fd);
	}
	/* The entry's last login is now this one: its name, or nobody (an imported line). */
	if (opensmtp_user_set(dirfd, name, fd, st_r, user) < 0)
		log_warn("open-smtp: %s: cannot store the login name", name);
	close(fd);
	return 1;
}

bool
opensmtp_name_to_addr(const char *name, struct ipaddr *addr_r)
{
	char canon[IPADDR_TEXT_MAX];

	if (ipaddr_parse(name, addr_r) < 0 || !ipaddr_is_unicast(addr_r))
		return false;
	/* Only the canonical spelling names an entry, so one address can
	 * never have two files.  (IPv4's is the relay key's, written without
	 * snprintf: a cold start checks a million names.) */
	if (addr_r->family == AF_INET)
		ipaddr_format_key(addr_r, canon);
	else
		ipaddr_format(addr_r, canon);
	return strcmp(canon, name) == 0;
}

/* The mtime of the entry under name now, as a kept entry's result. */
static enum opensmtp_expire_result
current(int dirfd, const char *name, struct timespec *mtime_r)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? OPENSMTP_GONE : OPENSMTP_ERROR;
	*mtime_r = st.st_mtim;
	return OPENSMTP_REFRESHED;
}

/*
 * E4: put a refreshed renamed-aside entry back under name, never over an
 * entry a login created meanwhile: that one was created after our rename,
 * so it is newer than every login that counted on ours, and ours is dropped.
 */
static enum opensmtp_expire_result
put_back(int dirfd, const char *aside, const char *name,
	 const struct stat *st, struct timespec *mtime_r,
	 bool *restored_r)
{
	const struct timespec *mtime = &st->st_mtim;

	*restored_r = false;
	if (renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) == 0) {
		*restored_r = true;
		*mtime_r = *mtime;
		return OPENSMTP_REFRESHED;
	}
	if (errno == EEXIST) {
		/* The sidecar first: while the file lives, its inode number
		 * cannot be another entry's. */
		(void)opensmtp_user_forget(dirfd, st);
		if (unlinkat(dirfd, aside, 0) < 0 && errno != ENOENT)
			log_warn("open-smtp: cannot remove %s", aside);
	} else if (errno != ENOENT) {   /* ENOENT: a scan finished it for us */
		/* Left for the next scan to finish; the entry is kept. */
		log_warn("open-smtp: cannot restore %s", name);
		*mtime_r = *mtime;
		return OPENSMTP_REFRESHED;
	}
	return current(dirfd, name, mtime_r);
}

bool
opensmtp_expire_begin(int dirfd, const char *name, long expire, const struct timespec *now,
		      struct opensmtp_aside *aside_r, enum opensmtp_expire_result *res_r,
		      struct timespec *mtime_r)
{
	static _Atomic unsigned long counter;
	struct stat st;
	int n;

	/* E1 */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		*res_r = errno == ENOENT ? OPENSMTP_GONE : OPENSMTP_ERROR;
		return false;
	}
	if (!opensmtp_is_expired(&st.st_mtim, expire, now)) {
		*mtime_r = st.st_mtim;
		*res_r = OPENSMTP_REFRESHED;
		return false;
	}
	/* E2, to a name unique to this expiry: pid and counter tell apart
	 * the expiries of one host, the nanoseconds those of hosts or
	 * containers that share the folder. */
	n = snprintf(aside_r->path, sizeof aside_r->path, "%s%s,%ld.%lu.%ld", EXPIRE_PREFIX, name,
		     (long)getpid(), ++counter, now->tv_nsec);
	if (n < 0 || (size_t)n >= sizeof aside_r->path ||
	    strlen(name) >= sizeof aside_r->name) {
		errno = ENAMETOOLONG;
		*res_r = OPENSMTP_ERROR;
		return false;
	}
	memcpy(aside_r->name, name, strlen(name) + 1);
	if (renameat(dirfd, name, dirfd, aside_r->path) < 0) {
		*res_r = errno == ENOENT ? OPENSMTP_GONE : OPENSMTP_ERROR;
		return false;
	}
	return true;
}

enum opensmtp_expire_result
opensmtp_expire_finish(int dirfd, const struct opensmtp_aside *aside,
		       long expire, const struct timespec *now,
		       struct timespec *mtime_r)
{
	struct stat st;
	bool restored;

	/* E3: every touch that a recorder counted as done is on the file by
	 * now (see the top of this file). */
	if (fstatat(dirfd, aside->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return OPENSMTP_ERROR;  /* left for the next scan */
		/* A scan meeting our renamed file finished the expiry. */
		return current(dirfd, aside->name, mtime_r);
	}
	if (opensmtp_is_expired(&st.st_mtim, expire, now)) {
		(void)opensmtp_user_forget(dirfd, &st);    /* before the inode can be reused */
		if (unlinkat(dirfd, aside->path, 0) < 0 && errno != ENOENT)
			return OPENSMTP_ERROR;
		return OPENSMTP_REMOVED;
	}
	/* E4: a login touched it after E1. */
	return put_back(dirfd, aside->path, aside->name, &st, mtime_r, &restored);
}

enum opensmtp_expire_result
opensmtp_expire_at_time(int dirfd, const char *name, long expire,
			const struct timespec *now,
			struct timespec *mtime_r)
{
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;

	if (!opensmtp_expire_begin(dirfd, name, expire, now, &aside, &res, mtime_r))
		return res;
	return opensmtp_expire_finish(dirfd, &aside, expire, now, mtime_r);
}

enum opensmtp_expire_result
opensmtp_expire_at(int dirfd, const char *name, long expire,
		   struct timespec *mtime_r)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return opensmtp_expire_at_time(dirfd, name, expire, &now, mtime_r);
}

int
opensmtp_revoke_at(int dirfd, const char *name, const char *user, struct timespec *login_r)
{
	static _Atomic unsigned long counter;
	char aside[IPADDR_TEXT_MAX + 80], who[OPENSMTP_USER_MAX + 1];
	struct timespec now;
	struct stat st;
	bool mine = true;
	int fd, n;

	clock_gettime(CLOCK_REALTIME, &now);
	n = snprintf(aside, sizeof aside, "%s%s,%ld.%lu.%ld", REVOKE_PREFIX, name, (long)getpid(),
		     ++counter, now.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof aside) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* As an expiry's E2: a login after this starts a new entry, which stays. */
	if (renameat(dirfd, name, dirfd, aside) < 0)
		return errno == ENOENT ? 0 : -1;
	fd = openat(dirfd, aside, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int saved = errno;

		if (fd >= 0)
			close(fd);
		/* Cannot look at it: put it back untouched rather than guess. */
		if (renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) < 0 && errno == EEXIST)
			(void)unlinkat(dirfd, aside, 0);
		errno = saved;
		return -1;
	}
	/* Looked at after the rename: a login of another user behind the same
	 * address (NAT) that came before it made the entry that user's. */
	if (user != NULL)
		mine = opensmtp_user_get_fd(dirfd, name, fd, &st, who, sizeof who) == 1 &&
		       strcmp(who, user) == 0;
	close(fd);
	if (!mine && renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (!mine && errno != EEXIST)
		return -1;      /* another user's entry: never removed on an error */
	/* Revoked, or not user's but a newer login made a new entry meanwhile. */
	(void)opensmtp_user_forget(dirfd, &st);
	if (unlinkat(dirfd, aside, 0) < 0 && errno != ENOENT)
		return -1;
	if (login_r != NULL)
		*login_r = st.st_mtim;
	return mine ? 1 : 0;
}

void
opensmtp_printable(const char *name, char *out, size_t size)
{
	(void)ascii_sanitize(out, size, name, strlen(name), ASCII_KEEP_PRINTABLE, '?');
}

/*
 * An expiry interrupted by a crash (or still running in another process)
 * left OPENSMTP_TMP_PREFIX "expire.<addr>[,<unique>]": finish it by E3/E4.
 * Returns true when the entry went back under its name (name, of
 * IPADDR_TEXT_MAX bytes).
 */
static bool
finish_interrupted_expiry(int dirfd, const char *aside, long expire, char *name)
{
	const char *start = aside + strlen(EXPIRE_PREFIX);
	const char *comma = strchr(start, ',');
	size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
	struct ipaddr addr;
	struct timespec now, mtime;
	struct stat st;
	bool restored;

	if (len >= IPADDR_TEXT_MAX)
		return false;
	memcpy(name, start, len);
	name[len] = '\0';
	if (!opensmtp_name_to_addr(name, &addr) ||
	    fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	if (opensmtp_is_expired(&st.st_mtim, expire, &now)) {
		(void)opensmtp_user_forget(dirfd, &st);
		unlinkat(dirfd, aside, 0);
		return false;
	}
	(void)put_back(dirfd, aside, name, &st, &mtime, &restored);
	return restored;
}

/* A revoke killed between its rename and its unlink: the entry was being revoked, so remove it. */
/* A new entry's file left aside by a crash (create_at_time): its ctime is when it was made. */
static void
drop_stale_new(int dirfd, const char *aside)
{
	struct stat st;

	if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 && time(NULL) - st.st_ctime > REVOKE_STALE)
		(void)unlinkat(dirfd, aside, 0);
}

static void
finish_interrupted_revoke(int dirfd, const char *aside)
{
	struct timespec now;
	struct stat st;

	clock_gettime(CLOCK_REALTIME, &now);
	/* A young one may be a revoke still at work (it may yet put it back). */
	if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    now.tv_sec - st.st_ctim.tv_sec < REVOKE_STALE)
		return;
	(void)opensmtp_user_forget(dirfd, &st);
	(void)unlinkat(dirfd, aside, 0);
}

/* How a scan reports and looks up entries. */
struct scan_ctx {
	long expire, margin;
	opensmtp_known_fn *known;
	void *kctx;
	opensmtp_found_fn *fn;
	void *ctx;
	struct opensmtp_scan_stats stats;
	int stop;
	struct timespec now;            /* for vouched, read every VOUCH_CLOCK entries */
	unsigned now_uses;
};

#define VOUCH_CLOCK 1024

/* Is the entry's known mtime good enough to skip reading the file? */
static bool
vouched(struct scan_ctx *sc, const struct ipaddr *addr, uint64_t ino, struct timespec *mtime_r)
{
	struct timespec now;

	if (sc->known == NULL || ino == 0 || !sc->known(sc->kctx, addr, ino, mtime_r))
		return false;
	/* Close to its expiry by that mtime: read the file, which may have a
	 * later one, and expire it exactly if not.  (The clock is read every
	 * VOUCH_CLOCK entries, a few milliseconds: far less than the margin
	 * or than the scan that reads every file.) */
	if (sc->now_uses++ % VOUCH_CLOCK == 0)
		clock_gettime(CLOCK_REALTIME, &sc->now);
	now = sc->now;
	now.tv_sec = time_add(now.tv_sec, sc->margin);
	return !opensmtp_is_expired(mtime_r, sc->expire, &now);
}

static void
scan_one(int dirfd, const char *name, unsigned char d_type, uint64_t ino, struct scan_ctx *sc)
{
	struct opensmtp_found f = { .ino = ino };
	struct stat st;
	char shown[64];

	if (!opensmtp_name_to_addr(name, &f.addr) ||
	    (d_type != DT_REG && d_type != DT_UNKNOWN)) {
		opensmtp_printable(name, shown, sizeof shown);
		log_warnx("open-smtp: ignoring '%s': not an address file in canonical form", shown);
		sc->stats.ignored++;
		return;
	}
	if (d_type == DT_REG && vouched(sc, &f.addr, ino, &f.mtime)) {
		f.known = true;
		goto live;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			log_warn("open-smtp: %s", name);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("open-smtp: ignoring '%s': not a regular file", name);
		sc->stats.ignored++;
		return;
	}
	f.mtime = st.st_mtim;
	f.ino = (uint64_t)st.st_ino;
	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (opensmtp_is_expired(&f.mtime, sc->expire, &now)) {
			switch (opensmtp_expire_at(dirfd, name, sc->expire, &f.mtime)) {
			case OPENSMTP_REMOVED:
				sc->stats.expired++;
				return;
			case OPENSMTP_GONE:
				return;
			case OPENSMTP_ERROR:
				log_warn("open-smtp: cannot expire %s", name);
				return;
			case OPENSMTP_REFRESHED:
				f.ino = 0;      /* put back, or another file since */
				break;
			}
		}
	}
live:
	sc->stats.live++;
	if (sc->fn != NULL && sc->fn(sc->ctx, &f) < 0)
		sc->stop = 1;
}

int
opensmtp_scan_known(int dirfd, long expire, long margin, opensmtp_known_fn *known,
		    void *kctx, opensmtp_found_fn *fn, void *ctx,
		    struct opensmtp_scan_stats *stats_r)
{
	struct scan_ctx sc = { .expire = expire, .margin = margin, .known = known, .kctx = kctx,
			       .fn = fn, .ctx = ctx };
	struct dirent *de;
	char **asides = NULL;
	size_t n_asides = 0;
	int fd, saved;
	DIR *dir;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		return close_keep_errno(fd);
	}
	errno = 0;
	while (!sc.stop && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.') {
			/* Finished after the loop: an entry put back now
			 * might come after or before readdir's position. */
			if (strncmp(de->d_name, EXPIRE_PREFIX, strlen(EXPIRE_PREFIX)) == 0) {
				asides = xreallocarray(asides, n_asides + 1, sizeof *asides);
				asides[n_asides++] = xstrdup(de->d_name);
			} else if (strncmp(de->d_name, REVOKE_PREFIX, strlen(REVOKE_PREFIX)) == 0) {
				finish_interrupted_revoke(dirfd, de->d_name);
			} else if (strncmp(de->d_name, NEW_PREFIX, strlen(NEW_PREFIX)) == 0) {
				drop_stale_new(dirfd, de->d_name);
			}
			/* ".", "..", and our own temporary names */
			errno = 0;
			continue;
		}
		scan_one(dirfd, de->d_name, de->d_type, (uint64_t)de->d_ino, &sc);
		errno = 0;
	}
	saved = errno;
	closedir(dir);
	/* An entry put back was not under its name during the loop (the
	 * put-back never replaces one), so it is reported here, once. */
	for (size_t i = 0; i < n_asides; i++) {
		char name[IPADDR_TEXT_MAX];

		if (!sc.stop && finish_interrupted_expiry(dirfd, asides[i], expire, name))
			scan_one(dirfd, name, DT_UNKNOWN, 0, &sc);
		free(asides[i]);
	}
	free(asides);
	/* Sidecars of entries gone by a crash or a lost race (opensmtp_user.h). */
	if (!sc.stop && opensmtp_user_gc(dirfd, expire) < 0)
		log_warn("open-smtp: %s", OPENSMTP_USER_DIR);
	if (stats_r != NULL)
		*stats_r = sc.stats;
	if (sc.stop) {
		errno = ECANCELED;
		return -1;
	}
	errno = saved;
	return saved == 0 ? 0 : -1;
}

/* opensmtp_scan's callback, behind opensmtp_scan_known's. */
struct plain_fn {
	opensmtp_entry_fn *fn;
	void *ctx;
};

static int
plain_found(void *ctx, const struct opensmtp_found *f)
{
	struct plain_fn *p = ctx;

	return p->fn != NULL ? p->fn(p->ctx, &f->addr, &f->mtime) : 0;
}

int
opensmtp_scan(int dirfd, long expire, opensmtp_entry_fn *fn, void *ctx,
	      struct opensmtp_scan_stats *stats_r)
{
	struct plain_fn p = { fn, ctx };

	return opensmtp_scan_known(dirfd, expire, 0, NULL, NULL, plain_found, &p, stats_r);
}
