/* smtp_session.c - the SMTP state machine: greeting, EHLO, the mail transaction, DATA into the message sink (RFC 5321, 1870, 2920, 3207, 6152). */
#include "smtp_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "address.h"
#include "command.h"
#include "metrics.h"
#include "policy.h"
#include "received.h"
#include "smtp_session_int.h"

/* Unstuffed DATA octets are written to the sink in pieces of about this size. */
#define DATA_WRITE_CHUNK (64 * 1024)

/*
 * A new log event of this call, with what the session knows now (HELO,
 * AUTH user, TLS, sender); past SMTP_EVENTS_MAX (which no call reaches)
 * the spare slot, which is not returned.
 */
static struct smtp_event *
event_add(struct smtp_session *s, enum smtp_event_type type)
{
	struct smtp_event *ev = &s->events[s->nevents];

	if (s->nevents < SMTP_EVENTS_MAX)
		s->nevents++;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->helo = s->helo;
	ev->auth_user = s->authenticated ? s->auth_user : "-";
	ev->tls = s->tls;
	snprintf(ev->from, sizeof(ev->from), "%s", s->sender);
	snprintf(ev->id, sizeof(ev->id), "-");
	return ev;
}

/* An event about one recipient: to, why. */
static void
event_rcpt(struct smtp_session *s, enum smtp_event_type type, const char *to, const char *why)
{
	struct smtp_event *ev = event_add(s, type);

	snprintf(ev->to, sizeof(ev->to), "%s", to);
	snprintf(ev->why, sizeof(ev->why), "%s", why);
}

/* A warning about the sink: why it failed. */
static void
event_sink(struct smtp_session *s, enum smtp_event_type type, const char *why)
{
	snprintf(event_add(s, type)->why, sizeof(s->events[0].why), "%s", why);
}

/* An error reply that counts towards max_errors. */
static unsigned __attribute__((format(printf, 3, 4)))
error(struct smtp_session *s, struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
	return smtp_session_count_error(s, out);
}

static void
transaction_reset(struct smtp_session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i].address);
	s->nrcpts = 0;
	s->have_mail = false;
	s->rcpt_refused = false;
	s->sender[0] = '\0';
	s->declared_size = 0;
	if (s->msg != NULL) {
		s->cfg.sink->abort(s->msg);
		s->msg = NULL;
	}
	buf_reset(&s->body);
}

struct smtp_session *
smtp_session_new(const struct smtp_session_config *cfg)
{
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = *cfg;
	if (s->cfg.max_rcpts == 0)
		s->cfg.max_rcpts = SMTP_DEFAULT_MAX_RCPTS;
	if (s->cfg.max_errors == 0)
		s->cfg.max_errors = SMTP_DEFAULT_MAX_ERRORS;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = SMTP_DEFAULT_MAX_AUTH_FAILURES;
	if (s->cfg.hostname == NULL || s->cfg.hostname[0] == '\0')
		s->cfg.hostname = "localhost";
	if (s->cfg.relayclient == NULL)
		s->cfg.relayclient = "";
	s->tls = cfg->tls_active;
	s->rcpts = calloc(s->cfg.max_rcpts, sizeof(*s->rcpts));
	if (s->rcpts == NULL) {
		free(s);
		return NULL;
	}
	buf_init(&s->body, 0);
	return s;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	transaction_reset(s);
	buf_free(&s->body);
	free(s->rcpts);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void
smtp_session_greeting(struct smtp_session *s, struct buf *out)
{
	smtp_reply(out, "220 %s ESMTP osd", s->cfg.hostname);
}

void
smtp_session_timeout(struct smtp_session *s, struct buf *out)
{
	smtp_reply(out, "421 4.4.2 %s Error: timeout exceeded", s->cfg.hostname);
}

void
smtp_session_expired(struct smtp_session *s, struct buf *out)
{
	smtp_reply(out, "421 4.4.2 %s Error: session time limit exceeded", s->cfg.hostname);
}

void
smtp_session_tls_started(struct smtp_session *s, const char *tls_info)
{
	/* RFC 3207 section 4.2: forget everything learnt before the handshake. */
	transaction_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authenticated = false;
	s->auth_relay = false;
	s->auth_user[0] = '\0';
	s->auth_running = false;
	sasl_server_clear(&s->sasl);
	s->tls = true;
	snprintf(s->tls_info, sizeof(s->tls_info), "%s", tls_info != NULL ? tls_info : "");
}

const char *
smtp_session_auth_user(const struct smtp_session *s)
{
	return s->authenticated ? s->auth_user : "";
}

const char *
smtp_session_auth_login(const struct smtp_session *s)
{
	return s->auth_user;
}

bool
smtp_session_plain(const struct smtp_session *s)
{
	return !s->tls && !s->auth_seen;
}

const char *
smtp_session_helo(const struct smtp_session *s)
{
	return s->helo;
}

const struct smtp_session_stats *
smtp_session_stats(const struct smtp_session *s)
{
	return &s->stats;
}

const struct smtp_event *
smtp_session_events(const struct smtp_session *s, size_t *count_r)
{
	*count_r = s->nevents;
	return s->events;
}

const char *
smtp_session_error(const struct smtp_session *s)
{
	return s->error;
}

/* ----- HELO, EHLO ----- */

static unsigned
cmd_helo(struct smtp_session *s, const struct smtp_command *c, bool esmtp, struct buf *out)
{
	size_t i;

	if (c->arg_len == 0)
		return error(s, out, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
	/* RFC 5321 4.1.4: EHLO/HELO also resets the transaction. */
	transaction_reset(s);
	for (i = 0; i < c->arg_len && i + 1 < sizeof(s->helo); i++) {
		unsigned char ch = (unsigned char)c->arg[i];
		s->helo[i] = ch > ' ' && ch < 0x7f ? (char)ch : '?';
	}
	s->helo[i] = '\0';
	s->esmtp = esmtp;
	if (!esmtp) {
		smtp_reply(out, "250 %s", s->cfg.hostname);
		return 0;
	}
	smtp_reply(out, "250-%s", s->cfg.hostname);
	smtp_reply(out, "250-PIPELINING");
	if (s->cfg.databytes > 0)
		smtp_reply(out, "250-SIZE %llu", (unsigned long long)s->cfg.databytes);
	else
		smtp_reply(out, "250-SIZE");
	if (s->cfg.tls_available && !s->tls)
		smtp_reply(out, "250-STARTTLS");
	if (!s->authenticated) {
		bool plain = smtp_auth_plaintext_ok(s);
		bool cram = s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5;

		if (plain || cram)
			smtp_reply(out, "250-AUTH%s%s", plain ? " PLAIN LOGIN" : "",
				   cram ? " CRAM-MD5" : "");
	}
	smtp_reply(out, "250-ENHANCEDSTATUSCODES");
	smtp_reply(out, "250 8BITMIME");
	return 0;
}

/* ----- MAIL, RCPT ----- */

static unsigned
path_error(struct smtp_session *s, enum smtp_addr_error e, bool mail, struct buf *out)
{
	const char *status = mail ? "5.1.7" : "5.1.3";

	switch (e) {
	case SMTP_ADDR_TOO_LONG:
		return error(s, out, "501 %s Error: address too long", status);
	case SMTP_ADDR_NULL_NOT_ALLOWED:
		return error(s, out, "501 5.1.3 Error: the null address is not a recipient");
	case SMTP_PARAM_SYNTAX:
		return error(s, out, "501 5.5.4 Error: bad parameter syntax");
	case SMTP_PARAM_UNKNOWN:
		return error(s, out, "555 5.5.4 Error: unsupported parameter");
	case SMTP_ADDR_SYNTAX:
	case SMTP_ADDR_OK:
		break;
	}
	return error(s, out, "501 %s Error: bad address syntax", status);
}

static unsigned
cmd_mail(struct smtp_session *s, const struct smtp_command *c, struct buf *out)
{
	struct smtp_path path;
	struct smtp_params params;
	enum smtp_addr_error e;

	if (s->helo[0] == '\0')
		return error(s, out, "503 5.5.1 Error: send HELO/EHLO first");
	if (s->have_mail)
		return error(s, out, "503 5.5.1 Error: nested MAIL command");
	if (s->cfg.submission && !s->authenticated)
		return error(s, out, "530 5.7.0 Authentication required");
	e = smtp_parse_path(c->arg, c->arg_len, true, &path, &params);
	if (e != SMTP_ADDR_OK)
		return path_error(s, e, true, out);
	if (!s->esmtp && (params.have_size || params.body != SMTP_BODY_NONE || params.have_auth))
		return error(s, out, "555 5.5.4 Error: parameters need EHLO");
	if (params.have_size && s->cfg.databytes > 0 && params.size > s->cfg.databytes)
		return error(s, out, "552 5.3.4 Message size exceeds fixed maximum message size");
	if (policy_badmailfrom(s->cfg.policy, path.address)) {
		snprintf(event_add(s, SMTP_EVENT_REFUSED_SENDER)->from, sizeof(s->events[0].from),
			 "%s", path.address);
		s->stats.rejected++;
		return error(s, out, "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)");
	}
	snprintf(s->sender, sizeof(s->sender), "%s", path.address);
	s->declared_size = params.have_size ? params.size : 0;
	s->have_mail = true;
	smtp_reply(out, "250 2.1.0 Ok");
	return 0;
}

static unsigned __attribute__((format(printf, 5, 6)))
refuse_rcpt(struct smtp_session *s, const struct smtp_path *p, const char *why, struct buf *out,
	    const char *fmt, ...)
{
	va_list ap;

	event_rcpt(s, SMTP_EVENT_REFUSED_RCPT, p->address, why);
	s->rcpt_refused = true;
	s->stats.rejected++;
	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
	return smtp_session_count_error(s, out);
}

static unsigned
cmd_rcpt(struct smtp_session *s, const struct smtp_command *c, struct buf *out)
{
	struct smtp_path path;
	struct smtp_params params;
	enum smtp_addr_error e;
	enum policy_rcpt verdict;
	bool may_relay = s->cfg.may_relay || (s->authenticated && s->auth_relay);
	const char *reason;
	char err[256] = "";
	size_t alen;
	char *addr;

	if (!s->have_mail)
		return error(s, out, "503 5.5.1 Error: need MAIL command");
	if (s->nrcpts >= s->cfg.max_rcpts) {
		/* RFC 5321 4.5.3.1.10: 452, and the client sends the rest in another message. */
		smtp_reply(out, "452 4.5.3 Error: too many recipients");
		return 0;
	}
	e = smtp_parse_path(c->arg, c->arg_len, false, &path, &params);
	if (e != SMTP_ADDR_OK)
		return path_error(s, e, false, out);
	if (params.have_size || params.body != SMTP_BODY_NONE || params.have_auth)
		return error(s, out, "555 5.5.4 Error: unsupported parameter");

	verdict = policy_check_rcpt(s->cfg.policy, &path, may_relay, err, sizeof(err));
	switch (verdict) {
	case POLICY_RCPT_LOCAL:
		reason = "local";
		break;
	case POLICY_RCPT_RCPTHOSTS:
		reason = "rcpthosts";
		break;
	case POLICY_RCPT_RELAY:
		reason = s->cfg.may_relay ? "relayclient" : "auth";
		metrics_inc(!s->cfg.may_relay ? M_RELAY_AUTH : s->cfg.relay_dynamic ? M_RELAY_POP :
			    M_RELAY_RULE);
		break;
	case POLICY_RCPT_NOT_LOCAL:
		metrics_inc(M_RELAY_REFUSED);
		metrics_inc(M_SMTP_REJ_RCPTHOSTS);
		return refuse_rcpt(s, &path, "not in rcpthosts", out,
				   "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)");
	case POLICY_RCPT_RELAY_TRICK:
		metrics_inc(M_RELAY_REFUSED);
		metrics_inc(M_SMTP_REJ_RELAY_TRICK);
		return refuse_rcpt(s, &path, "relay trick (%, !, route, quoted @ or literal)", out,
				   "553 5.7.1 sorry, that address names another destination; relaying denied");
	case POLICY_RCPT_UNKNOWN_USER:
		metrics_inc(M_SMTP_REJ_UNKNOWN_USER);
		return refuse_rcpt(s, &path, "unknown user", out,
				   "550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table",
				   path.address);
	case POLICY_RCPT_TEMPFAIL:
	default:
		event_rcpt(s, SMTP_EVENT_LOOKUP_FAILED, path.address, err);
		smtp_reply(out, "451 4.3.0 <%s>: Temporary lookup failure", path.address);
		return 0;
	}

	/*
	 * A bare <postmaster> (RFC 5321 4.5.1) that policy found local is the
	 * postmaster of "me": the queue needs a full address.  qmail:
	 * RELAYCLIENT's value is appended to every recipient of a relay client.
	 */
	alen = strlen(path.address) + strlen(s->cfg.hostname) + 1 +
	       (s->cfg.may_relay ? strlen(s->cfg.relayclient) : 0);
	if ((addr = malloc(alen + 1)) == NULL) {
		smtp_reply(out, "451 4.3.0 Error: out of memory");
		return 0;
	}
	snprintf(addr, alen + 1, "%s%s%s%s", path.address, path.no_domain ? "@" : "",
		 path.no_domain ? s->cfg.hostname : "", s->cfg.may_relay ? s->cfg.relayclient : "");
	s->rcpts[s->nrcpts++] = (struct rcpt){ .address = addr, .reason = reason };
	smtp_reply(out, "250 2.1.5 Ok");
	return 0;
}

/* ----- DATA ----- */

static unsigned
cmd_data(struct smtp_session *s, struct buf *out)
{
	const char *rcpts[SMTP_DEFAULT_MAX_RCPTS];
	const char **list = rcpts;
	struct queue_envelope env;
	struct smtp_received rec;
	char err[256];
	size_t i;

	if (!s->have_mail)
		return error(s, out, "503 5.5.1 Error: need MAIL command");
	if (s->nrcpts == 0) {
		if (s->rcpt_refused)
			return error(s, out, "554 5.5.1 Error: no valid recipients");
		return error(s, out, "503 5.5.1 Error: need RCPT command");
	}
	if (s->nrcpts > SMTP_DEFAULT_MAX_RCPTS &&
	    (list = calloc(s->nrcpts, sizeof(*list))) == NULL) {
		smtp_reply(out, "451 4.3.0 Error: out of memory");
		return 0;
	}
	for (i = 0; i < s->nrcpts; i++)
		list[i] = s->rcpts[i].address;
	env = (struct queue_envelope){
		.sender = s->sender, .rcpts = list, .nrcpts = s->nrcpts,
		.client = s->cfg.client_addr, .helo = s->helo,
		.auth_user = s->authenticated ? s->auth_user : NULL, .received = time(NULL),
	};
	err[0] = '\0';
	s->msg = s->cfg.sink->begin(s->cfg.sink_ctx, &env, err, sizeof(err));
	if (list != rcpts)
		free(list);
	if (s->msg == NULL) {
		int e = errno;

		event_sink(s, SMTP_EVENT_SINK_BEGIN_FAILED, err);
		smtp_reply(out, "%s", queue_error_reply(e));
		return 0;
	}
	rec = (struct smtp_received){
		.helo = s->helo, .client_addr = s->cfg.client_addr, .hostname = s->cfg.hostname,
		.esmtp = s->esmtp, .tls = s->tls, .auth = s->authenticated, .tls_info = s->tls_info,
		.for_rcpt = s->nrcpts == 1 ? s->rcpts[0].address : NULL, .when = env.received,
	};
	if (s->cfg.received_auth_user) {
		rec.auth_user = s->authenticated ? s->auth_user : s->cfg.relay_user;
		rec.auth_user_pop = !s->authenticated && s->cfg.relay_user != NULL;
	}
	buf_reset(&s->body);
	if (smtp_received_header(&s->body, &rec) == -1) {
		smtp_reply(out, "451 4.3.0 Error: out of memory");
		transaction_reset(s);
		return 0;
	}
	s->write_errno = 0;
	smtp_data_init(&s->data, s->cfg.databytes);
	smtp_reply(out, "354 End data with <CR><LF>.<CR><LF>");
	return SMTP_ACT_DATA;
}

/* Write what is waiting in body to the sink; a failure is remembered, not fatal yet. */
static void
body_flush(struct smtp_session *s)
{
	char err[256] = "";

	if (s->write_errno == 0 && s->data.error == SMTP_DATA_OK && s->body.len > 0 &&
	    s->cfg.sink->write(s->msg, s->body.data, s->body.len, err, sizeof(err)) == -1) {
		s->write_errno = errno != 0 ? errno : EIO;
		event_sink(s, SMTP_EVENT_SINK_WRITE_FAILED, err);
	}
	buf_reset(&s->body);
}

/* The event of a transaction's end: the recipients with why each was accepted, the size, the outcome. */
static void
event_message(struct smtp_session *s, const char *id, const char *result)
{
	struct smtp_event *ev = event_add(s, SMTP_EVENT_MESSAGE);
	size_t i, off = 0;

	for (i = 0; i < s->nrcpts && off + 1 < sizeof(ev->to); i++) {
		int n = snprintf(ev->to + off, sizeof(ev->to) - off, "%s<%s>(%s)", i > 0 ? "," : "",
				 s->rcpts[i].address, s->rcpts[i].reason);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	ev->size = s->data.size;
	if (id != NULL)
		snprintf(ev->id, sizeof(ev->id), "%s", id);
	ev->result = result;
}

/* The terminator has arrived: commit, or refuse, and end the transaction. */
static void
data_end(struct smtp_session *s, struct buf *out)
{
	char id[QUEUE_ID_MAX + 1], err[256] = "";
	const char *reply = smtp_data_error_reply(s->data.error);

	body_flush(s);
	if (reply != NULL) {
		event_message(s, NULL, "refused");
		s->stats.rejected++;
		(void)buf_append_str(out, reply);
	} else if (s->write_errno != 0) {
		event_message(s, NULL, "queue-error");
		smtp_reply(out, "%s", queue_error_reply(s->write_errno));
	} else {
		void *msg = s->msg;

		/* commit frees the handle whatever it returns: transaction_reset must not abort it. */
		s->msg = NULL;
		if (s->cfg.sink->commit(msg, id, err, sizeof(err)) == -1) {
			int e = errno;

			event_sink(s, SMTP_EVENT_SINK_COMMIT_FAILED, err);
			event_message(s, NULL, "queue-error");
			smtp_reply(out, "%s", queue_error_reply(e));
		} else {
			/* Only now, with the message durable in the sink, may the client hear 250. */
			event_message(s, id, "queued");
			s->stats.messages++;
			s->stats.octets += s->data.size;
			smtp_reply(out, "250 2.0.0 Ok: queued as %s", id);
		}
	}
	transaction_reset(s);
}

size_t
smtp_session_data(struct smtp_session *s, const char *data, size_t len, struct buf *out,
		  unsigned *act_r)
{
	size_t used;

	s->nevents = 0;
	*act_r = SMTP_ACT_DATA;
	if (s->msg == NULL) {
		*act_r = 0;
		return 0;
	}
	used = smtp_data_feed(&s->data, data, len, &s->body);
	if (used == (size_t)-1) {
		smtp_reply(out, "451 4.3.0 Error: out of memory");
		transaction_reset(s);
		*act_r = SMTP_ACT_CLOSE;
		return len;
	}
	if (s->body.len >= DATA_WRITE_CHUNK || s->data.error != SMTP_DATA_OK)
		body_flush(s);
	if (s->data.done) {
		data_end(s, out);
		*act_r = 0;
	}
	return used;
}

/* ----- the rest, and the dispatcher ----- */

static unsigned
cmd_starttls(struct smtp_session *s, struct buf *out)
{
	if (!s->cfg.tls_available)
		return error(s, out, "502 5.5.1 Error: command not implemented");
	if (s->tls)
		return error(s, out, "503 5.5.1 Error: TLS already active");
	smtp_reply(out, "220 2.0.0 Ready to start TLS");
	return SMTP_ACT_STARTTLS;
}

static unsigned
command_error(struct smtp_session *s, enum smtp_command_error e, struct buf *out)
{
	switch (e) {
	case SMTP_COMMAND_TOO_LONG:
		return error(s, out, "500 5.5.2 Error: line too long");
	case SMTP_COMMAND_BAD_BYTES:
		return error(s, out, "500 5.5.2 Error: bad characters in command");
	case SMTP_COMMAND_BARE_LF:
		/*
		 * As Postfix's smtpd_forbid_bare_newline = reject answers (seen
		 * from Debian's 3.7): the client frames lines otherwise than we
		 * do, so nothing more it sends can be read safely; say so and close.
		 */
		smtp_reply(out, "550 5.5.2 %s Error: bare <LF> received", s->cfg.hostname);
		s->closing = true;
		return SMTP_ACT_CLOSE;
	case SMTP_COMMAND_SYNTAX:
		return error(s, out, "501 5.5.4 Error: syntax error in parameters or arguments");
	case SMTP_COMMAND_EMPTY:
	case SMTP_COMMAND_OK:
		break;
	}
	return error(s, out, "500 5.5.2 Error: bad syntax");
}

unsigned
smtp_session_line(struct smtp_session *s, const char *line, size_t len, struct buf *out)
{
	struct smtp_command c;
	enum smtp_command_error e;

	s->nevents = 0;
	if (s->closing)
		return SMTP_ACT_CLOSE;
	if (s->auth_running) {
		if (len > SMTP_COMMAND_MAX + 2) {
			s->auth_running = false;
			sasl_server_clear(&s->sasl);
			return error(s, out, "500 5.5.6 Error: authentication response too long");
		}
		return smtp_auth_response(s, line, len, out);
	}
	e = smtp_command_parse(line, len, &c);
	if (e != SMTP_COMMAND_OK)
		return command_error(s, e, out);

	switch (c.verb) {
	case SMTP_VERB_HELO:
		return cmd_helo(s, &c, false, out);
	case SMTP_VERB_EHLO:
		return cmd_helo(s, &c, true, out);
	case SMTP_VERB_MAIL:
		return cmd_mail(s, &c, out);
	case SMTP_VERB_RCPT:
		return cmd_rcpt(s, &c, out);
	case SMTP_VERB_DATA:
		return cmd_data(s, out);
	case SMTP_VERB_RSET:
		transaction_reset(s);
		smtp_reply(out, "250 2.0.0 Ok");
		return 0;
	case SMTP_VERB_NOOP:
		smtp_reply(out, "250 2.0.0 Ok");
		return 0;
	case SMTP_VERB_QUIT:
		smtp_reply(out, "221 2.0.0 %s closing connection", s->cfg.hostname);
		s->closing = true;
		return SMTP_ACT_CLOSE;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252 instead of giving away which users exist. */
		smtp_reply(out, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
		return 0;
	case SMTP_VERB_EXPN:
		return error(s, out, "502 5.5.1 Error: EXPN not available");
	case SMTP_VERB_HELP:
		smtp_reply(out, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s%s",
			   s->cfg.tls_available && !s->tls ? " STARTTLS" : "", " AUTH");
		smtp_reply(out, "214 2.0.0 End of HELP info");
		return 0;
	case SMTP_VERB_STARTTLS:
		return cmd_starttls(s, out);
	case SMTP_VERB_AUTH:
		return smtp_auth_command(s, c.arg, c.arg_len, out);
	case SMTP_VERB_BDAT:
		return error(s, out, "502 5.5.1 Error: BDAT not implemented (no CHUNKING)");
	case SMTP_VERB_HTTP:
		(void)event_add(s, SMTP_EVENT_HTTP);
		smtp_reply(out, "421 4.7.0 %s This is an SMTP server, closing", s->cfg.hostname);
		s->closing = true;
		return SMTP_ACT_CLOSE;
	case SMTP_VERB_UNKNOWN:
		break;
	}
	return error(s, out, "502 5.5.2 Error: command not recognized");
}
