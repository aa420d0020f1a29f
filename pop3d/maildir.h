/* maildir.h - a POP3 maildrop over a Maildir: listing, UIDLs, sizes, RETR/TOP output, UPDATE. */
#ifndef OSD_POP3D_MAILDIR_H
#define OSD_POP3D_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * More messages than this and the maildrop is refused (E2BIG): a bound on
 * memory and time.  (The unit test builds with a smaller value, to test the
 * bound without creating 100,000 files.)
 */
#ifndef MAILDIR_MAX_MESSAGES
#define MAILDIR_MAX_MESSAGES 100000
#endif

/* RFC 1939 section 7, UIDL: "one to 70 characters in the range 0x21 to 0x7E". */
#define MAILDIR_UIDL_MAX 70

/* Prefix of the UIDL given to a message whose file name cannot be its UIDL. */
#define MAILDIR_UIDL_HASH_PREFIX "osd-"

/* The file in the Maildir that one POP3 session at a time holds a flock(2) on. */
#define MAILDIR_LOCK_NAME "osd-pop3.lock"

/* Each maildir_stream_read reads at most this much of the message file. */
#define MAILDIR_CHUNK 65536

struct maildir;
struct maildir_stream;

enum maildir_open_flags {
	MAILDIR_OPEN_LOCK = 1   /* take the session lock; fail with EWOULDBLOCK if held */
};

enum maildir_msg_state {
	MAILDIR_MSG_PRESENT,
	MAILDIR_MSG_DELETED,    /* marked by DELE in this session */
	MAILDIR_MSG_GONE        /* its file vanished (removed by someone else) */
};

struct maildir_update_stats {
	size_t deleted;             /* files unlinked (or found already gone) */
	uint64_t deleted_bytes;     /* their sizes as LIST reports them (file size if never computed) */
	size_t delete_failed;       /* files that could not be unlinked */
	size_t moved;               /* retrieved messages given the S (seen) flag */
	size_t move_failed;         /* retrieved messages whose rename failed (harmless) */
};

/*
 * Open the Maildir at path (the folder holding new/ and cur/, normally
 * HOME/Maildir) and list its messages: the regular files of new/ and cur/
 * whose names do not start with '.', ordered by modification time (oldest
 * first) then name, so that message numbers are stable while nothing
 * arrives.  With MAILDIR_OPEN_LOCK, first take an exclusive flock(2) on
 * path/MAILDIR_LOCK_NAME (created if missing); it is held until
 * maildir_close and released by the kernel if the process dies.
 * Sizes are computed lazily (maildir_size), not here.
 * Returns 0, or -1 with errno (EWOULDBLOCK: locked by another session;
 * E2BIG: more than MAILDIR_MAX_MESSAGES) and *error_r saying what failed.
 */
int maildir_open(const char *path, unsigned flags, struct maildir **md_r, const char **error_r);

/* Release the lock and free everything, without applying any change. */
void maildir_close(struct maildir *md);

/* Number of messages listed at open; POP3 message n is index n - 1. */
size_t maildir_count(const struct maildir *md);

/*
 * The UIDL of message i: the file name up to its first ':' (the Maildir
 * "unique name", without the ":2,FLAGS" info), as qmail-pop3d reports it
 * and Dovecot's %f does, so users moving from those servers do not download
 * everything again.  A ",S=<size>" Maildir++ field stays part of it: it is
 * fixed at delivery, so it never changes a UIDL, and both those servers
 * keep it.  A unique name longer than 70 characters or with a character
 * outside 0x21..0x7E, or one that two files share, is replaced by
 * MAILDIR_UIDL_HASH_PREFIX and 32 hex digits of a hash of its file name.
 */
const char *maildir_uidl(const struct maildir *md, size_t i);

/* The file name of message i inside its folder, and whether that folder is new/. */
const char *maildir_name(const struct maildir *md, size_t i, bool *in_new_r);

enum maildir_msg_state maildir_msg_state(const struct maildir *md, size_t i);

/*
 * The size of message i in octets as POP3 reports it (LIST, STAT, RETR),
 * computed on first use by reading the file, then remembered.  A message
 * whose file has vanished (ENOENT), or whose name now holds something that
 * is not a regular file, such as a FIFO swapped in after the listing
 * (EINVAL, found without blocking), is marked MAILDIR_MSG_GONE.  See
 * maildir.c for exactly what is counted.  Returns 0 or -1 with errno.
 */
int maildir_size(struct maildir *md, size_t i, uint64_t *size_r);

/* DELE: mark message i; it is unlinked at maildir_update. */
void maildir_delete(struct maildir *md, size_t i);

/* RSET: unmark every message marked by maildir_delete. */
void maildir_undelete_all(struct maildir *md);

/* Message i was retrieved whole: give it the S flag (and move it to cur/) at maildir_update. */
void maildir_mark_seen(struct maildir *md, size_t i);

/*
 * Start the multi-line body of a RETR (body_lines < 0) or a TOP (the
 * header, the empty line and body_lines lines of the body).  *size_r (when
 * not NULL) receives the size of the whole message as maildir_size gives
 * it.  A file that vanished is looked for under its other names (moved to
 * cur/, flags changed) before giving up with ENOENT and marking it gone; a
 * name that holds a FIFO or anything else but a regular file is refused at
 * once with EINVAL and marks it gone too.  Returns 0 or -1 with errno.
 */
int maildir_stream_open(struct maildir *md, size_t i, long long body_lines,
			struct maildir_stream **st_r, uint64_t *size_r);

/*
 * Append the next part of the response to out: the message as RFC 1939
 * section 3 wants it on the wire (every line ending in CRLF, a line that
 * starts with '.' given one more '.'), ending with the ".\r\n" line.
 * Reads at most MAILDIR_CHUNK bytes of the file per call, so a message of
 * any size or with lines of any length takes bounded memory; appends at most
 * 2 * MAILDIR_CHUNK + 5 bytes.  Returns 1 when more is to come, 0 when
 * the response is complete, -1 on a read error or a full out (errno).
 */
int maildir_stream_read(struct maildir_stream *st, struct buf *out);

/* Close the message file; st may be NULL. */
void maildir_stream_close(struct maildir_stream *st);

/*
 * The UPDATE state (RFC 1939 section 6): unlink the messages marked
 * deleted, and give the retrieved ones the S flag, moving those in new/ to
 * cur/NAME:2,S.  A file that has vanished meanwhile is not an error.
 * Returns 0 when every deletion was done, -1 when some failed (the counts
 * say how many; *error_r says why for the last one).
 */
int maildir_update(struct maildir *md, struct maildir_update_stats *stats_r, const char **error_r);

#endif
