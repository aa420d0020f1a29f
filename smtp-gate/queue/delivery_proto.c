/* delivery_proto.c - the queue manager <-> delivery programs protocol: writing and reading request lines and verdicts (docs/delivery.md). */
#include "delivery_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "decimal.h"

/* A request's BODY_OFFSET has at most this many digits (no sign). */
#define OFFSET_DIGITS_MAX 18
#define OFFSET_MAX INT64_C(999999999999999999)

/* A field of a request: at most max octets (0: no bound), no control character (TAB, LF, NUL). */
static bool
field_ok(const char *s, size_t max, bool may_be_empty)
{
	size_t n;

	if (s == NULL || (s[0] == '\0' && !may_be_empty))
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (ascii_is_ctl((unsigned char)s[n]))
			return false;
	return max == 0 || n <= max;
}

int
delivery_request_encode(const struct delivery_request *req, struct buf *out)
{
	size_t i, start = out->len;
	int r = 0;

	if (!field_ok(req->path, 0, false) || req->offset < 0 || req->offset > OFFSET_MAX ||
	    !field_ok(req->domain, DELIVERY_DOMAIN_MAX, false) ||
	    !field_ok(req->sender, DELIVERY_ADDR_MAX, true) || req->nrcpts == 0 ||
	    req->nrcpts > DELIVERY_RCPTS_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < req->nrcpts; i++) {
		if (!field_ok(req->rcpts[i], DELIVERY_ADDR_MAX, false)) {
			errno = EINVAL;
			return -1;
		}
	}
	if (buf_printf(out, "%s\t%" PRId64 "\t%s\t%s", req->path, req->offset, req->domain,
		       req->sender) == -1)
		r = -1;
	for (i = 0; r == 0 && i < req->nrcpts; i++)
		if (buf_append_char(out, '\t') == -1 || buf_append_str(out, req->rcpts[i]) == -1)
			r = -1;
	if (r == 0 && buf_append_char(out, '\n') == -1)
		r = -1;
	if (r == 0 && out->len - start > DELIVERY_REQUEST_MAX) {
		errno = EINVAL;         /* the worker could not tell where its recipients end */
		r = -1;
	}
	if (r == -1 && out->data != NULL) {
		out->len = start;
		out->data[start] = '\0';
	}
	return r;
}

/* A decimal offset: 1 to 18 digits (no sign, no spaces), so that it fits an int64_t. */
static int
parse_offset(const char *s, int64_t *out)
{
	size_t len = strlen(s);
	uint64_t v;

	if (len > OFFSET_DIGITS_MAX || decimal_parse(s, len, (uint64_t)OFFSET_MAX, &v) == -1)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
delivery_request_parse(char *line, size_t len, struct delivery_request *req, size_t *count_r)
{
	char *field[4];
	size_t nfields = 1, nrcpts;
	bool bad = false;
	char *p;

	memset(req, 0, sizeof(*req));
	*count_r = 0;
	/* First count, so that even a bad line tells how many recipients it names. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\t')
			nfields++;
		else if (ascii_is_ctl(c))
			bad = true;     /* a NUL too: it would cut a field short */
	}
	if (nfields < 5)
		return -1;
	nrcpts = nfields - 4;
	*count_r = nrcpts;
	if (bad || nrcpts > DELIVERY_RCPTS_MAX)
		return -1;
	p = line;
	for (size_t i = 0; i < nfields; i++) {
		char *tab = strchr(p, '\t');
		size_t flen;

		if (tab != NULL)
			*tab = '\0';
		flen = strlen(p);
		if (i < 4)
			field[i] = p;
		else if (flen == 0 || flen > DELIVERY_ADDR_MAX)
			return -1;
		else
			req->rcpts[i - 4] = p;
		p = tab != NULL ? tab + 1 : p + flen;
	}
	if (field[0][0] == '\0' || parse_offset(field[1], &req->offset) == -1 ||
	    field[2][0] == '\0' || strlen(field[2]) > DELIVERY_DOMAIN_MAX ||
	    strlen(field[3]) > DELIVERY_ADDR_MAX)
		return -1;
	req->path = field[0];
	req->domain = field[2];
	req->sender = field[3];
	req->nrcpts = nrcpts;
	return 0;
}

void
delivery_text_set(char *dst, const char *text)
{
	(void)ascii_sanitize(dst, DELIVERY_TEXT_MAX + 1, text, strnlen(text, DELIVERY_TEXT_MAX),
			     ASCII_KEEP_8BIT, '?');
}

int
delivery_verdict_encode(struct buf *out, char letter, const char *text)
{
	char line[DELIVERY_TEXT_MAX + 3];
	size_t n;

	line[0] = letter;
	delivery_text_set(line + 1, text);
	n = 1 + strlen(line + 1);
	line[n++] = '\n';
	return buf_append(out, line, n);
}

bool
delivery_verdict_complete(const char *out, size_t len, size_t nrcpts)
{
	size_t i, n = 0;

	/* r/h/s per recipient, then K/Z/D. */
	for (i = 0; i < len; i++)
		n += out[i] == '\n';
	return n >= nrcpts + 1;
}

enum delivery_outcome
delivery_local_outcome(int exit_status)
{
	if (exit_status == DELIVERY_EXIT_DONE)
		return DELIVERY_DONE;
	if (exit_status == DELIVERY_EXIT_FAIL)
		return DELIVERY_FAIL;
	return DELIVERY_DEFER;
}

static const char no_verdict[] = "osd-remote gave no complete verdict (crashed or killed?)";

/* A recipient letter's outcome, or -1 for another octet. */
static int
rcpt_outcome(char c)
{
	switch (c) {
	case DELIVERY_RCPT_OK: return DELIVERY_DONE;
	case DELIVERY_RCPT_HARD: return DELIVERY_FAIL;
	case DELIVERY_RCPT_SOFT: return DELIVERY_DEFER;
	default: return -1;
	}
}

static bool
is_msg_letter(char c)
{
	return c == DELIVERY_MSG_OK || c == DELIVERY_MSG_SOFT || c == DELIVERY_MSG_HARD;
}

int
delivery_verdict_parse(const char *out, size_t len, size_t nrcpts, enum delivery_outcome *v_r,
		       const char **reason_r, char **text_r)
{
	char *text = malloc(len + 1), *p, *msg_reason = NULL;
	char msg = 0;
	size_t i, n = 0;
	bool ok = true;

	*text_r = text;
	if (text == NULL)
		return -1;
	memcpy(text, out, len);
	text[len] = '\0';
	/* A NUL inside would cut a line short: treat what follows as missing. */
	len = strlen(text);
	p = text;
	for (i = 0; i < nrcpts; i++) {
		v_r[i] = DELIVERY_DEFER;
		reason_r[i] = no_verdict;
	}
	while (ok && *p != '\0') {
		char *nl = strchr(p, '\n'), c = *p;

		if (nl == NULL) {
			ok = false;     /* the last line lacks its end: the program died writing */
			break;
		}
		*nl = '\0';
		/* The text as the writer bounds it (delivery_text_set): more from a broken program is cut. */
		(void)ascii_sanitize(p + 1, DELIVERY_TEXT_MAX + 1, p + 1, strnlen(p + 1, DELIVERY_TEXT_MAX),
				     ASCII_KEEP_8BIT, '?');
		if (msg != 0) {
			ok = false;     /* nothing may follow the message line */
		} else if (rcpt_outcome(c) != -1 && n < nrcpts) {
			v_r[n] = (enum delivery_outcome)rcpt_outcome(c);
			reason_r[n++] = p + 1;
		} else if (is_msg_letter(c) && n == nrcpts) {
			msg = c;
			msg_reason = p + 1;
		} else {
			ok = false;
		}
		p = nl + 1;
	}
	if (!ok || msg == 0) {
		for (i = 0; i < nrcpts; i++) {
			v_r[i] = DELIVERY_DEFER;
			reason_r[i] = no_verdict;
		}
		return 0;
	}
	/* An accepted recipient shares the fate of the message. */
	for (i = 0; i < nrcpts; i++) {
		if (v_r[i] != DELIVERY_DONE || msg == DELIVERY_MSG_OK)
			continue;
		v_r[i] = msg == DELIVERY_MSG_HARD ? DELIVERY_FAIL : DELIVERY_DEFER;
		reason_r[i] = msg_reason;
	}
	return 0;
}
