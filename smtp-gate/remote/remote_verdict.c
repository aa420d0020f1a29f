/* remote_verdict.c - osd-remote's verdicts: set per recipient and for the message while delivering, then printed as docs/delivery.md's lines. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "delivery_proto.h"
#include "remote_int.h"

void
rcpt_verdict(struct remote *rm, size_t i, char kind, const char *text)
{
	rm->rcpt_kind[i] = kind;
	delivery_text_set(rm->rcpt_text[i], text);
}

void
msg_verdict(struct remote *rm, char kind, const char *text)
{
	rm->msg_kind = kind;
	delivery_text_set(rm->msg_text, text);
}

void
verdicts_reset(struct remote *rm)
{
	memset(rm->rcpt_kind, 0, sizeof(rm->rcpt_kind));
	rm->msg_kind = 0;
	rm->msg_text[0] = '\0';
}

void
rcpt_verdict_rest(struct remote *rm, char kind, const char *text)
{
	for (size_t i = 0; i < rm->nrcpts; i++)
		if (rm->rcpt_kind[i] == 0)
			rcpt_verdict(rm, i, kind, text);
}

void
remote_fail_all(struct remote *rm, bool perm, const char *text)
{
	rcpt_verdict_rest(rm, perm ? DELIVERY_RCPT_HARD : DELIVERY_RCPT_SOFT, text);
	msg_verdict(rm, perm ? DELIVERY_MSG_HARD : DELIVERY_MSG_SOFT, text);
}

/* Write the lines in out to stdout and flush: 0, or -1 when stdout is gone. */
static int
put_lines(struct buf *out, int r)
{
	if (r == 0 && out->len > 0 && fwrite(out->data, 1, out->len, stdout) != out->len)
		r = -1;
	buf_free(out);
	return fflush(stdout) == 0 && !ferror(stdout) ? r : -1;
}

int
print_verdicts(const struct remote *rm)
{
	struct buf out;
	int r = 0;

	buf_init(&out, 0);
	for (size_t i = 0; r == 0 && i < rm->nrcpts; i++)
		r = delivery_verdict_encode(&out, rm->rcpt_kind[i], rm->rcpt_text[i]);
	if (r == 0)
		r = delivery_verdict_encode(&out, rm->msg_kind, rm->msg_text);
	return put_lines(&out, r);
}

int
print_malformed(size_t count)
{
	static const char why[] = "malformed request line";
	struct buf out;
	int r = 0;

	buf_init(&out, 0);
	/* Temporary: a queue manager bug is fixed and the mail retried, never bounced. */
	for (size_t i = 0; r == 0 && i < count; i++)
		r = delivery_verdict_encode(&out, DELIVERY_RCPT_SOFT, why);
	if (r == 0)
		r = delivery_verdict_encode(&out, DELIVERY_MSG_SOFT, why);
	return put_lines(&out, r);
}
