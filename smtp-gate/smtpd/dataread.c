/* dataread.c - the DATA reader: end of data, dot-unstuffing, CRLF to LF, and the checks against SMTP smuggling. */
#include "dataread.h"

#include <errno.h>
#include <string.h>

/*
 * Where the reader stands.  Only a CR followed by LF moves to LINE_START,
 * so the terminator can only be recognised after a real CRLF: a bare LF
 * or CR never opens a line that ".<CRLF>" could end (the SMTP smuggling
 * attacks of 2023 rely on servers that think otherwise).
 */
enum {
	LINE_START = 0,         /* after CRLF, or the 354: the initial state */
	LINE_DOT,               /* a '.' opened the line: stuffing, or the terminator */
	LINE_DOT_CR,            /* ".\r" at line start: LF now ends the data */
	LINE_TEXT,              /* inside a line */
	LINE_CR                 /* a CR inside a line, its LF still to come */
};

/* The longest line without its CRLF (RFC 5321 4.5.3.1.6). */
#define TEXT_MAX (SMTP_TEXT_LINE_MAX - 2)

void
smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->max_size = max_size;
	d->state = LINE_START;
}

/* Octets that still fit under max_size (size never exceeds it while there is no error). */
static uint64_t
size_room(const struct smtp_data *d)
{
	return d->max_size == 0 ? UINT64_MAX : d->max_size - d->size;
}

static void
set_error(struct smtp_data *d, enum smtp_data_error e)
{
	if (d->error == SMTP_DATA_OK)
		d->error = e;
}

/*
 * n octets of line content (a stuffing dot counts: limits apply to the
 * line as sent).  Appends the part before the octet that breaks a limit
 * when emit is set, so the output at an error does not depend on how the
 * input was split.  0, or -1 when out cannot grow.
 */
static int
take_text(struct smtp_data *d, const char *p, size_t n, bool emit, struct buf *out)
{
	size_t k = n;
	enum smtp_data_error e = SMTP_DATA_OK;

	if (d->error == SMTP_DATA_OK) {
		const char *nul = memchr(p, '\0', k);

		/*
		 * RFC 5322 3.5 and RFC 2045 2.7/2.8: NUL is in neither 7bit nor
		 * 8bit text, and osd offers no BINARYMIME; a NUL is where
		 * C-string code further down the line may cut a line short.
		 */
		if (nul != NULL) {
			k = (size_t)(nul - p);
			e = SMTP_DATA_NUL;
		}
		if (TEXT_MAX - d->line_len < k) {
			k = TEXT_MAX - d->line_len;
			e = SMTP_DATA_LINE_TOO_LONG;
		}
		if (size_room(d) < k) {
			k = (size_t)size_room(d);
			e = SMTP_DATA_TOO_BIG;
		}
		if (emit && k > 0 && buf_append(out, p, k) < 0)
			return -1;
		set_error(d, e);
	}
	d->size += n;
	d->line_len += n;
	return 0;
}

/* One CR or LF of a line ending: counted in size, never in line_len. */
static void
take_eol_octet(struct smtp_data *d)
{
	if (d->error == SMTP_DATA_OK && size_room(d) < 1)
		d->error = SMTP_DATA_TOO_BIG;
	d->size++;
}

/* The first CR or LF in [p, end), or end. */
static const char *
find_eol(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *cr = memchr(p, '\r', (size_t)((lf != NULL ? lf : end) - p));

	return cr != NULL ? cr : lf != NULL ? lf : end;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out)
{
	const char *p = in, *end = in + len;

	while (p < end && !d->done) {
		switch (d->state) {
		case LINE_START:
			if (*p == '.') {
				d->state = LINE_DOT;
				p++;
			} else {
				d->state = LINE_TEXT;
			}
			break;
		case LINE_DOT:
			if (*p == '\r') {
				d->state = LINE_DOT_CR;
				p++;
				break;
			}
			/* RFC 5321 4.5.2: a leading dot with more on its line is dropped. */
			if (take_text(d, ".", 1, false, out) < 0)
				return (size_t)-1;
			d->state = LINE_TEXT;
			break;
		case LINE_DOT_CR:
			if (*p == '\n') {
				d->done = true;
				p++;
				break;
			}
			/* ".\r" then something else: a stuffed dot and a CR that turns out bare. */
			if (take_text(d, ".", 1, false, out) < 0)
				return (size_t)-1;
			take_eol_octet(d);
			d->state = LINE_CR;
			break;
		case LINE_CR:
			if (*p != '\n') {
				set_error(d, SMTP_DATA_BARE_CR);
				d->state = LINE_TEXT;
				break;
			}
			take_eol_octet(d);
			if (d->error == SMTP_DATA_OK && buf_append_char(out, '\n') < 0)
				return (size_t)-1;
			d->line_len = 0;
			d->state = LINE_START;
			p++;
			break;
		case LINE_TEXT: {
			const char *q = find_eol(p, end);
			size_t n = (size_t)(q - p);

			/*
			 * The common case, a whole line and its CRLF within the limits:
			 * one append of the text and its CR, the CR then turned into LF.
			 */
			if (d->error == SMTP_DATA_OK && q + 1 < end && q[0] == '\r' && q[1] == '\n' &&
			    n <= TEXT_MAX - d->line_len && size_room(d) >= (uint64_t)n + 2 &&
			    memchr(p, '\0', n) == NULL) {
				if (buf_append(out, p, n + 1) < 0)
					return (size_t)-1;
				out->data[out->len - 1] = '\n';
				d->size += n + 2;
				d->line_len = 0;
				d->state = LINE_START;
				p = q + 2;
				break;
			}
			if (take_text(d, p, n, true, out) < 0)
				return (size_t)-1;
			p = q;
			if (p == end)
				break;
			if (*p == '\r') {
				take_eol_octet(d);
				d->state = LINE_CR;
			} else {
				/* A bare LF ends nothing: the line goes on, so ".\r\n" after it is text. */
				set_error(d, SMTP_DATA_BARE_LF);
				d->size++;
			}
			p++;
			break;
		}
		default:
			errno = EINVAL;
			return (size_t)-1;
		}
	}
	return (size_t)(p - in);
}

const char *
smtp_data_error_reply(enum smtp_data_error e)
{
	switch (e) {
	case SMTP_DATA_OK:
		return NULL;
	case SMTP_DATA_BARE_LF:
		return "550 5.6.11 Message refused: it contains a bare LF (line feed without CR);"
		       " lines must end in CRLF (RFC 5321 section 2.3.8)\r\n";
	case SMTP_DATA_BARE_CR:
		return "550 5.6.11 Message refused: it contains a bare CR (carriage return without LF);"
		       " lines must end in CRLF (RFC 5321 section 2.3.8)\r\n";
	case SMTP_DATA_NUL:
		return "550 5.6.0 Message refused: it contains a NUL octet, which is not text"
		       " (RFC 5322 section 3.5)\r\n";
	case SMTP_DATA_LINE_TOO_LONG:
		return "550 5.6.0 Message refused: a line is longer than 1000 octets"
		       " (RFC 5321 section 4.5.3.1.6)\r\n";
	case SMTP_DATA_TOO_BIG:
		return "552 5.3.4 Message refused: it is larger than this server accepts\r\n";
	}
	return NULL;
}
