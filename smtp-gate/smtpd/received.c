/* received.c - the Received: trace header (RFC 5321 section 4.4; "with" keywords of RFC 3848). */
#include "received.h"

#include <string.h>

/* Copy client text into a header comment or atom, replacing what could break it. */
static void
sanitize(const char *in, bool spaces, char *out, size_t size)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];
		bool ok = (c > ' ' || (spaces && c == ' ')) && c < 0x7f && strchr("()\\", c) == NULL;

		out[i] = ok ? (char)c : '?';
	}
	out[i] = '\0';
}

int
smtp_received_header(struct buf *out, const struct smtp_received *r)
{
	char helo[256], tls_info[128], date[64], user[256];
	const char *proto;
	struct tm tm;

	sanitize(r->helo[0] != '\0' ? r->helo : "unknown", false, helo, sizeof(helo));
	if (!r->esmtp)
		proto = "SMTP";
	else if (r->tls)
		proto = r->auth ? "ESMTPSA" : "ESMTPS";
	else
		proto = r->auth ? "ESMTPA" : "ESMTP";
	/* RFC 5322 date-time, C locale names. */
	if (localtime_r(&r->when, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strcpy(date, "Thu, 01 Jan 1970 00:00:00 +0000");
	if (buf_printf(out, "Received: from %s (%s%s])", helo,
		       strchr(r->client_addr, ':') != NULL ? "[IPv6:" : "[", r->client_addr) == -1)
		return -1;
	/* Where Postfix's smtpd_sasl_authenticated_header puts it; off by
	 * default, since it tells every recipient a login name. */
	if (r->auth_user != NULL && r->auth_user[0] != '\0') {
		sanitize(r->auth_user, false, user, sizeof(user));
		if (buf_printf(out, "\n\t(Authenticated sender: %s%s)", user,
			       r->auth_user_pop ? ", POP-before-SMTP" : "") == -1)
			return -1;
	}
	if (buf_printf(out, "\n\tby %s (osd) with %s", r->hostname, proto) == -1)
		return -1;
	if (r->tls && r->tls_info != NULL && r->tls_info[0] != '\0') {
		sanitize(r->tls_info, true, tls_info, sizeof(tls_info));
		if (buf_printf(out, " (%s)", tls_info) == -1)
			return -1;
	}
	if (r->for_rcpt != NULL && buf_printf(out, "\n\tfor <%s>", r->for_rcpt) == -1)
		return -1;
	return buf_printf(out, "; %s\n", date);
}
