/* maildir_deliver.h - writing one message into a Maildir (tmp, fsync, link into new), unique names, and Maildir++ quota use. */
#ifndef OSD_SMTP_MAILDIR_DELIVER_H
#define OSD_SMTP_MAILDIR_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "userdb.h"

/* Longest unique name maildir_unique_name makes (the host part is cut to fit). */
#define MAILDIR_NAME_MAX 255
/* Message octets are copied through a buffer of this size, whatever the message's size. */
#define DELIVER_CHUNK (64 * 1024)

/* What a Maildir holds now: octets and messages in new/ and cur/ of INBOX and its Maildir++ folders. */
struct maildir_usage {
	uint64_t bytes;
	uint64_t count;
};

/*
 * The Maildir++ unique name "SEC.MUSECPPID.HOST,S=SIZE" into out.  In
 * host, '/' ':' ',' '\\' and bytes outside printable ASCII become "\ooo"
 * (as the Maildir spec asks for '/' and ':'; ',' would confuse the S=
 * field).  0, or -1 when out is too small.
 */
int maildir_unique_name(char *out, size_t size, long long sec, long usec, long pid,
			const char *host, uint64_t msg_size);

/*
 * Measure maildir: every message file (not starting with '.') in new/ and
 * cur/ of INBOX and of each Maildir++ folder (".Name/"), sized by its
 * ",S=" field where present, else by stat.  Missing folders count as
 * empty (delivery reports a missing Maildir itself).  0, or -1 with err.
 */
int maildir_usage(const char *maildir, struct maildir_usage *use_r, char *err, size_t errsize);

/*
 * Would one more message of msg_size octets take use over quota?  A part
 * of 0 means no limit on it.  The message must fit: use + msg_size above
 * the byte limit, or one message more than the count limit, is over.
 */
bool maildir_over_quota(const struct userdb_quota *quota, const struct maildir_usage *use,
			uint64_t msg_size);

/* Where deliver_copy puts octets: 0, or -1 (with errno) to stop. */
typedef int deliver_sink_fn(void *ctx, const void *data, size_t len);

/*
 * Pass exactly len octets of fd from offset on to sink, DELIVER_CHUNK at a
 * time (pread: fd's own offset is not moved, so the message can be read
 * again for a second destination).  0, or -1 with errno (EIO when fd ends
 * early).
 */
int deliver_copy(int fd, off_t offset, uint64_t len, deliver_sink_fn *sink, void *ctx);

/*
 * Deliver head (head_len octets: the prepended header lines) followed by
 * body_len octets of fd from offset into maildir: create tmp/UNIQUE
 * (O_EXCL, mode 0600), write, fsync (when do_fsync), close, link into
 * new/ (rename where the file system cannot link), fsync new/, remove
 * the tmp name.  On failure nothing is left in tmp/ or new/.  name_r
 * receives the name in new/.  0, or -1 with errno and err.
 */
int maildir_deliver(const char *maildir, const char *head, size_t head_len, int fd, off_t offset,
		    uint64_t body_len, bool do_fsync, char name_r[MAILDIR_NAME_MAX + 1],
		    char *err, size_t errsize);

/*
 * maildir_deliver with a delivery key (the queue manager's "QUEUEID.N",
 * letters, digits and dots; NULL: none) in the name as ",Q=KEY", so that
 * a delivery whose verdict was lost can be found again (maildir_find_key).
 */
int maildir_deliver_keyed(const char *maildir, const char *key, const char *head, size_t head_len,
			  int fd, off_t offset, uint64_t body_len, bool do_fsync,
			  char name_r[MAILDIR_NAME_MAX + 1], char *err, size_t errsize);

/*
 * Is a message delivered with key in maildir's new/ or cur/ (where a
 * reader may have moved it)?  1 with its name in name_r, 0 not there,
 * -1 with err when a folder cannot be read.  A copy the owner has
 * deleted meanwhile is not found: that delivery is repeated.
 */
int maildir_find_key(const char *maildir, const char *key, char name_r[MAILDIR_NAME_MAX + 1],
		     char *err, size_t errsize);

#endif
