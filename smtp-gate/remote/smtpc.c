/* smtpc.c - the client side of SMTP without sockets: reply parsing (RFC 5321 4.2), EHLO keywords. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ascii.h"
#include "decimal.h"
#include "smtpc.h"

void
smtp_reply_parser_init(struct smtpc_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "D.DDD.DDD" (RFC 3463 2) at the start of text, its class matching the reply's; its length or 0. */
static size_t
enhanced_len(const char *text, size_t len, int code)
{
	size_t i = 2, n;

	if (len < 5 || text[0] != (char)('0' + code / 100) || text[1] != '.')
		return 0;
	/* subject "." detail, each 1 to 3 digits */
	for (int field = 0; field < 2; field++) {
		for (n = 0; i < len && is_digit(text[i]); n++)
			i++;
		if (n == 0 || n > 3)
			return 0;
		if (field == 0) {
			if (i >= len || text[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len || text[i] == ' ' ? i : 0;
}

/* Add one line's text to the reply, control characters made harmless, cut when the room runs out. */
static void
add_text(struct smtpc_reply *r, const char *text, size_t len)
{
	size_t room;

	if (r->nlines > 1) {
		if (r->len + 1 >= sizeof(r->text)) {
			r->cut = true;
			return;
		}
		r->text[r->len++] = '\n';
	}
	room = sizeof(r->text) - 1 - r->len;
	if (len > room) {
		len = room;
		r->cut = true;
	}
	r->len += ascii_sanitize(r->text + r->len, len + 1, text, len, ASCII_KEEP_8BIT, '?');
}

/* One whole line (without its LF): 1 the last line of the reply, 0 more lines follow, -1 garbage. */
static int
end_line(struct smtpc_reply_parser *p)
{
	struct smtpc_reply *r = &p->cur;
	const char *l = p->line;
	size_t len = p->line_len;
	int code;
	char sep;

	if (!p->line_cut && len > 0 && l[len - 1] == '\r')
		len--;
	if (len < 3 || l[0] < '2' || l[0] > '5' || !is_digit(l[1]) || !is_digit(l[2]))
		return -1;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	/* RFC 5321 4.2: "NNN" alone is a valid last line. */
	sep = len > 3 ? l[3] : ' ';
	if (sep != ' ' && sep != '-')
		return -1;
	if (r->nlines > 0 && code != r->code)
		return -1;
	if (++r->nlines > SMTPC_LINES_LIMIT)
		return -1;
	r->code = code;
	if (p->line_cut)
		r->cut = true;
	if (len > 4) {
		if (r->nlines == 1) {
			size_t e = enhanced_len(l + 4, len - 4, code);

			if (e > 0 && e < sizeof(r->enhanced)) {
				memcpy(r->enhanced, l + 4, e);
				r->enhanced[e] = '\0';
			}
		}
		add_text(r, l + 4, len - 4);
	} else {
		add_text(r, "", 0);
	}
	return sep == ' ' ? 1 : 0;
}

int
smtp_reply_parse(struct smtpc_reply_parser *p, const char *data, size_t len, size_t *used_r,
		 struct smtpc_reply *reply_r)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t seg = nl != NULL ? (size_t)(nl - (data + pos)) : len - pos;
		int r;

		if (!p->skipping) {
			size_t room = SMTPC_LINE_MAX - p->line_len, n = seg < room ? seg : room;

			memcpy(p->line + p->line_len, data + pos, n);
			p->line_len += n;
			if (n < seg) {
				/* Keep the start (the code is all that matters), drop the rest. */
				p->skipping = true;
				p->line_cut = true;
			}
		}
		pos += seg;
		if (nl == NULL)
			break;
		pos++;
		r = end_line(p);
		p->line_len = 0;
		p->skipping = false;
		p->line_cut = false;
		if (r == -1) {
			*used_r = pos;
			return -1;
		}
		if (r == 1) {
			*reply_r = p->cur;
			memset(&p->cur, 0, sizeof(p->cur));
			*used_r = pos;
			return 1;
		}
	}
	*used_r = pos;
	return 0;
}

const char *
smtp_reply_format(const struct smtpc_reply *r, char *out, size_t size)
{
	size_t o;
	int n;

	n = snprintf(out, size, "%03d%s", r->code, r->len > 0 ? " " : "");
	o = n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
	for (size_t i = 0; i < r->len && o + 1 < size; i++) {
		if (r->text[i] != '\n') {
			out[o++] = r->text[i];
			continue;
		}
		if (o + 3 >= size)
			break;
		memcpy(out + o, " / ", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* The line of text starting at *pos (up to '\n' or the end); advances *pos past it. */
static const char *
next_line(const struct smtpc_reply *r, size_t *pos, size_t *len_r)
{
	const char *s = r->text + *pos, *nl;

	if (*pos >= r->len)
		return NULL;
	nl = memchr(s, '\n', r->len - *pos);
	*len_r = nl != NULL ? (size_t)(nl - s) : r->len - *pos;
	*pos += *len_r + 1;
	return s;
}

/* Does the line's first word equal kw (case-insensitive)?  *arg_r: what follows the space. */
static bool
keyword(const char *line, size_t len, const char *kw, const char **arg_r, size_t *arg_len_r)
{
	size_t k = strlen(kw);

	if (len < k || strncasecmp(line, kw, k) != 0 || (len > k && line[k] != ' '))
		return false;
	*arg_r = len > k ? line + k + 1 : line + len;
	*arg_len_r = len > k ? len - k - 1 : 0;
	return true;
}

void
smtp_ehlo_parse(const struct smtpc_reply *r, struct smtp_ehlo *e)
{
	size_t pos = 0, len, arg_len;
	const char *line, *arg;

	memset(e, 0, sizeof(*e));
	if (r->code / 100 != 2)
		return;
	/* The first line is the server's name and greeting, not a keyword. */
	(void)next_line(r, &pos, &len);
	while ((line = next_line(r, &pos, &len)) != NULL) {
		if (keyword(line, len, "STARTTLS", &arg, &arg_len))
			e->starttls = true;
		else if (keyword(line, len, "PIPELINING", &arg, &arg_len))
			e->pipelining = true;
		else if (keyword(line, len, "8BITMIME", &arg, &arg_len))
			e->eightbitmime = true;
		else if (keyword(line, len, "SIZE", &arg, &arg_len)) {
			uint64_t v;

			e->size = true;
			/* A malformed or huge limit is no limit we can use; no argument is none. */
			e->size_max = decimal_parse(arg, arg_len, UINT64_MAX, &v) == 0 ? v : 0;
		}
	}
}
