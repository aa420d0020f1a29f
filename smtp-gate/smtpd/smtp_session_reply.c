/* smtp_session_reply.c - what every part of the SMTP session answers with: reply lines and the count of error replies. */
#include <stdarg.h>

#include "smtp_session_int.h"

/*
 * A file of its own so that the state machine (smtp_session.c) and the
 * AUTH exchanges it calls (smtp_session_auth.c) both use it and neither
 * calls back into the other: no two files depend on each other.
 */

void
smtp_reply(struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
}

unsigned
smtp_session_count_error(struct smtp_session *s, struct buf *out)
{
	if (++s->errors < s->cfg.max_errors)
		return 0;
	smtp_reply(out, "421 4.7.0 %s Error: too many errors, closing the connection",
		   s->cfg.hostname);
	s->closing = true;
	return SMTP_ACT_CLOSE;
}
