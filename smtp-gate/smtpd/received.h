/* received.h - the Received: trace header the gate puts on top of every message (RFC 5321 section 4.4, RFC 3848). */
#ifndef OSD_SMTP_RECEIVED_H
#define OSD_SMTP_RECEIVED_H

#include <stdbool.h>
#include <time.h>

#include "buf.h"

struct smtp_received {
	const char *helo;               /* as the client gave it ("" if none) */
	const char *client_addr;        /* inet_ntop form */
	const char *hostname;           /* ours */
	bool esmtp, tls, auth;          /* the "with" protocol: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA */
	const char *tls_info;           /* protocol and cipher, when tls */
	const char *for_rcpt;           /* the one recipient, or NULL when there are several */
	/* received_auth_user: the user to name, or NULL; by AUTH, else by a POP-before-SMTP login */
	const char *auth_user;
	bool auth_user_pop;             /* auth_user is the POP-before-SMTP login behind the relay right */
	time_t when;
};

/*
 * Append the header, folded, with LF line endings (the queue's form).
 * Client-chosen text (HELO) is made safe: anything but printable ASCII,
 * and the comment delimiters "()\", becomes '?'.  0, or -1 (out is full).
 */
int smtp_received_header(struct buf *out, const struct smtp_received *r);

#endif
