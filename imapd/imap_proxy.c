/* imap_proxy.c - osd imapd in proxy mode (imap_backend): the client's LOGIN or AUTHENTICATE is tried at the backend IMAP server, and on its OK the rest of the connection is relayed there unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "imap_session_int.h"
#include "imapd.h"
#include "proxy_backend.h"
#include "proxy_relay.h"
#include "xmalloc.h"

/* The tags osd uses toward the backend (never seen by the client). */
#define TAG_STARTTLS "osd1"
#define TAG_LOGIN "osd2"

/* One connection's proxy state (in the child). */
struct imap_proxy {
	struct proxy_settings ps;
	struct proxy_backend b;
	bool local_auth;                /* proxy_auth = local: vpasswd first */
	bool ready;                     /* logged in at the backend: relay */
	struct buf untagged;            /* the backend's untagged lines during LOGIN, for the client */
	char ok_text[1024];             /* the tagged OK after its tag ("OK [CAPABILITY ...] Logged in") */
};

struct imap_proxy *
imap_proxy_new(const struct imapd *d)
{
	struct imap_proxy *x = xcalloc(1, sizeof(*x));

	x->local_auth = daemon_proxy_settings(&d->conf, d->conf.imap_backend, d->proxy_client,
					      &x->ps);
	x->b.c.fd = -1;
	buf_init(&x->untagged, 64 * 1024);
	return x;
}

void
imap_proxy_free(struct imap_proxy *x)
{
	if (x == NULL)
		return;
	proxy_backend_close(&x->b);
	buf_free(&x->untagged);
	free(x);
}

/* Does text begin with word followed by a space or its end (no case)? */
static bool
word_is(const char *text, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(text, word, n) == 0 && (text[n] == '\0' || text[n] == ' ');
}

int
imap_proxy_tagged(const char *text)
{
	/* RFC 5530: the codes that say the trouble is the server's or the link's, not the credentials. */
	static const char *const temporary[] = {
		"[UNAVAILABLE", "[SERVERBUG", "[PRIVACYREQUIRED", "[INUSE", "[LIMIT", "[CLIENTBUG",
	};
	const char *code;
	size_t i;

	if (word_is(text, "OK"))
		return IMAP_CHECK_OK;
	if (!word_is(text, "NO"))
		return IMAP_CHECK_TEMPFAIL;     /* BAD or not IMAP: osd's or the backend's fault */
	code = text[2] == ' ' ? text + 3 : text + 2;
	for (i = 0; i < sizeof(temporary) / sizeof(temporary[0]); i++) {
		size_t n = strlen(temporary[i]);

		if (strncasecmp(code, temporary[i], n) == 0 && (code[n] == ']' || code[n] == ' '))
			return IMAP_CHECK_TEMPFAIL;
	}
	/* [AUTHENTICATIONFAILED], [AUTHORIZATIONFAILED], [EXPIRED], or no code: refused. */
	return IMAP_CHECK_BAD;
}

size_t
imap_proxy_login_command(struct buf *out, const char *tag, const char *user, const char *password,
			 size_t waits_r[2])
{
	const char *args[2] = { user, password };
	size_t n = 0, i;

	(void)buf_printf(out, "%s LOGIN", tag);
	for (i = 0; i < 2; i++) {
		size_t len = strlen(args[i]);

		(void)buf_append_char(out, ' ');
		if (imap_quotable(args[i], len)) {
			imap_write_quoted(out, args[i], len);
			continue;
		}
		/* RFC 3501 section 4.3: a synchronizing literal; the backend's "+" comes first. */
		(void)buf_printf(out, "{%zu}\r\n", len);
		waits_r[n++] = out->len;
		(void)buf_append(out, args[i], len);
	}
	(void)buf_append(out, "\r\n", 2);
	return n;
}

/*
 * Read the backend's lines until the one tagged tag: its text after the
 * tag in *text_r.  Untagged lines go to keep (when not NULL); with
 * want_plus, a continuation request "+" ends the wait as well (*text_r
 * NULL).  0, or -1 with err.
 */
static int
await(struct imap_proxy *x, const char *tag, bool want_plus, struct buf *keep, char **text_r,
      char *err, size_t errsize)
{
	size_t tlen = strlen(tag), len;
	char *line;

	for (;;) {
		if (proxy_backend_line(&x->b, &line, &len, err, errsize) == -1)
			return -1;
		if (want_plus && line[0] == '+') {
			*text_r = NULL;
			return 0;
		}
		if (strncmp(line, tag, tlen) == 0 && line[tlen] == ' ') {
			*text_r = line + tlen + 1;
			return 0;
		}
		if (line[0] == '*' && keep != NULL && buf_printf(keep, "%s\r\n", line) == -1) {
			snprintf(err, errsize, "backend %s: too many untagged lines", x->ps.backend);
			return -1;
		}
	}
}

/* Connect, greet, STARTTLS when asked, LOGIN: an imap_check_result. */
static int
backend_login(struct imap_proxy *x, const char *login, const char *password, char *err,
	      size_t errsize)
{
	struct buf cmd;
	size_t waits[2], nwaits, sent = 0, len, i;
	char *line, *text;
	int r = IMAP_CHECK_TEMPFAIL;

	if (proxy_backend_open(&x->b, &x->ps, err, errsize) == -1)
		return IMAP_CHECK_TEMPFAIL;
	if (proxy_backend_line(&x->b, &line, &len, err, errsize) == -1)
		return IMAP_CHECK_TEMPFAIL;
	/* RFC 3501 section 7.1: "* OK" greets; PREAUTH (no login) or BYE is not a store to proxy to. */
	if (strncasecmp(line, "* OK", 4) != 0) {
		snprintf(err, errsize, "backend %s: greeting: %.200s", x->ps.backend, line);
		return IMAP_CHECK_TEMPFAIL;
	}
	if (x->ps.tls == PROXY_TLS_STARTTLS) {
		static const char starttls[] = TAG_STARTTLS " STARTTLS\r\n";

		if (proxy_backend_send(&x->b, starttls, sizeof(starttls) - 1, err, errsize) == -1 ||
		    await(x, TAG_STARTTLS, false, NULL, &text, err, errsize) == -1)
			return IMAP_CHECK_TEMPFAIL;
		if (!word_is(text, "OK")) {
			snprintf(err, errsize, "backend %s: STARTTLS: %.200s", x->ps.backend, text);
			return IMAP_CHECK_TEMPFAIL;
		}
		if (proxy_backend_starttls(&x->b, &x->ps, err, errsize) == -1)
			return IMAP_CHECK_TEMPFAIL;
	}
	buf_init(&cmd, 0);
	nwaits = imap_proxy_login_command(&cmd, TAG_LOGIN, login, password, waits);
	/* Up to each literal's announcement, then its "+", then on. */
	for (i = 0; i <= nwaits; i++) {
		size_t upto = i < nwaits ? waits[i] : cmd.len;

		if (proxy_backend_send(&x->b, cmd.data + sent, upto - sent, err, errsize) == -1)
			goto out;
		sent = upto;
		if (i == nwaits)
			break;
		if (await(x, TAG_LOGIN, true, NULL, &text, err, errsize) == -1)
			goto out;
		if (text != NULL) {
			/* The literal was refused (too long, or the login already judged). */
			r = imap_proxy_tagged(text);
			snprintf(err, errsize, "backend %s: LOGIN: %.200s", x->ps.backend, text);
			goto out;
		}
	}
	if (await(x, TAG_LOGIN, false, &x->untagged, &text, err, errsize) == -1)
		goto out;
	r = imap_proxy_tagged(text);
	if (r == IMAP_CHECK_OK)
		snprintf(x->ok_text, sizeof(x->ok_text), "%s", text);
	else
		/* The backend's words for the log: a reply never holds the password. */
		snprintf(err, errsize, "backend %s: LOGIN: %.200s", x->ps.backend, text);
out:
	explicit_bzero(cmd.data, cmd.cap);
	buf_free(&cmd);
	return r;
}

int
imap_proxy_check_password(void *vctx, const char *login, const char *password, char **root_r,
			  char *err, size_t errsize)
{
	struct imap_login_ctx *ctx = vctx;
	struct imap_proxy *x = ctx->proxy;
	int r;

	*root_r = NULL;
	if (x->local_auth) {
		/* proxy_auth = local: vpasswd decides first; a refusal never reaches the backend. */
		r = imap_auth_check_password(vctx, login, password, root_r, err, errsize);
		free(*root_r);
		*root_r = NULL;
		if (r != IMAP_CHECK_OK)
			return r;
	} else {
		ctx->no_relay = false;
	}
	buf_reset(&x->untagged);
	r = backend_login(x, login, password, err, errsize);
	if (r != IMAP_CHECK_OK) {
		/* A new connection for the next try: the backend may have its own limits. */
		proxy_backend_close(&x->b);
		return r;
	}
	x->ready = true;
	/* The session wants a root; it is never used in handoff mode. */
	*root_r = xstrdup("");
	return IMAP_CHECK_OK;
}

void
imap_proxy_answer(const struct imap_proxy *x, const char *tag, struct buf *out)
{
	/* The backend's untagged words, then its tagged OK (its CAPABILITY code) under the client's tag. */
	(void)buf_append(out, x->untagged.data, x->untagged.len);
	(void)buf_printf(out, "%s %s\r\n", tag, x->ok_text);
}

bool
imap_proxy_ready(const struct imap_proxy *x)
{
	return x != NULL && x->ready;
}

void
imap_proxy_relay(struct imap_proxy *x, struct netconn *client, const char *addr, const char *user)
{
	proxy_relay_logged(client, &x->b.c, x->ps.idle_ms, addr, user, x->ps.backend);
}
