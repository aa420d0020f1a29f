/* dsn.h - bounce messages: RFC 3464 delivery status notifications (multipart/report, RFC 6522). */
#ifndef OSD_SMTP_DSN_H
#define OSD_SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

/* The envelope sender of a double bounce (a bounce that itself failed), as qmail marks it. */
#define DSN_DOUBLE_BOUNCE_SENDER "#@[]"

/* Headers of the original message quoted in a bounce, at most. */
#define DSN_ORIGINAL_HEADERS_MAX (64 * 1024)

struct dsn_rcpt {
	const char *address;            /* the failed recipient */
	const char *reason;             /* the last reason (remote reply or local explanation) */
	const char *remote_mta;         /* host that gave the reason, or NULL */
	bool expired;                   /* failed because queuelifetime passed, not by a 5xx */
};

struct dsn_input {
	const char *queue_id;
	const char *reporting_mta;      /* control/me */
	const char *from;               /* the original envelope sender ("" for <>) */
	const char *to;                 /* where the bounce goes (the sender, or doublebounceto) */
	time_t arrival;                 /* when the original arrived */
	time_t now;                     /* the bounce's Date: */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	const char *original;           /* the original message (queue form: LF), or NULL */
	size_t original_len;
};

/*
 * Compose one bounce for every failed recipient of a message into out, in
 * the queue's form (LF line endings), ready for queue_write: headers
 * (From: MAILER-DAEMON@reporting_mta, To:, Subject: failure notice, Date:,
 * Message-ID:, Auto-Submitted: auto-replied, MIME multipart/report with
 * report-type=delivery-status and a fresh boundary), a human-readable part
 * in qmail's spirit ("I'm afraid I wasn't able to deliver your message to
 * the following addresses..."), the message/delivery-status part
 * (Reporting-MTA, Arrival-Date, one block per recipient: Final-Recipient,
 * Action: failed, Status: 5.x.y taken from the reason's enhanced code when
 * there is one, else 5.0.0 (4.4.7 -> 5.4.7 for an expired message),
 * Remote-MTA and Diagnostic-Code: smtp; ... when known), and the original
 * headers as a text/rfc822-headers part (at most DSN_ORIGINAL_HEADERS_MAX).
 * Reasons and addresses are made header-safe (no CR/LF/NUL).  0, or -1
 * (out is full).
 */
int dsn_compose(const struct dsn_input *in, struct buf *out);

#endif
