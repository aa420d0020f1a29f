/* imap_fetch.h - FETCH (RFC 3501 section 6.4.5, RFC 9051): the attribute list parsed once, then each message's "* n FETCH (...)" written. */
#ifndef OSD_IMAP_FETCH_H
#define OSD_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_mailbox.h"
#include "imap_parser.h"

struct imap_fetch;

/*
 * The attributes after the sequence set: one atom (FLAGS, ALL, FAST,
 * FULL, BODY.PEEK[HEADER]<0.100>...) or a list of them.  uid_command:
 * UID FETCH (UID is then always returned).  -1 with *error_r for BAD.
 */
int imap_fetch_parse(const struct imap_arg *args, size_t n, bool uid_command,
		     struct imap_fetch **f_r, const char **error_r);
void imap_fetch_free(struct imap_fetch *f);

/* Whether the fetch reads a body part without .PEEK: \Seen is then set (RFC 3501 section 6.4.5). */
bool imap_fetch_sets_seen(const struct imap_fetch *f);

/* Whether MODSEQ (RFC 7162 section 3.1.4) is among the attributes. */
bool imap_fetch_has_modseq(const struct imap_fetch *f);

/* Add MODSEQ (FETCH ... (CHANGEDSINCE n) implies it, RFC 7162 section 3.1.4.1); -1 when there is no room. */
int imap_fetch_add_modseq(struct imap_fetch *f);

/*
 * CONDSTORE is on (RFC 7162 section 3.1): \Seen stored by a body fetch
 * gets its mod-sequence at once, and the reply tells it (MODSEQ).
 */
void imap_fetch_set_condstore(struct imap_fetch *f, bool on);

/*
 * With CONDSTORE on, before the first reply of a FETCH that sets \Seen:
 * store \Seen on every message of seqs[0..n) that lacks it and give all
 * of them one mod-sequence in one write of the UID list (not one write
 * per message), so that every MODSEQ the replies then tell is on disk
 * already.  imap_fetch_message reports those messages' FLAGS (and
 * MODSEQ) as changed.  0, or -1 with errno when a store failed (for
 * another reason than the message being gone).
 */
int imap_fetch_store_seen(struct imap_fetch *f, struct imap_mailbox *mb, const uint32_t *seqs, size_t n);

/*
 * Append "* seq FETCH (...)\r\n" for message seq of mb, reading and
 * parsing the message only when an attribute needs it.  When it sets
 * \Seen, the flag is stored first and FLAGS included in the reply.  A
 * message removed meanwhile by another program: -1 with errno ENOENT,
 * nothing appended (the session answers "NO [EXPUNGEISSUED]" at the end).
 */
int imap_fetch_message(struct imap_fetch *f, struct imap_mailbox *mb, uint32_t seq,
		       struct buf *out);

/*
 * The flags list of a message as IMAP writes it, "(\Seen $Label1)", with
 * \Recent when recent: for FETCH, and for the untagged FETCH of a sync.
 */
void imap_fetch_flags(const struct imap_mailbox *mb, const struct imap_msg *msg, struct buf *out);

/*
 * The RFC822.SIZE (the CRLF size) that a Maildir file name tells,
 * ",W=n" as Dovecot and Courier write it; false when it has none (the
 * file must then be read and counted, imap_message_crlf_size).  For
 * SEARCH LARGER/SMALLER too.
 */
bool imap_fetch_name_vsize(const char *name, uint64_t *size_r);

#endif
