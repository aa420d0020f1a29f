/* qstore.h - the queue manager's side of the queue folder: hashed mess/ and info/ folders, per-message delivery state. Layout: docs/queue-format.md. */
#ifndef OSD_SMTP_QSTORE_H
#define OSD_SMTP_QSTORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "queue.h"

/* mess/ and info/ are split into this many subfolders ("00".."ff"), so none grows huge. */
#define QSTORE_BUCKETS 256

/* The longest reason kept per recipient (a remote reply, a local explanation). */
#define QSTORE_REASON_MAX 1000

enum qstore_status {
	QSTORE_PENDING = 0,     /* not delivered yet (never tried, or deferred) */
	QSTORE_DONE,            /* delivered: never again */
	QSTORE_FAILED           /* failed permanently (or expired): goes into the bounce */
};

struct qstore_rcpt {
	enum qstore_status status;
	char *reason;           /* the last deferral or the failure; NULL when none (malloc'd) */
};

/* The state of one message, as info/NN/ID keeps it. */
struct qstore_info {
	unsigned tries;         /* delivery rounds made */
	time_t next;            /* the next round (0: at once) */
	bool bounced;           /* the bounce for the failed recipients is queued */
	size_t nrcpts;          /* as many as the envelope has, in its order */
	struct qstore_rcpt *rcpts;
};

/* The bucket of a queue id: two lower-case hex digits. */
void qstore_bucket(const char *id, char out[3]);

/* queue_dir/mess/NN/ID, queue_dir/info/NN/ID, queue_dir/new/ID.  0, or -1 (ENAMETOOLONG). */
int qstore_mess_path(const char *queue_dir, const char *id, char *out, size_t size);
int qstore_info_path(const char *queue_dir, const char *id, char *out, size_t size);
int qstore_new_path(const char *queue_dir, const char *id, char *out, size_t size);

/* Create the folders the manager needs (mess/NN and info/NN for every bucket); 0 or -1 with err. */
int qstore_init(const char *queue_dir, char *err, size_t errsize);

/*
 * Move a message the SMTP server committed from new/ into mess/NN.  Not
 * fsync'd: should a power cut undo the rename the message is simply found
 * in new/ again.  0, or -1 with errno: EAGAIN when the file is not marked
 * complete (still being written, or debris: queue_clean_debris).
 */
int qstore_take_new(const char *queue_dir, const char *id);

/* queue_clean_debris on new/ID: 1 removed, 0 left alone, -1 with errno. */
int qstore_clean_new(const char *queue_dir, const char *id);

/* A fresh state: nrcpts recipients, all pending, no tries.  -1 on ENOMEM. */
int qstore_info_init(struct qstore_info *info, size_t nrcpts);
void qstore_info_free(struct qstore_info *info);

/* Set recipient i's status and reason (copied, made single-line, cut at QSTORE_REASON_MAX). */
int qstore_info_set(struct qstore_info *info, size_t i, enum qstore_status st, const char *reason);

/*
 * The info file's text (pure: the unit tests and osd qread use it):
 *   osd-info 1
 *   tries N
 *   next UNIXTIME
 *   bounced 0|1
 *   rcpt pending|done|failed      (one per envelope recipient, in order)
 *   why TEXT                      (optional, after its rcpt line)
 */
int qstore_info_format(const struct qstore_info *info, struct buf *out);

/*
 * Parse an info file's text (len octets) for a message with nrcpts
 * recipients.  Strict: another version, a count that does not match, an
 * unknown line is an error.  0, or -1 with err.
 */
int qstore_info_parse(const char *text, size_t len, size_t nrcpts, struct qstore_info *info,
		      char *err, size_t errsize);

/*
 * Write info/NN/ID atomically (temp file, fsync, rename, fsync the
 * folder; no fsync when do_fsync is false).  0, or -1 with err.
 */
int qstore_info_write(const char *queue_dir, const char *id, const struct qstore_info *info,
		      bool do_fsync, char *err, size_t errsize);

/*
 * Read info/NN/ID for a message with nrcpts recipients.  1 read, 0 there
 * is none (a message never tried: the caller starts from
 * qstore_info_init), -1 with err (unreadable or malformed).
 */
int qstore_info_read(const char *queue_dir, const char *id, size_t nrcpts,
		     struct qstore_info *info, char *err, size_t errsize);

/*
 * A message's file: its contents in *data_r (malloc'd, NUL-terminated,
 * *len_r octets, at most max: the envelope needs only the start; *len_r is
 * set on a parse error too, so a caller sees that max cut it short) and the parsed
 * envelope.  0, 1 when the file is gone (deleted by an administrator), -1
 * with err.
 */
int qstore_read_envelope(const char *path, size_t max, char **data_r, size_t *len_r,
			 struct queue_envelope_read *env, char *err, size_t errsize);

/* The same on an open descriptor of the file (closed here); name is for messages.  0 or -1. */
int qstore_read_envelope_fd(int fd, const char *name, size_t max, char **data_r, size_t *len_r,
			    struct queue_envelope_read *env, char *err, size_t errsize);

/*
 * Only the "next" time of info/NN/ID (the queue manager's start-up needs no
 * more, and not the envelope): 1 with *next_r, 0 when there is no info
 * file (never tried), -1 when it cannot be read or is not an info file.
 */
int qstore_info_next(const char *queue_dir, const char *id, time_t *next_r);

/* qstore_info_read with the info/NN folder open already (osd qread: no path walk per file). */
int qstore_info_read_at(int dirfd, const char *id, size_t nrcpts, struct qstore_info *info,
			char *err, size_t errsize);

/* Remove a finished message: the message file first, then its info. */
void qstore_remove(const char *queue_dir, const char *id);

/*
 * Call fn for every message in mess/ (id, and whether it has info) and,
 * with in_new true, for every file in new/; ids that are not queue ids
 * are skipped.  Stops when fn returns non-zero and returns that.
 */
typedef int qstore_each_fn(const char *id, bool in_new, void *ctx);
int qstore_foreach(const char *queue_dir, qstore_each_fn *fn, void *ctx);

/*
 * What osd qstat prints and osd status reports: the messages in the queue
 * (mess/ and new/) in *queued_r, those osd queue has not taken yet (new/,
 * complete files only) in *fresh_r.  A missing folder counts 0.  0, or -1 with errno when a
 * folder that exists cannot be read.
 */
int qstore_count(const char *queue_dir, long *queued_r, long *fresh_r);

/*
 * Only the second of those: complete messages in new/ (osd metrics counts
 * them at each scrape; a file still being written is not a message yet).
 */
int qstore_count_new(const char *queue_dir, long *fresh_r);

/* True when name could be a queue id (digits and dots, bounded). */
bool qstore_id_ok(const char *name);

#endif
