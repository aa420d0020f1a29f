/* imap_flags.h - the flag lists of STORE and APPEND (RFC 3501 sections 6.4.6, 6.3.11, 9 flag-list): system flags, keywords, and STORE's FLAGS / +FLAGS / -FLAGS [.SILENT]. */
#ifndef OSD_IMAP_FLAGS_H
#define OSD_IMAP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"

/* At most this many keywords in one flag list, of at most this many octets each. */
#define IMAP_FLAGS_KEYWORDS_MAX 64
#define IMAP_FLAGS_KEYWORD_LEN_MAX 255

/* A flag list, parsed.  The keywords point into the arguments (valid while the command runs). */
struct imap_flag_list {
	unsigned flags;                                 /* enum imap_flag bits (imap_mailbox.h) */
	const char *keywords[IMAP_FLAGS_KEYWORDS_MAX];  /* each once (compared without case) */
	size_t n_keywords;
};

/*
 * The flags in args[0..n): one list "(\Seen kw)" (n == 1), or, for
 * STORE, flags without parentheses ("\Seen \Deleted").  System flags
 * without case; \Recent cannot be set and \* is not a flag (RFC 3501
 * section 2.3.2), an unknown system flag, a keyword that is not an atom
 * (a quoted string, an atom-special inside), too many or too long: -1
 * with *error_r, for BAD (as Dovecot answers).
 */
int imap_flags_parse(const struct imap_arg *args, size_t n, struct imap_flag_list *fl_r,
		     const char **error_r);

/* Is name a valid flag-keyword: an atom (no atom-specials, RFC 3501 section 9), not starting with '\'? */
bool imap_flags_keyword_ok(const char *name, size_t len);

/* What STORE does with the flags. */
enum imap_store_op {
	IMAP_STORE_REPLACE,     /* FLAGS */
	IMAP_STORE_ADD,         /* +FLAGS */
	IMAP_STORE_REMOVE       /* -FLAGS */
};

/* STORE's data item name "FLAGS", "+FLAGS.SILENT" (any case). -1 with *error_r for BAD. */
int imap_flags_parse_store_op(const struct imap_arg *arg, enum imap_store_op *op_r, bool *silent_r,
			      const char **error_r);

/* The flags and keyword bits after op with flags / keywords on cur_flags / cur_keywords. */
void imap_flags_apply(enum imap_store_op op, unsigned cur_flags, uint32_t cur_keywords,
		      unsigned flags, uint32_t keywords, unsigned *flags_r, uint32_t *keywords_r);

#endif
