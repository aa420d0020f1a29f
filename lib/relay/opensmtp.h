/* opensmtp.h - the open-smtp/ folder: one empty file per client address, mtime = last login. */
#ifndef OSD_OPENSMTP_H
#define OSD_OPENSMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ipaddr.h"

/* Prefix of the names osd uses for its own short-lived files in the folder. */
#define OPENSMTP_TMP_PREFIX ".osd-"

/*
 * Record a successful login from addr: create or touch dir/<address> with
 * mtime = now.  No lock, no shared file rewritten.  Returns 0 or -1 with errno.
 */
int opensmtp_record(const char *dir, const struct ipaddr *addr);

/* Same, on an open folder descriptor (for servers that record often). */
int opensmtp_record_at(int dirfd, const struct ipaddr *addr);

/*
 * Set an entry's mtime to when (importing old records), creating it if
 * needed; an entry that is already newer than when is left as it is.
 * Returns 1 when the entry was set, 0 when a newer one was kept, -1 on error.
 */
int opensmtp_record_time_at(int dirfd, const struct ipaddr *addr, time_t when);

/*
 * Is name a valid entry name?  It must be an address in canonical text
 * form (what ipaddr_format writes); then *addr_r is filled.
 */
bool opensmtp_name_to_addr(const char *name, struct ipaddr *addr_r);

/* Is the entry whose mtime is mtime expired at now?  (now >= mtime + expire) */
static inline bool opensmtp_is_expired(const struct timespec *mtime, long expire,
				       const struct timespec *now)
{
	time_t deadline = mtime->tv_sec + expire;
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
 * the same instant creates a fresh file instead of being lost; if the
 * renamed file turns out to have been refreshed, it is put back.
 * *mtime_r receives the entry's mtime when it is kept.
 */
enum opensmtp_expire_result opensmtp_expire_at(int dirfd, const char *name, long expire,
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

/* Copy name into out with anything unprintable shown as '?' (for logs). */
void opensmtp_printable(const char *name, char *out, size_t size);

#endif
