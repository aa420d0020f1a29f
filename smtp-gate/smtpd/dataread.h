/* dataread.h - the DATA body as it arrives: end-of-data, dot-unstuffing, and the checks that stop SMTP smuggling. */
#ifndef OSD_SMTP_DATAREAD_H
#define OSD_SMTP_DATAREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 5321 section 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define SMTP_TEXT_LINE_MAX 1000

/* The first thing wrong with a message; it is still read to its end, then refused. */
enum smtp_data_error {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_LF,              /* LF not preceded by CR: 550 5.6.11 (smuggling guard) */
	SMTP_DATA_BARE_CR,              /* CR not followed by LF: 550 5.6.11 */
	SMTP_DATA_NUL,                  /* a NUL octet: 550 5.6.0 (neither 7bit nor 8bit text) */
	SMTP_DATA_LINE_TOO_LONG,        /* a line over SMTP_TEXT_LINE_MAX: 550 5.6.0 */
	SMTP_DATA_TOO_BIG               /* more than max_size octets: 552 5.3.4 */
};

struct smtp_data {
	uint64_t max_size;              /* 0: no limit */
	uint64_t size;                  /* octets received, as sent (CRLF counted as 2, stuffing dots included) */
	size_t line_len;                /* octets of the current line so far, CRLF excluded */
	enum smtp_data_error error;
	int state;                      /* private: where in a line the parser stands */
	bool done;                      /* the terminating <CRLF>.<CRLF> was seen */
};

void smtp_data_init(struct smtp_data *d, uint64_t max_size);

/*
 * Feed len octets of what the client sent after the 354.  The message
 * goes into out with LF line endings and leading dots unstuffed (the
 * queue's form); once an error is found nothing more is appended (out
 * stays as it was at the first error, and the caller discards it) but the
 * input is still consumed until the end of data.  Returns how many octets
 * were consumed: all of them, or fewer when the terminating
 * "<CRLF>.<CRLF>" ends inside in (d->done is then true and what follows
 * belongs to the next command: PIPELINING).  Only "<CRLF>.<CRLF>" ends
 * the data; "<LF>.<LF>" and the like are bare line endings, never an end.
 * The leading CRLF of the terminator is the end of the last line, so a
 * message that does not end in CRLF cannot be sent (RFC 5321 4.1.1.4).
 * Returns (size_t)-1 when out cannot grow (ENOMEM).
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out);

/* The SMTP reply for an error ("550 5.6.11 ..." with CRLF), or NULL for SMTP_DATA_OK. */
const char *smtp_data_error_reply(enum smtp_data_error e);

#endif
