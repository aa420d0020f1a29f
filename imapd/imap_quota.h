/* imap_quota.h - the Maildir++ quota of a user's Maildir (the maildirsize file): checking and recording APPEND, COPY and EXPUNGE. */
#ifndef OSD_IMAP_QUOTA_H
#define OSD_IMAP_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_QUOTA_NAME "maildirsize"

/* The reply text of a refusal (with the RFC 5530 code OVERQUOTA). */
#define IMAP_QUOTA_TEXT "Quota exceeded (mailbox for user is full)"

/*
 * Parse a maildirsize text: the first line "<bytes>S,<count>C" (either
 * part may be missing: no limit on it), then "<bytes> <count>" lines
 * (negative for removals), summed into *bytes_r, *count_r.  0, or -1 when
 * the first line is not a quota definition.
 */
int imap_quota_parse(const char *data, size_t len, uint64_t *limit_bytes_r, uint64_t *limit_count_r,
		     int64_t *bytes_r, int64_t *count_r);

/* imap_quota_parse, and the number of "<bytes> <count>" lines read to *lines_r (may be NULL). */
int imap_quota_parse_lines(const char *data, size_t len, uint64_t *limit_bytes_r, uint64_t *limit_count_r,
			   int64_t *bytes_r, int64_t *count_r, size_t *lines_r);

/*
 * The Maildir++ sums of a Maildir root: the messages in cur/ and new/ of
 * the root and of every folder but .Trash (sizes from ",S=" in the name,
 * else stat).  0 or -1 with errno.
 */
int imap_quota_sum(const char *root, uint64_t *bytes_r, uint64_t *count_r);

/*
 * Whether adding bytes and count messages to the Maildir root would go
 * over its quota: *over_r.  No maildirsize file: no quota (false).  The
 * file is recalculated first (imap_quota_sum, written atomically) as
 * Maildir++ asks: when it is longer than 5120 octets, when it has its
 * definition line only, and when it says "over" and is older than 15
 * minutes.  0, or -1 with errno.
 */
int imap_quota_check(const char *root, uint64_t bytes, uint64_t count, bool *over_r);

/*
 * Record a change ("<bytes> <count>" appended with one write, as Maildir++
 * asks) when root has a maildirsize file; nothing otherwise.  A file
 * grown past 5120 octets is then recalculated.  0 or -1.
 */
int imap_quota_add(const char *root, int64_t bytes, int64_t count);

#endif
