/* imap_mailbox.h - one selected Maildir++ folder as IMAP sees it: messages numbered by sequence, UIDs that last, flags and keywords in the file names, changes made by others found at each sync. */
#ifndef OSD_IMAP_MAILBOX_H
#define OSD_IMAP_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* The system flags (RFC 3501 section 2.3.2), as Maildir info letters: S R F T D. */
enum imap_flag {
	IMAP_FLAG_SEEN = 1u << 0,       /* S */
	IMAP_FLAG_ANSWERED = 1u << 1,   /* R */
	IMAP_FLAG_FLAGGED = 1u << 2,    /* F */
	IMAP_FLAG_DELETED = 1u << 3,    /* T */
	IMAP_FLAG_DRAFT = 1u << 4       /* D */
};
#define IMAP_FLAGS_ALL 0x1fu

/* At most this many keywords per folder: Maildir info letters a-z. */
#define IMAP_KEYWORDS_MAX 26

/* One message of the selected folder. */
struct imap_msg {
	uint32_t uid;
	unsigned flags;                 /* enum imap_flag bits */
	uint32_t keywords;              /* bit i: keyword i (imap_mailbox_keyword) */
	bool recent;                    /* \Recent: this session is the first to see it */
	bool expunged;                  /* gone, but not yet reported (no EXPUNGE allowed yet) */
	time_t internal_date;           /* the file's mtime: its delivery (or APPEND) time */
	uint64_t file_size;             /* octets on disk (,S= in the name, else stat) */
	const char *name;               /* the file's name in cur/ (or new/ until moved) */
	uint64_t vsize;                 /* the CRLF size (RFC822.SIZE) from the UID list, 0 unknown */
	uint64_t modseq;                /* RFC 7162: its flags' mod-sequence, from the UID list */
};

/* What changed since the last sync, for the untagged replies. */
struct imap_sync_report {
	uint32_t *expunged;             /* sequence numbers, to send in this order as "* n EXPUNGE" */
	size_t n_expunged;
	uint32_t *changed;              /* sequence numbers (after the expunges) whose flags changed */
	size_t n_changed;
	bool count_changed;             /* send "* N EXISTS" (and "* R RECENT") */
	bool keywords_changed;          /* send the FLAGS and PERMANENTFLAGS lines again */
};

struct imap_mailbox;

/*
 * Open the folder name (IMAP name, "INBOX" any case, else a Maildir++
 * folder ".name" of the Maildir root) and read its messages: new/ moved
 * to cur/ (unless readonly, EXAMINE), UIDs from the folder's UID list
 * (made, or taken from dovecot-uidlist or courierimapuiddb, on first
 * open; see imap_uidlist.h) and given to new files under its lock.  0,
 * or -1 with *error_r the reply text and *code_r the RFC 5530 code
 * ("NONEXISTENT", "SERVERBUG", ...) or NULL.
 */
int imap_mailbox_open(const char *root, const char *name, bool readonly,
		      struct imap_mailbox **mb_r, const char **error_r, const char **code_r);
void imap_mailbox_close(struct imap_mailbox *mb);

/*
 * The open folder was renamed (RENAME of it, or of a parent) and is now
 * name: its UID list, lock and keywords are looked for there from now on
 * (the descriptors of new/ and cur/ followed the directory already).  0,
 * or -1 when name is not a folder name.
 */
int imap_mailbox_moved(struct imap_mailbox *mb, const char *name);

bool imap_mailbox_readonly(const struct imap_mailbox *mb);

/* The folder's Maildir (the root for INBOX, root/.NAME for the others). */
const char *imap_mailbox_dir(const struct imap_mailbox *mb);
uint32_t imap_mailbox_uidvalidity(const struct imap_mailbox *mb);
uint32_t imap_mailbox_uidnext(const struct imap_mailbox *mb);
/*
 * The folder's HIGHESTMODSEQ (RFC 7162) as this view knows it: at least
 * the modseq of every message it has, never going down.
 */
uint64_t imap_mailbox_highest_modseq(const struct imap_mailbox *mb);

/* Messages (expunged-not-yet-reported ones included: they keep their number). */
uint32_t imap_mailbox_count(const struct imap_mailbox *mb);
uint32_t imap_mailbox_recent(const struct imap_mailbox *mb);
/* Message seq (1..count); NULL out of range. */
const struct imap_msg *imap_mailbox_msg(const struct imap_mailbox *mb, uint32_t seq);
/* The sequence number of uid, 0 if none. */
uint32_t imap_mailbox_seq_of_uid(const struct imap_mailbox *mb, uint32_t uid);

/* The folder's keywords (the Maildir letter 'a' + i is keyword i). */
unsigned imap_mailbox_keyword_count(const struct imap_mailbox *mb);
const char *imap_mailbox_keyword(const struct imap_mailbox *mb, unsigned i);
/* Index of keyword name (compared without case); with create, added when new. -1: none / no room. */
int imap_mailbox_keyword_index(struct imap_mailbox *mb, const char *name, bool create);

/*
 * Look again at the folder (cheap when new/ and cur/ have not changed):
 * files gone (the POP3 server, another session), new files, flags
 * changed by others.  With report_expunges false (during FETCH, STORE,
 * SEARCH, RFC 3501 section 7.4.1) a vanished message stays, expunged,
 * until a later sync with true.  *r is valid until the next sync.
 */
int imap_mailbox_sync(struct imap_mailbox *mb, bool report_expunges, struct imap_sync_report *r,
		      const char **error_r);

/*
 * Append the message's octets as stored (LF line ends, most often) to
 * out.  -1 with errno ENOENT when another program removed it meanwhile.
 */
int imap_mailbox_read(struct imap_mailbox *mb, uint32_t seq, struct buf *out);

/*
 * Note the CRLF size of message seq (counted from its file): kept in the
 * UID list at its next write, or when the folder is closed, for later
 * sessions' RFC822.SIZE.
 */
void imap_mailbox_set_vsize(struct imap_mailbox *mb, uint32_t seq, uint64_t vsize);

/*
 * Set the flags and keywords of seq (renames its file).  ENOENT: gone
 * meanwhile.  The change gets its mod-sequence at the next
 * imap_mailbox_commit_flags, or else at the next sync (of any session).
 */
int imap_mailbox_set_flags(struct imap_mailbox *mb, uint32_t seq, unsigned flags, uint32_t keywords);

/*
 * Give the flag changes made by imap_mailbox_set_flags since the last
 * call one new mod-sequence (RFC 7162: one per STORE), in the UID list
 * under its lock; the messages' modseq then is it.  0, or -1 with errno
 * (the changes then get theirs at the next sync).
 */
int imap_mailbox_commit_flags(struct imap_mailbox *mb);

/*
 * Remove the messages with \Deleted (only those whose UIDs are in
 * uids[0..n) when uids is not NULL: UID EXPUNGE).  The removals are
 * reported by the next sync with report_expunges.
 */
int imap_mailbox_expunge(struct imap_mailbox *mb, const uint32_t *uids, size_t n,
			 const char **error_r);

/*
 * Copy messages seqs[0..n) into folder dest (hard link, else a copy,
 * flags and keywords kept, \Recent set there), giving them UIDs there in
 * that order: *uidvalidity_r and uids_r[0..n) for COPYUID (RFC 4315).
 * Nothing is copied on failure; *error_r, *code_r as for open
 * ("TRYCREATE" when dest does not exist, "OVERQUOTA").
 */
int imap_mailbox_copy(struct imap_mailbox *mb, const uint32_t *seqs, size_t n, const char *dest,
		      uint32_t *uidvalidity_r, uint32_t *uids_r, const char **error_r,
		      const char **code_r);

/*
 * APPEND (RFC 3501 section 6.3.11): data as the client sent it (CRLF;
 * stored with LF, as deliveries are) into folder name of Maildir root,
 * tmp/ + fsync + rename into cur/ with the flags and keywords, the mtime
 * internal_date (0: now).  Checked against the Maildir++ quota
 * (maildirsize) first: "OVERQUOTA".  *uidvalidity_r, *uid_r for
 * APPENDUID.
 */
int imap_mailbox_append(const char *root, const char *name, const char *data, size_t len,
			unsigned flags, const char *const *keywords, size_t n_keywords,
			time_t internal_date, uint32_t *uidvalidity_r, uint32_t *uid_r,
			const char **error_r, const char **code_r);

#endif
