/* imap_search.h - SEARCH (RFC 3501 section 6.4.4, with RFC 4731 ESEARCH return options aside): the keys parsed into a program once, then matched against each message. */
#ifndef OSD_IMAP_SEARCH_H
#define OSD_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
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

/* RFC 4731 ESEARCH: the options of "SEARCH RETURN (...)", which comes before CHARSET. */
#define IMAP_SEARCH_RETURN_MIN   0x1u
#define IMAP_SEARCH_RETURN_MAX   0x2u
#define IMAP_SEARCH_RETURN_ALL   0x4u
#define IMAP_SEARCH_RETURN_COUNT 0x8u

/* The RETURN options given ("RETURN ()" is ALL); 0 without RETURN: the plain "* SEARCH" answer. */
unsigned imap_search_return(const struct imap_search *s);

/*
 * Append the untagged answer for the matches v[0..n) (sequence numbers,
 * or UIDs for UID SEARCH, ascending): "* SEARCH 2 5\r\n", or with
 * RETURN "* ESEARCH (TAG "a1") UID MIN 2 MAX 5 COUNT 2 ALL 2,5\r\n"
 * (RFC 4731 section 3.1: MIN, MAX, ALL left out when nothing matched).
 */
void imap_search_reply(const struct imap_search *s, const char *tag, bool uid, const uint32_t *v,
		       size_t n, struct buf *out);

/* Whether the keys have MODSEQ (RFC 7162 section 3.1.5): a CONDSTORE enabling command. */
bool imap_search_uses_modseq(const struct imap_search *s);

/*
 * imap_search_reply with the matches' modseqs ms[0..n) (NULL: none):
 * after a MODSEQ key the answer ends with the highest of those returned,
 * "* SEARCH 2 5 (MODSEQ 917)" or "* ESEARCH ... MODSEQ 917" (RFC 7162
 * section 3.1.5).
 */
void imap_search_reply_modseq(const struct imap_search *s, const char *tag, bool uid, const uint32_t *v,
			      const uint64_t *ms, size_t n, struct buf *out);

#endif
