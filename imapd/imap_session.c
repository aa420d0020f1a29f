/* imap_session.c - the IMAP session: lines and literals through the parser, the command dispatcher over imap_commands[], the modes between lines (SASL, IDLE), timeouts and the end. */
#include "imap_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_session_int.h"
#include "xmalloc.h"

struct imap_session *
imap_session_new(const struct imap_session_config *cfg)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	if (s->cfg.max_bad_commands == 0)
		s->cfg.max_bad_commands = IMAP_DEFAULT_MAX_BAD_COMMANDS;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = IMAP_DEFAULT_MAX_AUTH_FAILURES;
	if (s->cfg.idle_poll_ms <= 0)
		s->cfg.idle_poll_ms = IMAP_DEFAULT_IDLE_POLL_MS;
	if (s->cfg.idle_keepalive_ms <= 0)
		s->cfg.idle_keepalive_ms = IMAP_DEFAULT_IDLE_KEEPALIVE_MS;
	if (s->cfg.limits.line_max == 0 || s->cfg.limits.line_max > IMAP_LINE_MAX)
		s->cfg.limits.line_max = IMAP_LINE_MAX;
	s->parser = imap_parser_new(&s->cfg.limits);
	if (s->parser == NULL)
		abort();
	s->state = IMAP_ST_NOTAUTH;
	s->mode = IMAP_MODE_COMMAND;
	s->wake_fd = -1;
	return s;
}

void
imap_session_free(struct imap_session *s)
{
	if (s == NULL)
		return;
	imap_session_stream_end(s);
	imap_session_wake_close(s);
	imap_session_unselect(s);
	imap_parser_free(s->parser);
	sasl_server_clear(&s->sasl);
	free(s->root);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void
imap_session_greeting(struct imap_session *s, struct buf *out)
{
	(void)buf_append_str(out, "* OK [CAPABILITY ");
	imap_write_capability(s, out);
	(void)buf_append_str(out, "] osd IMAP ready.\r\n");
}

/* The row of name (len octets, any case), or NULL. */
static const struct imap_command *
find_command(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < imap_commands_count; i++) {
		if (strlen(imap_commands[i].name) == len &&
		    strncasecmp(imap_commands[i].name, name, len) == 0)
			return &imap_commands[i];
	}
	return NULL;
}

/* A whole command is parsed: find its row, check the state, run it. */
static unsigned
dispatch(struct imap_session *s, struct buf *out)
{
	const char *tag = imap_parser_tag(s->parser), *name = imap_parser_command(s->parser);
	const struct imap_command *cmd;
	const struct imap_arg *args;
	size_t n;
	bool uid = false;
	unsigned act;

	args = imap_parser_args(s->parser, &n);
	s->cmd = NULL;
	cmd = find_command(name, strlen(name));
	if (cmd != NULL && strcmp(cmd->name, "UID") == 0)
		cmd = NULL;
	if (cmd == NULL && strcasecmp(name, "UID") == 0) {
		if (n == 0 || args[0].type != IMAP_ARG_ATOM ||
		    (cmd = find_command(args[0].str, args[0].len)) == NULL ||
		    !(cmd->flags & IMAP_CMD_UID_OK))
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Unknown UID command.");
		uid = true;
		args++;
		n--;
	}
	if (cmd == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Unknown command.");
	if (!(cmd->states & s->state))
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s",
					 s->state == IMAP_ST_NOTAUTH && (cmd->states & IMAP_ST_LOGGED_IN) ?
						 "Log in first." :
					 s->state == IMAP_ST_AUTH && cmd->states == IMAP_ST_SELECTED ?
						 "No mailbox selected." :
						 "Command not allowed in this state.");
	s->cmd = cmd;
	act = cmd->run(s, tag, args, n, uid, out);
	if (s->stream == NULL && s->mode == IMAP_MODE_COMMAND)
		s->cmd = NULL;
	return act;
}

/* The parser refused the command: BAD (with its code), or BYE when it cannot go on. */
static unsigned
parse_error(struct imap_session *s, struct buf *out)
{
	const char *tag = imap_parser_tag(s->parser), *code = imap_parser_error_code(s->parser);
	unsigned act;

	if (imap_parser_error_fatal(s->parser)) {
		imap_set_error(s, "%s", imap_parser_error(s->parser));
		act = imap_session_bye(s, out, imap_parser_error(s->parser));
	} else if (tag[0] == '\0') {
		/* No tag to answer with (RFC 3501 section 7.1.3: "* BAD"). */
		if (code != NULL)
			imap_reply_untagged(out, "BAD [%s] %s", code, imap_parser_error(s->parser));
		else
			imap_reply_untagged(out, "BAD %s", imap_parser_error(s->parser));
		act = 0;
		if (++s->bad_commands >= s->cfg.max_bad_commands) {
			imap_set_error(s, "too many bad commands");
			act = imap_session_bye(s, out, "Too many invalid IMAP commands.");
		}
	} else {
		act = imap_reply_tagged(s, out, tag, "BAD", code, "%s", imap_parser_error(s->parser));
	}
	imap_parser_reset(s->parser);
	return act;
}

/* What the parser said after a line or the last octets of a literal. */
static unsigned
parsed(struct imap_session *s, enum imap_parse_result r, size_t literal, bool sync, struct buf *out,
       size_t *literal_r)
{
	unsigned act;

	for (;;) {
		switch (r) {
		case IMAP_PARSE_DONE:
			act = dispatch(s, out);
			/* A long reply may still read the arguments; else they are done with. */
			if (s->stream == NULL)
				imap_parser_reset(s->parser);
			return act;
		case IMAP_PARSE_LITERAL:
			if (sync)
				(void)buf_append_str(out, "+ OK\r\n");
			if (literal == 0) {
				/* No octets to wait for: the parser hears the empty literal now. */
				r = imap_parser_literal(s->parser, "", 0);
				if (r == IMAP_PARSE_LITERAL || r == IMAP_PARSE_MORE)
					return 0;       /* the rest of the command line comes next */
				continue;
			}
			*literal_r = literal;
			return IMAP_ACT_LITERAL;
		case IMAP_PARSE_MORE:
			return 0;
		case IMAP_PARSE_ERROR:
		default:
			return parse_error(s, out);
		}
	}
}

unsigned
imap_session_line(struct imap_session *s, const char *line, size_t len, struct buf *out,
		  size_t *literal_r)
{
	size_t literal = 0;
	bool sync = false;
	enum imap_parse_result r;

	*literal_r = 0;
	if (s->state == IMAP_ST_LOGOUT)
		return IMAP_ACT_CLOSE;
	/* The loop passes a longer line cut to IMAP_LINE_MAX + 1 octets, without its end. */
	if (len > IMAP_LINE_MAX + 2 || (len > IMAP_LINE_MAX && line[len - 1] != '\n')) {
		/*
		 * The rest of the line was dropped: what follows cannot be
		 * told apart from commands (it may be a literal announced at
		 * its end), so this ends the session, as Dovecot does.
		 */
		imap_set_error(s, "line too long");
		return imap_session_bye(s, out, "[TOOBIG] Line too long.");
	}
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (s->mode == IMAP_MODE_SASL)
		return imap_auth_continue(s, line, len, out);
	if (s->mode == IMAP_MODE_IDLE)
		return imap_idle_line(s, line, len, out);
	r = imap_parser_line(s->parser, line, len, &literal, &sync);
	return parsed(s, r, literal, sync, out, literal_r);
}

unsigned
imap_session_literal(struct imap_session *s, const char *data, size_t len, struct buf *out,
		     size_t *literal_r)
{
	enum imap_parse_result r;

	*literal_r = 0;
	if (s->state == IMAP_ST_LOGOUT)
		return IMAP_ACT_CLOSE;
	r = imap_parser_literal(s->parser, data, len);
	if (r == IMAP_PARSE_MORE)
		return 0;
	if (r == IMAP_PARSE_ERROR)
		return parse_error(s, out);
	/* All octets in: the command line goes on with the next line. */
	return 0;
}

unsigned
imap_session_stream(struct imap_session *s, struct buf *out)
{
	unsigned act;

	if (s->stream == NULL)
		return 0;
	act = s->stream(s, out);
	if (!(act & IMAP_ACT_STREAM)) {
		imap_session_stream_end(s);
		s->cmd = NULL;
		imap_parser_reset(s->parser);
	}
	return act;
}

int
imap_session_wake_fd(struct imap_session *s)
{
	return s->mode == IMAP_MODE_IDLE ? s->wake_fd : -1;
}

int
imap_session_timeout_ms(const struct imap_session *s, int login_ms, int auth_ms)
{
	return s->state == IMAP_ST_NOTAUTH ? login_ms : auth_ms;
}

void
imap_session_tls_started(struct imap_session *s)
{
	s->cfg.tls_active = true;
	/* Nothing said before the handshake counts (RFC 3501 section 6.2.1). */
	imap_parser_reset(s->parser);
}

void
imap_session_timeout(struct imap_session *s, struct buf *out)
{
	(void)imap_session_bye(s, out, "Disconnected for inactivity.");
}

void
imap_session_expired(struct imap_session *s, struct buf *out)
{
	(void)imap_session_bye(s, out, "[UNAVAILABLE] Session time limit reached, please reconnect.");
}

bool
imap_session_logged_in(const struct imap_session *s)
{
	return s->root != NULL;
}

const char *
imap_session_handoff_tag(const struct imap_session *s)
{
	return s->handoff_tag;
}

const char *
imap_session_user(const struct imap_session *s)
{
	return s->user;
}

const char *
imap_session_error(const struct imap_session *s)
{
	return s->error;
}
