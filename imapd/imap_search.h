/* imap_search.h - SEARCH (RFC 3501 section 6.4.4, with RFC 4731 ESEARCH return options aside): the keys parsed into a program once, then matched against each message. */
#ifndef OSD_IMAP_SEARCH_H
#define OSD_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_mailbox.h"
#include "imap_parser.h"

struct imap_search;

/*
 * The arguments after SEARCH (or UID SEARCH): an optional CHARSET
 * (US-ASCII and UTF-8 are known; another is "NO [BADCHARSET (US-ASCII
 * UTF-8)]", said by *code_r "BADCHARSET"), then keys, all of RFC 3501's,
 * with sequence sets evaluated against mb as it is now.  -1 with
 * *error_r (and *code_r or NULL): *is_bad_r true for BAD (syntax), false for NO.
 */
int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_mailbox *mb,
		      struct imap_search **s_r, const char **error_r, const char **code_r,
		      bool *is_bad_r);
void imap_search_free(struct imap_search *s);

/*
 * Whether message seq matches.  The message's text is read and parsed
 * only for keys that need it (HEADER, BODY, TEXT, FROM..., SENT*,
 * LARGER/SMALLER need only the size).  A message gone meanwhile does not match.
 */
bool imap_search_match(struct imap_search *s, struct imap_mailbox *mb, uint32_t seq);

#endif
