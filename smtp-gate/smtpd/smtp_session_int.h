/* smtp_session_int.h - what smtp_session.c, smtp_session_auth.c and smtp_session_reply.c share of one SMTP session; no other file includes it. */
#ifndef OSD_SMTP_SESSION_INT_H
#define OSD_SMTP_SESSION_INT_H

#include "cram.h"
#include "dataread.h"
#include "sasl.h"
#include "smtp_session.h"

_Static_assert(CRAM_CHALLENGE_SIZE <= SASL_CRAM_CHALLENGE_MAX + 1,
	       "a CRAM-MD5 challenge fits the SASL exchange");

/* One accepted recipient and why it was accepted (for the log). */
struct rcpt {
	char *address;          /* RELAYCLIENT appended */
	const char *reason;     /* "local", "rcpthosts", "relayclient", "auth" */
};

struct smtp_session {
	struct smtp_session_config cfg;
	char helo[256];                 /* the HELO/EHLO argument, sanitized; "" before it */
	bool esmtp;                     /* EHLO rather than HELO */
	bool tls;                       /* the connection is TLS now */
	char tls_info[96];
	bool closing;

	/* AUTH (RFC 4954) */
	bool auth_running;              /* an AUTH exchange sent a challenge: lines are its responses */
	bool auth_seen;                 /* an AUTH command came (a password may have passed through) */
	struct sasl_server sasl;
	bool authenticated;
	unsigned auth_failures;         /* 535s so far: max_auth_failures of them end the session */
	bool auth_relay;                /* the authenticated user may relay */
	char auth_user[SASL_FIELD_MAX + 1];

	/* The mail transaction */
	bool have_mail;
	char sender[SMTP_PATH_MAX + 1];  /* "" for <> */
	struct rcpt *rcpts;
	size_t nrcpts;
	bool rcpt_refused;              /* a RCPT was refused (554 at DATA when none was accepted) */
	uint64_t declared_size;

	/* DATA */
	void *msg;                      /* the sink's handle of the message being written, or NULL */
	struct smtp_data data;
	struct buf body;                /* unstuffed octets waiting to be written */
	int write_errno;                /* 0, or why writing to the sink failed */

	/* The log events of the current call; one more slot takes what does not fit. */
	struct smtp_event events[SMTP_EVENTS_MAX + 1];
	size_t nevents;

	unsigned errors;
	struct smtp_session_stats stats;
	char error[256];
};

/* A reply line (CRLF appended); this and the next are smtp_session_reply.c's. */
void smtp_reply(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Count an error reply; returns SMTP_ACT_CLOSE (after "421") once there were too many. */
unsigned smtp_session_count_error(struct smtp_session *s, struct buf *out);

/* The AUTH command, and a client line while an AUTH exchange runs. */
unsigned smtp_auth_command(struct smtp_session *s, const char *arg, size_t len, struct buf *out);
unsigned smtp_auth_response(struct smtp_session *s, const char *line, size_t len, struct buf *out);

/* May PLAIN and LOGIN be offered now (TLS, or plaintext allowed for this client)? */
bool smtp_auth_plaintext_ok(const struct smtp_session *s);

#endif
