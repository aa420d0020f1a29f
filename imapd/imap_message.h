/* imap_message.h - one message as IMAP shows it: CRLF octets, ENVELOPE, BODY and BODYSTRUCTURE, BODY[section]<partial>, header and text search; the MIME structure from GMime.  No I/O beyond the bytes it is given. */
#ifndef OSD_IMAP_MESSAGE_H
#define OSD_IMAP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

struct imap_message;

/*
 * Call once per process before any other function here (g_mime_init);
 * imap_message_shutdown at the end, so that valgrind sees no leak.
 */
void imap_message_init(void);
void imap_message_shutdown(void);

/*
 * A message from the octets of its Maildir file (LF or CRLF line ends,
 * mixed too).  It keeps its own copy in CRLF form, which is what every
 * octet count and BODY[] of IMAP refers to (RFC 3501 section 2.3.4:
 * RFC822.SIZE is the size in RFC 5322 form).  NULL only when out of
 * memory; a message that is not well-formed MIME is still a message
 * (GMime is lenient; a broken part becomes text/plain).
 */
struct imap_message *imap_message_new(const char *data, size_t len);
void imap_message_free(struct imap_message *m);

/* The CRLF form: RFC822.SIZE is its length; BODY[] / RFC822 its octets. */
const char *imap_message_data(const struct imap_message *m, size_t *len_r);

/*
 * The size of the CRLF form of data without building it (a bare LF
 * counts 2, CRLF 2): for RFC822.SIZE when nothing else is fetched.
 */
uint64_t imap_message_crlf_size(const char *data, size_t len);

/*
 * Append the ENVELOPE (RFC 3501 section 7.4.2) list "(date subject from
 * sender reply-to to cc bcc in-reply-to message-id)", each string quoted
 * or as a literal when it must be (CR, LF, 8-bit, '"' or '\\' beyond
 * what quoting allows), NIL for what is missing; sender and reply-to
 * default to from.  Header values are the raw (still encoded-word)
 * text, unfolded, as IMAP servers send them.
 */
void imap_message_envelope(struct imap_message *m, struct buf *out);

/*
 * Append BODYSTRUCTURE (extended: true; MD5, disposition, language,
 * location) or BODY (extended: false), RFC 3501 section 7.4.2, including
 * message/rfc822 parts with their envelope, body and lines, and text
 * parts (type "text") with their line count.
 */
void imap_message_bodystructure(struct imap_message *m, bool extended, struct buf *out);

/*
 * The octets of BODY[section] (RFC 3501 section 6.4.5), section being
 * what stands between the brackets, e.g. "", "HEADER", "TEXT",
 * "1.2", "1.2.MIME", "2.HEADER.FIELDS (FROM TO)", "HEADER.FIELDS.NOT
 * (X-A)".  Appended to out; a part that does not exist gives no octets
 * (a FETCH then answers "" as servers do).  -1 with *error_r (for the
 * BAD reply) when section is not valid syntax.  HEADER.FIELDS keeps the
 * matching fields in message order (names compared without case) and
 * the blank line after them.
 */
int imap_message_section(struct imap_message *m, const char *section, struct buf *out,
			 const char **error_r);

/* Text search of SEARCH: true when needle occurs (case-insensitive, after decoding MIME encoded words and transfer encodings to UTF-8). */
/* In field (HEADER field string; FROM/TO/CC/BCC/SUBJECT); "" as needle: the field exists. */
bool imap_message_header_has(struct imap_message *m, const char *field, const char *needle);
/*
 * FROM/TO/CC/BCC: in the address list of field as parsed and written back
 * ("name <mailbox@host>", groups as "group: ...;"), so that comments and
 * folding inside an address do not hide it (as Dovecot searches); "" as
 * needle: the field exists.
 */
bool imap_message_address_has(struct imap_message *m, const char *field, const char *needle);
/* In the body (BODY key: text parts decoded), or, with with_headers, header or body (TEXT key). */
bool imap_message_text_has(struct imap_message *m, const char *needle, bool with_headers);

/* The Date: header as a time (for SENTBEFORE/SENTON/SENTSINCE); false when missing or unreadable. */
bool imap_message_sent_date(struct imap_message *m, time_t *when_r, int *tz_offset_minutes_r);

#endif
