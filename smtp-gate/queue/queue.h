/* queue.h - the mail queue: smtpd's durable write of one message, and the envelope reader the queue manager shares. Layout: docs/queue-format.md. */
#ifndef OSD_SMTP_QUEUE_H
#define OSD_SMTP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/* A queue id: letters, digits and '.', at most this long. */
#define QUEUE_ID_MAX 32

/* The envelope smtpd writes in front of the message. */
struct queue_envelope {
	const char *sender;             /* "" for the null reverse-path */
	const char *const *rcpts;       /* nrcpts forward-paths, as accepted (RELAYCLIENT appended) */
	size_t nrcpts;
	const char *client;             /* client address (inet_ntop form) */
	const char *helo;               /* HELO/EHLO argument as given ("" if none) */
	const char *auth_user;          /* SMTP AUTH login, or NULL */
	time_t received;
};

struct queue_writer;
struct runas;

/*
 * Before a program drops root: hand the queue folders it writes to the
 * user it becomes (runas_dir; mode 0700, nothing for group or others).
 * smtpd (manager false): queue_dir, tmp/ and new/.  The queue manager:
 * also mess/, info/, everything already inside (left by a run as root)
 * and the lock file.  state_dir holds queue/.  0, or -1 with err.
 */
int queue_prepare(struct runas *ra, const char *state_dir, bool manager, char *err,
		  size_t errsize);

/*
 * Start a message as queue_dir/new/ID (creating the queue folders on
 * first use): created read-only (not complete) and locked, then the
 * envelope is written.  fsync false skips every fsync (osd.conf fsync =
 * no: for tests on tmpfs and benchmarks only).  Returns the writer, or
 * NULL with errno (ENOSPC and EDQUOT mean the disk is full) and err
 * saying what failed.
 */
struct queue_writer *queue_begin(const char *queue_dir, bool fsync,
				 const struct queue_envelope *env, char *err, size_t errsize);

/*
 * queue_begin with new/ kept open by the caller across messages (one
 * open and close per session rather than per message): *new_dirfd is -1
 * at first and opened here; the caller closes it once done.  A new/
 * removed since is opened (and made) afresh.
 */
struct queue_writer *queue_begin_in(const char *queue_dir, int *new_dirfd, bool fsync,
				    const struct queue_envelope *env, char *err, size_t errsize);

/*
 * The SMTP reply (without CRLF) for a message the queue could not take,
 * from the errno of queue_begin, queue_write or queue_commit: 452 4.3.1
 * when the disk is full (ENOSPC, EDQUOT: the client may try later), else
 * 451 4.3.0.
 */
const char *queue_error_reply(int err);

/* Append message octets (buffered).  0, or -1 with errno and err. */
int queue_write(struct queue_writer *w, const void *data, size_t len, char *err, size_t errsize);

/*
 * Make the message durable and visible to the queue manager: flush,
 * write out, mark it complete (fchmod 0600), ONE fsync of the file (and
 * of new/ on file systems where that fsync does not commit the name),
 * close (the lock goes).  Only after this returns 0 may smtpd say 250.
 * id_r receives the queue id.  On -1 (errno, err) the message is
 * removed again: nothing is half-queued.  The writer is freed either way.
 */
int queue_commit(struct queue_writer *w, char id_r[QUEUE_ID_MAX + 1], char *err, size_t errsize);

/* Drop an unfinished message (the client went away, the message was refused); frees w. */
void queue_abort(struct queue_writer *w);

/*
 * Whether a file in new/ (st from stat) is a complete message: its
 * writer marked it (the owner's write bit; files in new/ are created
 * read-only).  Every reader of new/ takes, counts or lists only these.
 */
bool queue_file_complete(const struct stat *st);

/*
 * Remove dirfd/name when it is debris: not marked complete and not
 * locked by a live writer (it crashed, or the machine stopped).  1
 * removed, 0 left alone (complete, gone, or its writer is still
 * writing), -1 with errno.
 */
int queue_clean_debris(int dirfd, const char *name);

/* An envelope read back from a queue file (pointers into the caller's buffer). */
struct queue_envelope_read {
	char *sender;
	char **rcpts;                   /* malloc'd array of nrcpts pointers into the buffer */
	size_t nrcpts;
	char *client;
	char *helo;
	char *auth_user;                /* NULL when absent */
	time_t received;
	size_t body_offset;             /* where the message starts in the file */
};

/*
 * Parse the envelope at the start of a queue file's contents (data, len;
 * data is modified: fields are NUL-terminated in place).  Strict: an
 * unknown version, a missing or repeated field, a control character in a
 * value or a missing end is an error.  Returns 0, or -1 with err.
 */
int queue_envelope_parse(char *data, size_t len, struct queue_envelope_read *env,
			 char *err, size_t errsize);
void queue_envelope_read_free(struct queue_envelope_read *env);

#endif
