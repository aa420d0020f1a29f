/* pop3_session_reply.c - what every part of the POP3 session answers with: reply lines, the error text, bad commands, the plaintext rule. */
#include <stdarg.h>
#include <stdio.h>

#include "pop3_session_int.h"

/*
 * A file of its own so that the dispatcher (pop3_session.c) and the
 * commands it calls (pop3_session_auth.c, pop3_session_mail.c) both use it
 * and none calls back into another: no two files depend on each other.
 */

void
pop3_reply(struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
}

void
pop3_set_error(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

bool
pop3_plaintext_ok(const struct session *s)
{
	return s->cfg.tls_active || s->cfg.client_loopback || s->cfg.plaintext_allowed;
}

unsigned
pop3_bad(struct session *s, struct buf *out, const char *why)
{
	pop3_reply(out, "-ERR %s", why);
	if (++s->bad_commands >= s->cfg.max_bad_commands) {
		pop3_reply(out, "-ERR Too many bad commands, closing connection.");
		pop3_set_error(s, "too many bad commands");
		s->state = ST_CLOSED;
		return SESSION_ACT_CLOSE;
	}
	return 0;
}
