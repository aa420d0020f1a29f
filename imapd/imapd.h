/* imapd.h - what the parts of osd imapd share: the running settings, the login hooks, the session in its child. */
#ifndef OSD_IMAPD_H
#define OSD_IMAPD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>

#include "conf.h"
#include "ipaddr.h"

struct buf;
struct imap_proxy;
struct netconn;
struct server;
struct tls_client;
struct tls_server;

/* The listener kinds given to server_bind. */
enum imapd_listener_kind {
	IMAPD_PLAIN = 0,                /* imap_listen: plaintext, STARTTLS on request */
	IMAPD_IMPLICIT_TLS = 1          /* imaps_listen: TLS from the first byte */
};

/* The daemon's state; the parent changes it on SIGHUP, each child has its copy. */
struct imapd {
	struct osd_conf conf;
	struct tls_server *tls;         /* NULL: no certificate, no STARTTLS */
	char opensmtp_dir[PATH_MAX];
	int opensmtp_fd;                /* opensmtp_dir, opened before the folder can move */
	struct server *server;
	struct tls_client *proxy_client;        /* proxy mode with proxy_tls: the backend's TLS */
};

/* What the login hooks need, and what they found out for the session loop. */
struct imap_login_ctx {
	const struct imapd *d;
	bool no_relay;                  /* the user has the vpasswd flag NO_RELAY */
	struct imap_proxy *proxy;       /* proxy mode (imap_backend set); NULL: local mailboxes */
};

/* imap_session_config.check_password over vpasswd (LOGIN_IMAP: NO_IMAP refuses); *root_r is HOME/Maildir. */
int imap_auth_check_password(void *vctx, const char *login, const char *password, char **root_r,
			     char *err, size_t errsize);

/* imap_session_config.get_secret: the cleartext vpasswd field, for CRAM-MD5. */
int imap_auth_get_secret(void *vctx, const char *login, char **secret_r, char **root_r, char *err,
			 size_t errsize);

/* Record addr in open-smtp/ after a login: 0, or -1 when it could not be (a warning is logged). */
int imap_auth_record_login(const struct imapd *d, const struct ipaddr *addr, const char *text,
			    const char *user);

/* Proxy mode (imap_proxy.c): one connection's link to imap_backend, made in the child. */
struct imap_proxy *imap_proxy_new(const struct imapd *d);
void imap_proxy_free(struct imap_proxy *x);

/*
 * imap_session_config.check_password in proxy mode (ctx: a struct
 * imap_login_ctx with proxy set): with proxy_auth = local, vpasswd first;
 * then the login at the backend (connect, greeting, STARTTLS when
 * proxy_tls = starttls, LOGIN with quoted strings or literals).  Its NO
 * is IMAP_CHECK_BAD (TEMPFAIL for the codes imap_proxy_tagged names); a
 * backend that cannot be reached or whose certificate fails is
 * IMAP_CHECK_TEMPFAIL.  err never holds the password.
 */
int imap_proxy_check_password(void *vctx, const char *login, const char *password, char **root_r,
			      char *err, size_t errsize);

/*
 * The verdict of a tagged reply's text after the tag: IMAP_CHECK_OK for
 * OK; IMAP_CHECK_TEMPFAIL for BAD, anything not IMAP, and NO with
 * [UNAVAILABLE], [SERVERBUG], [PRIVACYREQUIRED], [INUSE], [LIMIT] or
 * [CLIENTBUG] (RFC 5530); IMAP_CHECK_BAD for any other NO.
 */
int imap_proxy_tagged(const char *text);

/*
 * Append "tag LOGIN user password" CRLF to out, each a quoted string, or a
 * synchronizing literal when it cannot be one (8-bit, CR, LF).  Returns
 * how many literals there are, with in waits_r the offsets in out just
 * after each one's "{n}" CRLF, where the backend's "+" must be awaited.
 */
size_t imap_proxy_login_command(struct buf *out, const char *tag, const char *user,
				const char *password, size_t waits_r[2]);

/* After IMAP_ACT_HANDOFF: append the backend's untagged lines and its OK under the client's tag. */
void imap_proxy_answer(const struct imap_proxy *x, const char *tag, struct buf *out);

/* Logged in at the backend (x may be NULL)? */
bool imap_proxy_ready(const struct imap_proxy *x);

/* Relay the rest of the connection to the backend, and log how it went (proxy_relay_logged). */
void imap_proxy_relay(struct imap_proxy *x, struct netconn *client, const char *addr, const char *user);

/* server_hooks.serve: one IMAP session in the child (ctx: the struct imapd). */
noreturn void imapd_serve(void *ctx, int fd, const struct ipaddr *addr, int kind,
			  unsigned prior_failures);

#endif
