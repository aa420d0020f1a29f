/* server.h - the parent side of a fork-per-connection daemon: listeners, connection caps, children, failure throttling, signals. */
#ifndef OSD_SERVER_H
#define OSD_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ipaddr.h"
#include "listen.h"

#define SERVER_MAX_LISTENERS (3 * LISTEN_MAX_FDS)

struct server;

struct server_hooks {
	void *ctx;
	/*
	 * In the child: serve the connection fd from addr, accepted on a
	 * listener of the given kind (the value given to server_bind), and
	 * _exit.  prior_failures: failed logins from addr recently reported
	 * by other children, summed over every login name tried (for the
	 * login delay).  Must not return (C11
	 * allows no noreturn on a function pointer; server.c _exits if it does).
	 */
	void (*serve)(void *ctx, int fd, const struct ipaddr *addr, int kind,
		      unsigned prior_failures);
	/*
	 * Instead of serve (set one of the two): serve the connection, close
	 * fd, and return true when nothing of this session stays in the
	 * process that the next client must not meet (then, with reuse on,
	 * see server_set_reuse, the same process waits for another
	 * connection); or _exit as serve does.
	 */
	bool (*serve_many)(void *ctx, int fd, const struct ipaddr *addr, int kind,
			   unsigned prior_failures);
	/* SIGHUP in the parent: re-read what can change; may call server_set_limits. */
	void (*reload)(void *ctx);
	/*
	 * The one line (with CRLF) a refused connection gets on a plain
	 * listener ("-ERR [SYS/TEMP] ..." or "421 4.7.0 ..."); TLS listeners
	 * get nothing.
	 */
	const char *refuse_reply;
};

/* A server with no listeners; signals are set up by server_run. */
struct server *server_new(const struct server_hooks *hooks);

/*
 * Bind spec ("host:port", see listen.h) for listeners of kind; tls says
 * the kind speaks TLS from the first byte (no plain refusal text).  An
 * empty spec binds nothing.  Exits via fatalx naming key on failure.
 */
void server_bind(struct server *srv, const char *key, const char *spec, int kind, bool tls);

/* Connections at once, and at once from one address (0 < both). */
void server_set_limits(struct server *srv, unsigned max_connections, unsigned max_per_ip);

/* Serve until SIGTERM/SIGINT, then stop the children (SIGTERM, then SIGKILL after a grace time). */
/*
 * With serve_many: a session process may serve up to max connections, one
 * after another, before it exits (0: one each, a fresh process per
 * connection).  A change retires the processes that wait, and none that
 * is busy is used again: they hold the settings of before.
 */
void server_set_reuse(struct server *srv, unsigned max);

void server_run(struct server *srv);

/* Frees the server (listeners already closed by server_run). */
void server_free(struct server *srv);

/*
 * In a child: tell the parent whether a login of login failed or
 * succeeded (for throttling).  login is the name as the login check
 * normalises it (userdb_login_key: "user@domain"), "" for one that can
 * never log in.  The parent counts failures per client address and
 * login; a success clears only that login's count from this address.
 */
void server_report_login(const char *login, bool ok);

/*
 * In a child, after a failed login of login (as server_report_login):
 * report it and wait before the reply (server_fail_delay_ms of failures,
 * the recent ones from this address against any login, including this
 * one), so password guessing is slowed down.  The wait never goes past
 * deadline (monotonic ms, 0: none), the session's own end, so a session
 * of failed logins ends at its deadline like any other.
 */
void server_login_failed(const char *login, unsigned failures, long long deadline);

/* The delay before answering a failed login: 1 s, doubling after the third recent failure, up to 30 s. */
long server_fail_delay_ms(unsigned failures);

#endif
