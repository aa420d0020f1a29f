/* pop3_session.c - the POP3 state machine: the session, CAPA (RFC 2449), STLS (RFC 2595), the command dispatcher and message streaming. */
#include "pop3_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_session_int.h"
#include "xmalloc.h"

/* Which states take each command (RFC 1939 sections 4-7, RFC 2449, 2595, 5034). */
#define IN_AUTH  1u
#define IN_TRANS 2u

static const struct {
	const char *name;
	enum cmd_id id;
	unsigned states;
} commands[] = {
	{ "USER", CMD_USER, IN_AUTH },
	{ "PASS", CMD_PASS, IN_AUTH },
	{ "APOP", CMD_APOP, IN_AUTH },
	{ "AUTH", CMD_AUTH, IN_AUTH },
	{ "STLS", CMD_STLS, IN_AUTH },
	{ "CAPA", CMD_CAPA, IN_AUTH | IN_TRANS },
	{ "QUIT", CMD_QUIT, IN_AUTH | IN_TRANS },
	{ "STAT", CMD_STAT, IN_TRANS },
	{ "LIST", CMD_LIST, IN_TRANS },
	{ "RETR", CMD_RETR, IN_TRANS },
	{ "DELE", CMD_DELE, IN_TRANS },
	{ "NOOP", CMD_NOOP, IN_TRANS },
	{ "RSET", CMD_RSET, IN_TRANS },
	{ "TOP", CMD_TOP, IN_TRANS },
	{ "UIDL", CMD_UIDL, IN_TRANS },
};

/* Most arguments any command takes (TOP msg n, APOP name digest, AUTH mech initial-response). */
#define MAX_ARGS 2

struct session *
session_new(const struct session_config *cfg)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	if (s->cfg.max_bad_commands == 0)
		s->cfg.max_bad_commands = SESSION_DEFAULT_MAX_BAD_COMMANDS;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = SESSION_DEFAULT_MAX_AUTH_FAILURES;
	s->state = ST_AUTHORIZATION;
	return s;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	maildir_stream_close(s->st);
	maildir_close(s->md);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void
session_greeting(struct session *s, struct buf *out)
{
	if (s->cfg.get_secret == NULL) {
		pop3_reply(out, "+OK osd ready.");
		return;
	}
	/* RFC 1939 section 7: a timestamp different each time a banner is issued. */
	cram_challenge(s->cfg.hostname, s->banner);
	pop3_reply(out, "+OK osd ready. %s", s->banner);
}

void
session_timeout(struct session *s, struct buf *out)
{
	pop3_reply(out, "-ERR Disconnected for inactivity.");
	pop3_set_error(s, "idle timeout");
	s->state = ST_CLOSED;
}

void
session_expired(struct session *s, struct buf *out)
{
	/* RFC 3206 [SYS/TEMP]: a limit of this server, not of the user; later will do. */
	pop3_reply(out, "-ERR [SYS/TEMP] Session time limit exceeded.");
	pop3_set_error(s, "session deadline");
	s->state = ST_CLOSED;
}

void
session_tls_started(struct session *s)
{
	s->cfg.tls_active = true;
	s->have_user = false;
	explicit_bzero(s->user, sizeof(s->user));
	if (s->state != ST_CLOSED)
		s->state = ST_AUTHORIZATION;
}

bool
session_logged_in(const struct session *s)
{
	return s->state == ST_TRANSACTION;
}

const char *
session_user(const struct session *s)
{
	return s->user;
}

const char *
session_error(const struct session *s)
{
	return s->error;
}

const struct session_stats *
session_stats(const struct session *s)
{
	return &s->stats;
}

static void
capa(struct session *s, struct buf *out)
{
	pop3_reply(out, "+OK Capability list follows.");
	pop3_reply(out, "CAPA");
	pop3_reply(out, "TOP");
	pop3_reply(out, "UIDL");
	pop3_reply(out, "RESP-CODES");
	pop3_reply(out, "AUTH-RESP-CODE");
	pop3_reply(out, "PIPELINING");
	/* RFC 2449 section 6.7: osd never removes a message on its own. */
	pop3_reply(out, "EXPIRE NEVER");
	pop3_reply(out, "IMPLEMENTATION osd");
	/* USER, SASL and STLS only mean something before login (RFC 2449 section 5). */
	if (s->state == ST_AUTHORIZATION) {
		if (pop3_plaintext_ok(s)) {
			pop3_reply(out, "USER");
			pop3_reply(out, s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5 ?
					"SASL PLAIN LOGIN CRAM-MD5" : "SASL PLAIN LOGIN");
		} else if (s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5) {
			/* CRAM-MD5 never sends the password: fine without TLS. */
			pop3_reply(out, "SASL CRAM-MD5");
		}
		if (s->cfg.tls_available && !s->cfg.tls_active)
			pop3_reply(out, "STLS");
	}
	pop3_reply(out, ".");
}

static unsigned
cmd_stls(struct session *s, int argc, struct buf *out)
{
	if (argc > 0)
		return pop3_bad(s, out, "Too many arguments.");
	if (s->cfg.tls_active) {
		pop3_reply(out, "-ERR TLS is already active.");
		return 0;
	}
	if (!s->cfg.tls_available) {
		pop3_reply(out, "-ERR TLS support isn't enabled.");
		return 0;
	}
	pop3_reply(out, "+OK Begin TLS negotiation now.");
	return SESSION_ACT_STARTTLS;
}

/* Split args at runs of spaces; more than MAX_ARGS words gives MAX_ARGS + 1. */
static int
split_args(char *p, char **argv)
{
	int argc = 0;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return argc;
		if (argc == MAX_ARGS)
			return MAX_ARGS + 1;
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
}

static unsigned
dispatch(struct session *s, char *line, struct buf *out)
{
	char name[5], *rest, *argv[MAX_ARGS];
	size_t wlen, k, c;
	unsigned where;
	int argc;

	wlen = strcspn(line, " ");
	if (wlen == 0 || wlen > 4)
		return pop3_bad(s, out, "Unknown command.");
	for (k = 0; k < wlen; k++) {
		char ch = line[k];

		name[k] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
	}
	name[wlen] = '\0';
	rest = line[wlen] == ' ' ? line + wlen + 1 : line + wlen;
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(commands[c].name, name) == 0)
			break;
	if (c == sizeof(commands) / sizeof(commands[0]))
		return pop3_bad(s, out, "Unknown command.");
	where = s->state == ST_TRANSACTION ? IN_TRANS : IN_AUTH;
	if (!(commands[c].states & where))
		return pop3_bad(s, out, where == IN_TRANS ? "Already logged in." : "Log in first.");

	switch (commands[c].id) {
	case CMD_USER:
		return pop3_auth_user(s, rest, out);
	case CMD_PASS:
		return pop3_auth_pass(s, rest, out);
	default:
		break;
	}

	argc = split_args(rest, argv);
	if (argc > MAX_ARGS)
		return pop3_bad(s, out, "Too many arguments.");
	switch (commands[c].id) {
	case CMD_APOP:
		return pop3_auth_apop(s, argc, argv, out);
	case CMD_AUTH:
		return pop3_auth_command(s, argc, argv, out);
	case CMD_STLS:
		return cmd_stls(s, argc, out);
	case CMD_CAPA:
		if (argc > 0)
			return pop3_bad(s, out, "Too many arguments.");
		capa(s, out);
		return 0;
	case CMD_QUIT:
		if (argc > 0)
			return pop3_bad(s, out, "Too many arguments.");
		return pop3_mail_quit(s, out);
	case CMD_STAT:
	case CMD_LIST:
		return pop3_mail_stat_list(s, commands[c].id, argc, argv, out);
	case CMD_UIDL:
		return pop3_mail_uidl(s, argc, argv, out);
	case CMD_RETR:
	case CMD_TOP:
		return pop3_mail_retr_top(s, commands[c].id, argc, argv, out);
	case CMD_DELE:
		return pop3_mail_dele(s, argc, argv, out);
	case CMD_NOOP:
		if (argc > 0)
			return pop3_bad(s, out, "Too many arguments.");
		pop3_reply(out, "+OK");
		return 0;
	case CMD_RSET:
		return pop3_mail_rset(s, argc, out);
	default:
		return pop3_bad(s, out, "Unknown command.");
	}
}

unsigned
session_input_line(struct session *s, const char *line, size_t len, struct buf *out)
{
	char copy[SESSION_LINE_MAX + 1];
	unsigned act;

	if (s->state == ST_CLOSED || s->st != NULL)
		return SESSION_ACT_CLOSE;       /* the loop broke the contract: stop */
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (s->state == ST_AUTH_SASL)
		return pop3_auth_continue(s, line, len, out);
	if (len > SESSION_COMMAND_MAX)
		return pop3_bad(s, out, "Line too long.");
	/* A NUL would cut the command short in a C string: refuse it rather than guess. */
	if (memchr(line, '\0', len) != NULL)
		return pop3_bad(s, out, "Invalid characters in command.");
	memcpy(copy, line, len);
	copy[len] = '\0';
	act = dispatch(s, copy, out);
	/* The line may have been PASS or AUTH with a password in it. */
	explicit_bzero(copy, len);
	return act;
}

unsigned
session_stream(struct session *s, struct buf *out)
{
	int r;

	if (s->st == NULL)
		return 0;
	r = maildir_stream_read(s->st, out);
	if (r == 1)
		return SESSION_ACT_STREAM;
	maildir_stream_close(s->st);
	s->st = NULL;
	if (r == -1) {
		pop3_set_error(s, "cannot read message %zu: %s", s->st_index + 1, strerror(errno));
		s->state = ST_CLOSED;
		return SESSION_ACT_CLOSE | SESSION_ACT_ERROR;
	}
	if (s->st_is_retr) {
		/* Seen only once the whole message went out; TOP does not count. */
		maildir_mark_seen(s->md, s->st_index);
		s->stats.retrieved++;
		s->stats.retrieved_octets += s->st_size;
	}
	return 0;
}
