/* dotstuff.h - a message into its multi-line wire form: LF to CRLF, dot-stuffing, the ".CRLF" terminator (SMTP DATA, POP3 RETR/TOP). */
#ifndef OSD_DOTSTUFF_H
#define OSD_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The one transform from a stored message (LF or CRLF line endings, no
 * stuffing) to what follows SMTP's 354 (RFC 5321 4.5.2) or POP3's +OK
 * (RFC 1939 section 3), fed in pieces of any size:
 *
 *   - LF not preceded by CR becomes CRLF; CRLF and a CR not followed by LF
 *     are passed as they are;
 *   - a line starting with '.' is sent with one more '.';
 *   - at the end, a last line without LF gets CRLF (just LF after a CR),
 *     then the ".\r\n" terminator.
 *
 * The same calls both count (out NULL) and convert, so that a size
 * announced before sending (SMTP SIZE=, POP3 LIST) and the octets sent
 * cannot disagree.  size is what RFC 1870 and RFC 1939 section 11 call the
 * message's size: CRLF counted as two octets, the stuffing dots and the
 * terminator not.
 */
struct dotstuff {
	uint64_t size;          /* octets produced so far, without stuffing dots and terminator */
	unsigned line_len;      /* octets of the current line so far, saturating at 2 */
	bool bol;               /* the next octet opens a line */
	bool cr;                /* the last octet was CR */
	bool empty;             /* the last line ended was empty (LF or CRLF alone) */
};

/* A stuffer before the first octet of a message. */
void dotstuff_init(struct dotstuff *s);

/*
 * Convert in[0..len) up to and including its first LF (all of it if it
 * holds none), appending to out (NULL: only count); *used_r is how many
 * octets were taken.  1 when a line ended (empty then says whether it was
 * empty), 0 when in ran out inside a line, -1 when out cannot grow (errno
 * EMSGSIZE).  For a reader that stops after some lines (POP3 TOP).
 */
int dotstuff_line(struct dotstuff *s, const char *in, size_t len, struct buf *out, size_t *used_r);

/* Convert all len octets of in, appending to out (NULL: only count).  0, or -1 as above. */
int dotstuff_feed(struct dotstuff *s, const char *in, size_t len, struct buf *out);

/*
 * The end: CRLF (or LF after a CR) for a last line without LF, then the
 * terminator ".\r\n" (out NULL: only count the line ending).  0 or -1.
 */
int dotstuff_end(struct dotstuff *s, struct buf *out);

#endif
