/* opensmtp.h - the open-smtp/ folder: one empty file per client address, mtime = last login. */
#ifndef OSD_OPENSMTP_H
#define OSD_OPENSMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include <stdint.h>

#include "ipaddr.h"
#include "timecalc.h"

/* Prefix of the names osd uses for its own short-lived files in the folder. */
#define OPENSMTP_TMP_PREFIX ".osd-"
/* What opensmtp_revoke_at renames an entry to (then removes): the watcher
 * writes a revoke into relay.cdb without waiting for its batch. */
#define OPENSMTP_REVOKE_PREFIX OPENSMTP_TMP_PREFIX "revoke."

/*
 * Record a successful login from addr: create or touch dir/<address> with
 * mtime = now.  No lock, no shared file rewritten.  Returns 0 only once the
 * new time is on the live entry (not on a file an expirer renamed away
 * meanwhile; see the comment at the top of opensmtp.c): the entry then
 * lives at least relay_expire from that moment.  Returns -1 with errno
 * (EAGAIN when expirers took the entry away again and again; EINVAL for an
 * address that is no client's own: see ipaddr_is_unicast).
 */
int opensmtp_record(const char *dir, const struct ipaddr *addr);

/* Same, on an open folder descriptor (for servers that record often). */
int opensmtp_record_at(int dirfd, const struct ipaddr *addr);

/*
 * The same for a login of user, whose name is stored on the entry
 * (opensmtp_user.h; NULL or an unstorable name: the entry then names no
 * one, its last login being nobody's known).  A failure to store the name
 * is logged and does not fail the record.  opensmtp_record and
 * opensmtp_record_at are these with user NULL.
 */
int opensmtp_record_user(const char *dir, const struct ipaddr *addr, const char *user);
int opensmtp_record_user_at(int dirfd, const struct ipaddr *addr, const char *user);

/*
 * The two steps of opensmtp_record_at, for tests that interleave an
 * expiry between them.  opensmtp_touch_at opens (creating it if needed,
 * never through a symlink) the regular file dirfd/name, sets its mtime to
 * now through the descriptor and fills *st_r; it returns the descriptor,
 * or -1 with errno.  opensmtp_touch_landed then says whether name still
 * names that file (1), or no longer does (0: renamed away, touch again),
 * or -1 with errno.
 */
int opensmtp_touch_at(int dirfd, const char *name, struct stat *st_r);
int opensmtp_touch_landed(int dirfd, const char *name, const struct stat *st);

/*
 * Set an entry's mtime to when (importing old records, mirroring a fleet
 * login), creating it if needed (made aside and linked in: the name never
 * carries another time); an entry that is already newer than when is left
 * as it is.
 * An entry set forgets its login name (an imported line names no one).
 * Returns 1 when the entry was set, 0 when a newer one was kept, -1 on error.
 */
int opensmtp_record_time_at(int dirfd, const struct ipaddr *addr, time_t when);

/*
 * The same, and the entry names user as its login (NULL or invalid: no
 * one): a mirrored fleet login.  A new entry gets its name before it is
 * linked in, so it never shows without it.
 */
int opensmtp_record_time_user_at(int dirfd, const struct ipaddr *addr, time_t when,
				 const char *user);

/*
 * opensmtp_record_time_user_at, saying what it did: 2 when it made a new
 * entry (linked in with its time and name already set: its only inotify
 * event on the folder under its name is the IN_CREATE of the link; an
 * unnamed inode's own events come under a name "#<inode>", which is no
 * entry's), 1 when it set an existing one, 0 when a newer one was kept,
 * -1 on error.  With 1 or 2, *st_r is the entry as set.
 */
int opensmtp_mirror_at(int dirfd, const struct ipaddr *addr, time_t when, const char *user,
		       struct stat *st_r);

/*
 * Is name a valid entry name?  It must be an address in canonical text
 * form (what ipaddr_format writes) of a unicast address (ipaddr_is_unicast);
 * then *addr_r is filled.
 */
bool opensmtp_name_to_addr(const char *name, struct ipaddr *addr_r);

/* Is the entry whose mtime is mtime expired at now?  (now >= mtime + expire) */
static inline bool opensmtp_is_expired(const struct timespec *mtime, long expire,
				       const struct timespec *now)
{
	time_t deadline = time_add(mtime->tv_sec, expire);  /* an mtime near the end of time never wraps */
	return now->tv_sec > deadline ||
	       (now->tv_sec == deadline && now->tv_nsec >= mtime->tv_nsec);
}

enum opensmtp_expire_result {
	OPENSMTP_REMOVED,       /* it was expired and is gone */
	OPENSMTP_REFRESHED,     /* a login refreshed it in time: kept */
	OPENSMTP_GONE,          /* it no longer existed */
	OPENSMTP_ERROR          /* errno set */
};

/*
 * Remove entry name if it is still expired at the moment of removal.
 * The entry is first renamed aside (atomic), so a login that happens at
 * the same instant creates a fresh file instead of being lost; the renamed
 * file is then looked at again, and put back if a login refreshed it (or
 * dropped when a login already made a new entry, which is newer).
 * *mtime_r receives the entry's mtime when it is kept.
 */
enum opensmtp_expire_result opensmtp_expire_at(int dirfd, const char *name, long expire,
					       struct timespec *mtime_r);

/*
 * The same at a given now, which must be a CLOCK_REALTIME reading taken
 * before the call (a later one could count a login made during the call
 * as old).  For tests that expire exactly at a boundary.
 */
enum opensmtp_expire_result opensmtp_expire_at_time(int dirfd, const char *name, long expire,
						    const struct timespec *now,
						    struct timespec *mtime_r);

/* An entry renamed aside by opensmtp_expire_begin. */
struct opensmtp_aside {
	char name[IPADDR_TEXT_MAX];     /* the entry's own name */
	char path[IPADDR_TEXT_MAX + 80]; /* OPENSMTP_TMP_PREFIX "expire.<name>,<unique>" */
};

/*
 * The two steps of opensmtp_expire_at_time, for tests that interleave a
 * login between them.  opensmtp_expire_begin renames name aside when it is
 * expired at now and returns true (opensmtp_expire_finish must follow);
 * otherwise it returns false with the result in *res_r (and *mtime_r for
 * OPENSMTP_REFRESHED).  opensmtp_expire_finish looks at the renamed file
 * again: removes it if it is still expired at now, or puts it back.
 */
bool opensmtp_expire_begin(int dirfd, const char *name, long expire, const struct timespec *now,
			   struct opensmtp_aside *aside_r, enum opensmtp_expire_result *res_r,
			   struct timespec *mtime_r);
enum opensmtp_expire_result opensmtp_expire_finish(int dirfd, const struct opensmtp_aside *aside,
						   long expire, const struct timespec *now,
						   struct timespec *mtime_r);

struct opensmtp_scan_stats {
	unsigned long live;     /* entries reported to the callback */
	unsigned long expired;  /* entries removed because they had expired */
	unsigned long ignored;  /* names that are not entries (warned about) */
};

/* Called for each live entry; a negative return stops the scan. */
typedef int opensmtp_entry_fn(void *ctx, const struct ipaddr *addr,
			      const struct timespec *mtime);

/*
 * Read the whole folder: remove expired entries (opensmtp_expire_at),
 * report live ones to fn, warn about and skip anything else, and finish
 * expiries a crash interrupted.  Returns 0, or -1 with errno.
 */
int opensmtp_scan(int dirfd, long expire, opensmtp_entry_fn *fn, void *ctx,
		  struct opensmtp_scan_stats *stats_r);

/*
 * An entry's mtime vouched for without reading its file, from what an
 * earlier scan saw (opensmtp_snap.h): true with *mtime_r when the file
 * whose inode number is ino, under addr's name, had that mtime then.  A
 * file's mtime only moves forward (a login sets it to now, and
 * opensmtp_record_time_at never sets an earlier one), so its mtime now is
 * *mtime_r or later.
 */
typedef bool opensmtp_known_fn(void *ctx, const struct ipaddr *addr, uint64_t ino,
			       struct timespec *mtime_r);

/* One live entry as opensmtp_scan_known reports it. */
struct opensmtp_found {
	struct ipaddr addr;
	struct timespec mtime;          /* the file's; when known: at most the file's */
	uint64_t ino;                   /* its inode number (0: not known) */
	bool known;                     /* mtime came from the known callback, not the file */
};

/* Called for each live entry; a negative return stops the scan. */
typedef int opensmtp_found_fn(void *ctx, const struct opensmtp_found *f);

/*
 * opensmtp_scan, but an entry that known vouches for (the inode number the
 * folder listing gives matches) and that by that mtime is still live
 * margin seconds from now is reported without an fstatat, the cost of a
 * cold start (one per entry: 1,000,000 entries, 2-4 s).  Anything else
 * (unknown, another inode, expired or close to it by the known mtime) is
 * read and expired as opensmtp_scan does.  An entry the listing does not
 * show is never reported, whatever known says.  known may be NULL.
 */
int opensmtp_scan_known(int dirfd, long expire, long margin, opensmtp_known_fn *known,
			void *kctx, opensmtp_found_fn *fn, void *ctx,
			struct opensmtp_scan_stats *stats_r);

/*
 * Revoke the entry name now, whatever its age: it is renamed aside (the
 * expiry's E2, so a login after the rename makes a new entry, which stays)
 * and removed with its login name.  With user non-NULL, only if the entry,
 * looked at again after the rename, still names user (another user's
 * login behind the same address is put back).  Returns 1 when removed
 * (*login_r, if not NULL: its login time), 0 when there was no such entry
 * or it is another user's, -1 with errno.
 */
int opensmtp_revoke_at(int dirfd, const char *name, const char *user, struct timespec *login_r);

/* Copy name into out with anything unprintable shown as '?' (for logs). */
void opensmtp_printable(const char *name, char *out, size_t size);

#endif
