/* imapd.h - what the parts of osd imapd share: the running settings, the login hooks, the session in its child. */
#ifndef OSD_IMAPD_H
#define OSD_IMAPD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>

#include "conf.h"
#include "ipaddr.h"

struct server;
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
};

/* What the login hooks need, and what they found out for the session loop. */
struct imap_login_ctx {
	const struct imapd *d;
	bool no_relay;                  /* the user has the vpasswd flag NO_RELAY */
};

/* imap_session_config.check_password over vpasswd (LOGIN_IMAP: NO_IMAP refuses); *root_r is HOME/Maildir. */
int imap_auth_check_password(void *vctx, const char *login, const char *password, char **root_r,
			     char *err, size_t errsize);

/* imap_session_config.get_secret: the cleartext vpasswd field, for CRAM-MD5. */
int imap_auth_get_secret(void *vctx, const char *login, char **secret_r, char **root_r, char *err,
			 size_t errsize);

/* Record addr in open-smtp/ after a login (a warning in the log when that fails). */
void imap_auth_record_login(const struct imapd *d, const struct ipaddr *addr, const char *text,
			    const char *user);

/* server_hooks.serve: one IMAP session in the child (ctx: the struct imapd). */
noreturn void imapd_serve(void *ctx, int fd, const struct ipaddr *addr, int kind,
			  unsigned prior_failures);

#endif
