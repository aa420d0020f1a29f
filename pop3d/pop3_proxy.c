/* pop3_proxy.c - osd pop3d in proxy mode (pop3_backend): the client's USER/PASS or AUTH is tried at the backend POP3 server, and on its +OK the rest of the connection is relayed there unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "login.h"
#include "pop3_session.h"
#include "pop3d.h"
#include "proxy_backend.h"
#include "proxy_relay.h"
#include "xmalloc.h"

/* One connection's proxy state (in the child). */
struct pop3_proxy {
	struct proxy_settings ps;
	struct proxy_backend b;
	bool local_auth;                /* proxy_auth = local: vpasswd first */
	bool ready;                     /* logged in at the backend: relay */
	char ok_line[512];              /* the backend's +OK, for the client */
};

struct pop3_proxy *
pop3_proxy_new(const struct pop3d *pd)
{
	struct pop3_proxy *x = xcalloc(1, sizeof(*x));

	x->local_auth = daemon_proxy_settings(&pd->conf, pd->conf.pop3_backend, pd->proxy_client,
					      &x->ps);
	x->b.c.fd = -1;
	return x;
}

void
pop3_proxy_free(struct pop3_proxy *x)
{
	if (x == NULL)
		return;
	proxy_backend_close(&x->b);
	free(x);
}

/* "+OK" or "-ERR" as a whole word at the start of line? */
static bool
status_is(const char *line, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(line, word, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

int
pop3_proxy_reply(const char *line)
{
	const char *code;

	if (status_is(line, "+OK"))
		return SESSION_CHECK_OK;
	if (!status_is(line, "-ERR"))
		return SESSION_CHECK_TEMPFAIL;  /* not POP3: the backend is broken, not the user */
	code = line[4] == ' ' ? line + 5 : line + 4;
	/*
	 * RFC 3206: SYS/TEMP, SYS/PERM are the server's trouble, IN-USE a
	 * locked maildrop, LOGIN-DELAY (RFC 2449) a rate limit: none says the
	 * credentials are wrong, so none counts as a failed login.  [AUTH] and
	 * a -ERR without a code are a refused login.
	 */
	if (strncasecmp(code, "[SYS/", 5) == 0 || strncasecmp(code, "[IN-USE]", 8) == 0 ||
	    strncasecmp(code, "[LOGIN-DELAY]", 13) == 0)
		return SESSION_CHECK_TEMPFAIL;
	return SESSION_CHECK_BAD;
}

/* One command and its one-line reply: the reply's verdict, with why in err unless +OK. */
static int
command(struct pop3_proxy *x, const char *verb, const char *arg, char **reply_r, char *err,
	size_t errsize)
{
	char cmd[SASL_FIELD_MAX * 2 + 16];
	size_t len;
	int n, r;

	n = snprintf(cmd, sizeof(cmd), "%s%s%s\r\n", verb, arg != NULL ? " " : "",
		     arg != NULL ? arg : "");
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		snprintf(err, errsize, "%s: too long for the backend", verb);
		return SESSION_CHECK_BAD;
	}
	r = proxy_backend_send(&x->b, cmd, (size_t)n, err, errsize);
	explicit_bzero(cmd, sizeof(cmd));
	if (r == -1 || proxy_backend_line(&x->b, reply_r, &len, err, errsize) == -1)
		return SESSION_CHECK_TEMPFAIL;
	r = pop3_proxy_reply(*reply_r);
	if (r != SESSION_CHECK_OK)
		/* The backend's words for the log: a reply never holds the password. */
		snprintf(err, errsize, "backend %s: %s: %.200s", x->ps.backend, verb, *reply_r);
	return r;
}

/* Connect, greet, STLS when asked, USER and PASS: a session_check_result. */
static int
backend_login(struct pop3_proxy *x, const char *login, const char *password, char *err,
	      size_t errsize)
{
	char *line;
	size_t len;
	int r;

	if (proxy_backend_open(&x->b, &x->ps, err, errsize) == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (proxy_backend_line(&x->b, &line, &len, err, errsize) == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (!status_is(line, "+OK")) {
		snprintf(err, errsize, "backend %s: greeting: %.200s", x->ps.backend, line);
		return SESSION_CHECK_TEMPFAIL;
	}
	if (x->ps.tls == PROXY_TLS_STARTTLS) {
		/* RFC 2595 section 4: STLS, then everything again over TLS. */
		if ((r = command(x, "STLS", NULL, &line, err, errsize)) != SESSION_CHECK_OK)
			return SESSION_CHECK_TEMPFAIL;
		if (proxy_backend_starttls(&x->b, &x->ps, err, errsize) == -1)
			return SESSION_CHECK_TEMPFAIL;
	}
	/* RFC 1939 section 7: USER and PASS, what every POP3 server takes. */
	if ((r = command(x, "USER", login, &line, err, errsize)) != SESSION_CHECK_OK)
		return r;
	if ((r = command(x, "PASS", password, &line, err, errsize)) != SESSION_CHECK_OK)
		return r;
	snprintf(x->ok_line, sizeof(x->ok_line), "%s", line);
	return SESSION_CHECK_OK;
}

int
pop3_proxy_check_password(void *vctx, const char *login, const char *password, char **home_r,
			  char *err, size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct pop3_proxy *x = ctx->proxy;
	int r;

	*home_r = NULL;
	/* A line break in a password from AUTH would end the PASS line early: never send one. */
	if (strpbrk(password, "\r\n") != NULL) {
		snprintf(err, errsize, "a line break in the password");
		return SESSION_CHECK_BAD;
	}
	if (x->local_auth) {
		/* proxy_auth = local: vpasswd decides first; a refusal never reaches the backend. */
		r = auth_check_password(vctx, login, password, home_r, err, errsize);
		free(*home_r);
		*home_r = NULL;
		if (r != SESSION_CHECK_OK)
			return r;
	} else {
		ctx->no_relay = false;
	}
	r = backend_login(x, login, password, err, errsize);
	if (r != SESSION_CHECK_OK) {
		/* A new connection for the next try: the backend may have its own limits. */
		proxy_backend_close(&x->b);
		return r;
	}
	x->ready = true;
	/* The session wants a home; it is never used in handoff mode. */
	*home_r = xstrdup("");
	return SESSION_CHECK_OK;
}

void
pop3_proxy_answer(const struct pop3_proxy *x, struct buf *out)
{
	(void)buf_printf(out, "%s\r\n", x->ok_line);
}

bool
pop3_proxy_ready(const struct pop3_proxy *x)
{
	return x != NULL && x->ready;
}

void
pop3_proxy_relay(struct pop3_proxy *x, struct netconn *client, const char *addr, const char *user)
{
	proxy_relay_logged(client, &x->b.c, x->ps.idle_ms, addr, user, x->ps.backend);
}
