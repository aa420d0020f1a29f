/* dotstuff.c - a message into its multi-line wire form: LF to CRLF, dot-stuffing, the ".CRLF" terminator (SMTP DATA, POP3 RETR/TOP). */
#include "dotstuff.h"

#include <string.h>

void
dotstuff_init(struct dotstuff *s)
{
	memset(s, 0, sizeof(*s));
	s->bol = true;
}

/* Append unless only counting. */
static int
put(struct buf *out, const void *data, size_t len)
{
	return out == NULL || len == 0 ? 0 : buf_append(out, data, len);
}

/* Close the current line: CRLF, or only LF when it already ends in CR. */
static int
end_line(struct dotstuff *s, struct buf *out)
{
	size_t n = s->cr ? 1 : 2;

	if (put(out, s->cr ? "\n" : "\r\n", n) == -1)
		return -1;
	s->size += n;
	s->empty = s->line_len == 0 || (s->line_len == 1 && s->cr);
	s->line_len = 0;
	s->bol = true;
	s->cr = false;
	return 0;
}

int
dotstuff_line(struct dotstuff *s, const char *in, size_t len, struct buf *out, size_t *used_r)
{
	/* Works on runs between LFs: a line of any length costs a memchr and a copy. */
	const char *lf = memchr(in, '\n', len);
	size_t run = lf != NULL ? (size_t)(lf - in) : len;

	*used_r = 0;
	/* RFC 5321 4.5.2, RFC 1939 section 3: a line that starts with '.' gets one more. */
	if (s->bol && run > 0 && in[0] == '.' && put(out, ".", 1) == -1)
		return -1;
	if (put(out, in, run) == -1)
		return -1;
	if (run > 0) {
		s->bol = false;
		s->cr = in[run - 1] == '\r';
		s->line_len = run >= 2 ? 2 : s->line_len + (unsigned)run;
		if (s->line_len > 2)
			s->line_len = 2;
		s->size += run;
	}
	if (lf == NULL) {
		*used_r = run;
		return 0;
	}
	if (end_line(s, out) == -1)
		return -1;
	*used_r = run + 1;
	return 1;
}

int
dotstuff_feed(struct dotstuff *s, const char *in, size_t len, struct buf *out)
{
	while (len > 0) {
		size_t used;

		if (dotstuff_line(s, in, len, out, &used) == -1)
			return -1;
		in += used;
		len -= used;
	}
	return 0;
}

int
dotstuff_end(struct dotstuff *s, struct buf *out)
{
	/* A last line without LF still ends in CRLF: the terminator must open a line. */
	if (!s->bol && end_line(s, out) == -1)
		return -1;
	return put(out, ".\r\n", 3);
}
