/* smtpd.h - what the SMTP daemon's start-up (smtpd.c) and its per-connection child (smtp_serve.c) share. */
#ifndef OSD_SMTPD_H
#define OSD_SMTPD_H

#include <limits.h>
#include <stdbool.h>

#include "conf.h"
#include "ipaddr.h"
#include "smtp_session.h"

/* The kinds of listener (server_bind's kind). */
enum smtpd_kind {
	SMTPD_KIND_SMTP,                /* port 25: relay rules and rcpthosts */
	SMTPD_KIND_SUBMISSION,          /* port 587: AUTH before MAIL */
	SMTPD_KIND_SMTPS                /* port 465: implicit TLS, otherwise as submission */
};

struct tls_server;
struct rules_file;

struct smtpd {
	struct osd_conf conf;
	struct tls_server *tls;         /* NULL: no certificate, no STARTTLS */
	char relay_cdb[PATH_MAX];
	char opensmtp_dir[PATH_MAX];
	int opensmtp_fd;                /* for relay_decide's login entries; -1 if unavailable */
	struct rules_file *rules;       /* the rules file, parsed; children refresh it when it changes */
	char queue_dir[PATH_MAX];
};

/* Where smtp_queue_sink writes: its sink_ctx. */
struct smtp_queue_target {
	const char *queue_dir;
	bool fsync;                     /* osd.conf fsync (off only for tests and benchmarks) */
	int new_dirfd;                  /* queue_dir/new for the connection's messages, -1 until the first */
};

/* The session's message sink over the queue writer of queue.h (smtp_serve.c). */
extern const struct smtp_sink smtp_queue_sink;

/*
 * Serve one connection in the child (server_hooks.serve_many): true when
 * the session had neither TLS nor AUTH, so the process may serve another
 * client; it _exits itself when it refuses a client before the session.
 */
bool smtpd_serve(void *ctx, int fd, const struct ipaddr *addr, int kind,
		 unsigned prior_failures);

#endif
