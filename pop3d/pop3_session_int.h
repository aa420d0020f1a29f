/* pop3_session_int.h - what pop3_session.c, pop3_session_auth.c, pop3_session_mail.c and pop3_session_reply.c share of one POP3 session; no other file includes it. */
#ifndef OSD_POP3_SESSION_INT_H
#define OSD_POP3_SESSION_INT_H

#include "cram.h"
#include "maildir.h"
#include "sasl.h"
#include "pop3_session.h"

_Static_assert(CRAM_CHALLENGE_SIZE <= SASL_CRAM_CHALLENGE_MAX + 1,
	       "a CRAM-MD5 challenge fits the SASL exchange");

enum session_state {
	ST_AUTHORIZATION,
	ST_AUTH_SASL,           /* an AUTH exchange sent a challenge, waiting for the response */
	ST_TRANSACTION,
	ST_CLOSED               /* after QUIT, a fatal error, a timeout or too many errors */
};

struct session {
	struct session_config cfg;
	enum session_state state;
	bool have_user;                 /* USER given (or AUTH LOGIN user name) */
	char user[SASL_FIELD_MAX + 1];
	char banner[CRAM_CHALLENGE_SIZE];       /* the greeting's APOP timestamp; "" when none */
	struct sasl_server sasl;        /* the AUTH exchange running (ST_AUTH_SASL) */
	unsigned bad_commands;
	unsigned auth_failures;
	struct maildir *md;
	struct maildir_stream *st;      /* a RETR or TOP being sent */
	size_t st_index;
	bool st_is_retr;
	uint64_t st_size;
	struct session_stats stats;
	char error[256];
};

/* The commands (RFC 1939 sections 4-7, RFC 2449, 2595, 5034); the table in session.c says in which states. */
enum cmd_id {
	CMD_USER, CMD_PASS, CMD_APOP, CMD_AUTH, CMD_STLS, CMD_CAPA, CMD_QUIT,
	CMD_STAT, CMD_LIST, CMD_RETR, CMD_DELE, CMD_NOOP, CMD_RSET, CMD_TOP, CMD_UIDL
};

/* The replies (pop3_session_reply.c, which calls none of the others).  Append one reply line and its CRLF.  out is bounded by the loop; a full out is the loop's problem. */
void pop3_reply(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the text session_error() returns. */
void pop3_set_error(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* May USER/PASS, PLAIN and LOGIN be used now (TLS, loopback, or plaintext allowed)? */
bool pop3_plaintext_ok(const struct session *s);

/* A bad command: -ERR why, and after too many of them, close (a client that only errs is a probe or broken). */
unsigned pop3_bad(struct session *s, struct buf *out, const char *why);

/* AUTHORIZATION (session_auth.c): USER and PASS take the rest of the line; APOP and AUTH the split words. */
unsigned pop3_auth_user(struct session *s, char *rest, struct buf *out);
unsigned pop3_auth_pass(struct session *s, const char *rest, struct buf *out);
unsigned pop3_auth_apop(struct session *s, int argc, char **argv, struct buf *out);
unsigned pop3_auth_command(struct session *s, int argc, char **argv, struct buf *out);

/* A line while an AUTH exchange waits for the client's response (RFC 5034 section 4). */
unsigned pop3_auth_continue(struct session *s, const char *line, size_t len, struct buf *out);

/* TRANSACTION (session_mail.c): the maildrop commands, argc and argv checked there. */
unsigned pop3_mail_stat_list(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out);
unsigned pop3_mail_uidl(struct session *s, int argc, char **argv, struct buf *out);
unsigned pop3_mail_retr_top(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out);
unsigned pop3_mail_dele(struct session *s, int argc, char **argv, struct buf *out);
unsigned pop3_mail_rset(struct session *s, int argc, struct buf *out);

/* QUIT: in TRANSACTION, the UPDATE state (RFC 1939 section 6); the session is closed after it. */
unsigned pop3_mail_quit(struct session *s, struct buf *out);

#endif
