/* pop3d.h - what the parts of osd pop3d share: the running settings, the login hooks, the session loop. */
#ifndef OSD_POP3D_H
#define OSD_POP3D_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>

#include "conf.h"
#include "ipaddr.h"

struct buf;
struct netconn;
struct pop3_proxy;
struct server;
struct tls_client;
struct tls_server;

/* The listener kinds given to server_bind. */
enum pop3d_listener_kind {
	POP3D_PLAIN = 0,                /* pop3_listen: plaintext, STLS on request */
	POP3D_IMPLICIT_TLS = 1          /* pop3s_listen: TLS from the first byte */
};

/* The daemon's state; the parent changes it on SIGHUP, each child has its copy. */
struct pop3d {
	struct osd_conf conf;
	struct tls_server *tls;         /* NULL: no certificate, no STLS */
	char opensmtp_dir[PATH_MAX];
	int opensmtp_fd;                /* opensmtp_dir, opened before the folder can move */
	struct server *server;
	struct tls_client *proxy_client;        /* proxy mode with proxy_tls: the backend's TLS */
};

/* What the login hooks need, and what they found out for the session loop. */
struct login_ctx {
	const struct pop3d *pd;
	bool no_relay;                  /* the user has the vpasswd flag NO_RELAY */
	struct pop3_proxy *proxy;       /* proxy mode (pop3_backend set); NULL: local mailboxes */
};

/* session_config.check_password over vpasswd (ctx: a struct login_ctx). */
int auth_check_password(void *vctx, const char *login, const char *password, char **home_r,
			char *err, size_t errsize);

/* session_config.get_secret: the cleartext vpasswd field, for APOP and CRAM-MD5. */
int auth_get_secret(void *vctx, const char *login, char **secret_r, char **home_r, char *err,
		    size_t errsize);

/* Record addr in open-smtp/ after a login: 0, or -1 when it could not be (a warning is logged). */
int auth_record_login(const struct pop3d *pd, const struct ipaddr *addr, const char *text,
		       const char *user);

/* Proxy mode (pop3_proxy.c): one connection's link to pop3_backend, made in the child. */
struct pop3_proxy *pop3_proxy_new(const struct pop3d *pd);
void pop3_proxy_free(struct pop3_proxy *x);

/*
 * session_config.check_password in proxy mode (ctx: a struct login_ctx
 * with proxy set): with proxy_auth = local, vpasswd first; then the login
 * at the backend (connect, greeting, STLS when proxy_tls = starttls, USER,
 * PASS).  Its -ERR is SESSION_CHECK_BAD (or TEMPFAIL for [SYS/...],
 * [IN-USE], [LOGIN-DELAY]); a backend that cannot be reached or whose
 * certificate fails is SESSION_CHECK_TEMPFAIL.  err never holds the password.
 */
int pop3_proxy_check_password(void *vctx, const char *login, const char *password, char **home_r,
			      char *err, size_t errsize);

/* The verdict of a backend's reply line: SESSION_CHECK_OK (+OK), _BAD or _TEMPFAIL (see above). */
int pop3_proxy_reply(const char *line);

/* After SESSION_ACT_HANDOFF: append the backend's +OK line for the client. */
void pop3_proxy_answer(const struct pop3_proxy *x, struct buf *out);

/* Logged in at the backend (x may be NULL)? */
bool pop3_proxy_ready(const struct pop3_proxy *x);

/* Relay the rest of the connection to the backend, and log how it went (proxy_relay_logged). */
void pop3_proxy_relay(struct pop3_proxy *x, struct netconn *client, const char *addr, const char *user);

/* server_hooks.serve: one POP3 session in the child (ctx: the struct pop3d). */
noreturn void pop3d_serve(void *ctx, int fd, const struct ipaddr *addr, int kind,
			  unsigned prior_failures);

#endif
