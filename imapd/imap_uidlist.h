/* imap_uidlist.h - a folder's UID list (osd-uidlist: UIDVALIDITY, next UID, UID per Maildir base name), its lock, its keyword names, and the migration from dovecot-uidlist and courierimapuiddb. */
#ifndef OSD_IMAP_UIDLIST_H
#define OSD_IMAP_UIDLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"

#define IMAP_UIDLIST_NAME "osd-uidlist"
#define IMAP_UIDLIST_LOCK_NAME "osd-uidlist.lock"
#define IMAP_KEYWORDS_NAME "osd-keywords"
/* The per-user record of the last UIDVALIDITY given, in the Maildir root. */
#define IMAP_UIDVALIDITY_NAME "osd-uidvalidity"
/* At most this many messages (UID lines) per folder. */
#define IMAP_UIDLIST_MAX 1000000u
/* Longest Maildir base name kept (longer lines are skipped). */
#define IMAP_UIDLIST_BASE_MAX 1024u
/* Longest keyword name. */
#define IMAP_KEYWORD_NAME_MAX 100u
/* The largest mod-sequence (RFC 7162 mod-sequence-value: 63 bits). */
#define IMAP_MODSEQ_MAX ((uint64_t)INT64_MAX)
/* Keywords per folder: the Maildir info letters a-z (IMAP_KEYWORDS_MAX of imap_mailbox.h). */
#define IMAP_KEYWORDS_MAX_NAMES 26u

/* Which version of a small file was last read: read again only when its stat differs. */
struct imap_file_id {
	bool have;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/*
 * The flags a modseq was given for (struct imap_uid_entry mflags): the
 * keywords a-z in bits 0-25, the system flags in the bits below.
 */
#define IMAP_MBIT_DRAFT         (1u << 26)      /* D */
#define IMAP_MBIT_FLAGGED       (1u << 27)      /* F */
#define IMAP_MBIT_ANSWERED      (1u << 28)      /* R */
#define IMAP_MBIT_SEEN          (1u << 29)      /* S */
#define IMAP_MBIT_DELETED       (1u << 30)      /* T */

/* Where an entry's mflags come from. */
enum imap_mflags_state {
	IMAP_MFLAGS_UNKNOWN,            /* not known: the next sync that sees the file gives it a new modseq */
	IMAP_MFLAGS_INFO,               /* those of info (the list had no F word; none without info); made so by imap_uidlist_write */
	IMAP_MFLAGS_SET                 /* mflags */
};

/* One message: its UID and its Maildir base name (the file name up to ':'). */
struct imap_uid_entry {
	uint32_t uid;
	uint32_t mflags;                /* IMAP_MBIT_* and keywords: the flags modseq was given for */
	bool in_new;
	uint8_t mstate;                 /* enum imap_mflags_state */
	/* Both in the list's text as read (struct imap_uidlist block) or in one allocation of their own. */
	char *base;
	/*
	 * The file as the last complete scan saw it (version 2): the rest of
	 * its name after base (":2,<flags>", or "" in new/) and its folder;
	 * NULL when that scan did not see it.  Trusted only while the list's
	 * stamps are those of new/ and cur/ (struct imap_uidlist).
	 */
	char *info;
	uint64_t vsize;                 /* the CRLF size (RFC822.SIZE) when known, else 0 */
	/*
	 * The mod-sequence (RFC 7162) of the message's last flag change (or
	 * of its arrival), for the flags mflags; 0: none yet.
	 */
	uint64_t modseq;
};

/* Where a list came from. */
enum imap_uidlist_source {
	IMAP_UIDLIST_NONE,              /* no list at all yet: UIDVALIDITY still to be made */
	IMAP_UIDLIST_OSD,               /* osd-uidlist */
	IMAP_UIDLIST_DOVECOT,           /* dovecot-uidlist (versions 1, 2, 3) */
	IMAP_UIDLIST_COURIER            /* courierimapuiddb (version 1) */
};

struct imap_uidlist {
	uint32_t uidvalidity;           /* 0 until made */
	uint32_t next_uid;              /* >= 1, above every UID in v */
	uint32_t first_recent;          /* UIDs from here on are \Recent to the next session that claims them */
	struct imap_uid_entry *v;       /* ascending UID, no UID twice */
	size_t n, cap;
	/*
	 * The text of the list as last read, NULs put in after each name:
	 * the entries read from it point into it (no allocation per entry).
	 */
	char *block;
	size_t block_len;
	enum imap_uidlist_source source;
	struct imap_file_id id;         /* the osd-uidlist last read or written */
	/*
	 * have_stamps: the mtimes and ctimes of new/ and cur/ when the scan
	 * that gave every entry its info began (both quiet for 2 seconds by
	 * then).  While the folders still have them, the entries with info
	 * are exactly their files.
	 */
	bool have_stamps;
	struct timespec new_m, new_c, cur_m, cur_c;
	/*
	 * have_modseq: the list carried its HIGHESTMODSEQ (RFC 7162), above
	 * every modseq given in the folder, expunges included; a list without
	 * it (an older osd's, a migrated one) gets one at its next write
	 * (imap_uidlist_modseq_start).
	 */
	bool have_modseq;
	uint64_t highest_modseq;
	/*
	 * The header fields and id were taken from the list's view cache
	 * (imap_viewcache.h) and v is empty: the next imap_uidlist_refresh
	 * reads the text even when the file is the one of id.
	 */
	bool entries_deferred;
};

void imap_uidlist_init(struct imap_uidlist *ul);
void imap_uidlist_free(struct imap_uidlist *ul);

/*
 * Parse a UID list file into ul (emptied first): osd-uidlist ("osd-uidlist
 * 1 <uidvalidity> <nextuid> <firstrecent>" then "<uid> <base>" lines, or
 * version 2: "osd-uidlist 2 <uidvalidity> <nextuid> <firstrecent>
 * [M<highestmodseq>] [<new mtime> <new ctime> <cur mtime> <cur ctime>]"
 * (each <sec>.<nsec>) then "<uid> <base>[ n|c<info>][ W<vsize>][
 * M<modseq>[ F<letters>]]" lines),
 * dovecot-uidlist version 1 ("1 <uidvalidity> <nextuid>", "<uid>
 * <filename>"), 2 ("2 <uidvalidity> <nextuid>", "<uid> <flags>
 * <filename>") or 3 ("3 V<uidvalidity> N<nextuid> ...", "<uid> [<key><value>
 * ...] :<filename>"), courierimapuiddb version 1 (as dovecot's 1).  The
 * header decides.  Lines that do not parse, UIDs out of order or not below
 * the next UID are skipped (the next UID is raised over the highest);
 * names are kept up to ':'.  Lines past IMAP_UIDLIST_MAX are dropped.
 * 0, or -1 when the header is not one of these.
 */
int imap_uidlist_parse(struct imap_uidlist *ul, const char *data, size_t len);

/* The osd-uidlist text of ul (appended to out). */
int imap_uidlist_format(const struct imap_uidlist *ul, struct buf *out);

/*
 * Bring ul up to date with the folder at dir: osd-uidlist when it changed
 * since it was last read (stat: device, inode, size, mtime); when there is
 * none, dovecot-uidlist, else courierimapuiddb (version 1, the only one
 * Courier writes; another is taken as none, as Courier does), else an
 * empty list with uidvalidity 0 (ul->source says which).  A corrupt
 * osd-uidlist is taken as none.  1 when ul changed, 0 when not, -1 with
 * errno.
 */
int imap_uidlist_refresh(struct imap_uidlist *ul, const char *dir);

/*
 * Whether dir's osd-uidlist is still the file ul was read from or
 * written to (device, inode, size, mtime): 1 yes, 0 no (or none), -1
 * with errno.
 */
int imap_uidlist_unchanged(const struct imap_uidlist *ul, const char *dir);

/* Whether st (of an osd-uidlist) is the file id names. */
bool imap_file_id_same(const struct imap_file_id *id, const struct stat *st);
void imap_file_id_set(struct imap_file_id *id, const struct stat *st);

/*
 * Replace dir's osd-uidlist with ul (temp + fsync + rename), under the
 * lock.  0 or -1 with errno.  (imap_mailbox.c writes the view cache,
 * imap_viewcache.h, after it.)
 */
int imap_uidlist_write(struct imap_uidlist *ul, const char *dir);

/* Free entry e's names (before dropping it from v). */
void imap_uidlist_entry_free(struct imap_uidlist *ul, struct imap_uid_entry *e);

/* Set entry i's file (info NULL: not seen), keeping its base. */
void imap_uidlist_set_info(struct imap_uidlist *ul, size_t i, const char *info, bool in_new);

/* Add base (len octets) with the next UID; returns the UID, 0 when the list is full. */
uint32_t imap_uidlist_add(struct imap_uidlist *ul, const char *base, size_t len);

/*
 * The flags entry e's modseq was given for (IMAP_MBIT_* and keywords):
 * false when not known (a list of an older osd, a hand-made line).
 */
bool imap_uidlist_mflags(const struct imap_uid_entry *e, uint32_t *mflags_r);

/* The IMAP_MBIT_* and keyword bits of Maildir info letters ("FS", "Sab"), up to len, NUL or ','. */
uint32_t imap_uidlist_letters_bits(const char *letters, size_t len);

/*
 * A list without a HIGHESTMODSEQ (have_modseq false) gets one: 1 for a
 * list with no entry (a new folder), else one derived from the clock
 * (seconds * 65536), above any modseq a client may have from before (an
 * older osd, then this one again; Dovecot's, of a migrated folder).
 * Then have_modseq.
 */
void imap_uidlist_modseq_start(struct imap_uidlist *ul);

/* A new mod-sequence: one above the list's highest (which it becomes). */
uint64_t imap_uidlist_modseq_next(struct imap_uidlist *ul);

/* The entry of uid, NULL if none (binary search). */
const struct imap_uid_entry *imap_uidlist_find(const struct imap_uidlist *ul, uint32_t uid);

/*
 * Take dir's lock (osd-uidlist.lock, flock), waiting up to 30 seconds:
 * the descriptor to give to imap_uidlist_unlock, or -1 with errno.
 */
int imap_uidlist_lock(const char *dir);
void imap_uidlist_unlock(int fd);

/*
 * A new UIDVALIDITY for a folder of the Maildir root: the current time,
 * or one more than the last one given for root (osd-uidvalidity, under
 * flock), whichever is higher, so that two folders made in the same
 * second differ and a folder made again gets a new one.  0 on failure.
 */
uint32_t imap_uidvalidity_next(const char *root);

/* A folder's keyword names: the Maildir info letter 'a' + i is names[i]. */
struct imap_keywords {
	char *names[IMAP_KEYWORDS_MAX_NAMES];
	unsigned n;                     /* names[0..n) used; a gap is an empty name */
	struct imap_file_id id;         /* the osd-keywords last read or written */
};

void imap_keywords_free(struct imap_keywords *kw);

/* Parse "<index> <name>" lines (osd-keywords, dovecot-keywords) into kw (emptied first). */
void imap_keywords_parse(struct imap_keywords *kw, const char *data, size_t len);

/*
 * Bring kw up to date with dir's osd-keywords (or dovecot-keywords when
 * there is none).  1 when kw changed, 0 when not, -1 with errno.
 */
int imap_keywords_refresh(struct imap_keywords *kw, const char *dir);

/* Replace dir's osd-keywords with kw (atomically; under the uidlist lock). */
int imap_keywords_write(struct imap_keywords *kw, const char *dir);

/* Whether name can be a keyword (an IMAP atom, no '\\', at most IMAP_KEYWORD_NAME_MAX octets). */
bool imap_keyword_name_ok(const char *name);

#endif
