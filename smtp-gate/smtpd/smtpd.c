/* smtpd.c - osd smtpd: bind the SMTP, submission and SMTPS listeners, drop root, and serve each connection in a child. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "hashgate.h"
#include "log.h"
#include "metrics_attach.h"
#include "path.h"
#include "queue.h"
#include "rules.h"
#include "runas.h"
#include "server.h"
#include "smtpd.h"
#include "tls.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd smtpd [-c FILE]\n"
		     "The SMTP gate, receiving side (RFC 5321 ESMTP with PIPELINING, SIZE,\n"
		     "8BITMIME, STARTTLS, AUTH PLAIN/LOGIN/CRAM-MD5): listen on smtp_listen,\n"
		     "submission_listen (AUTH before MAIL) and smtps_listen (implicit TLS), drop\n"
		     "root, decide relaying per connection from relay.cdb, and queue each\n"
		     "accepted message durably in state_dir/queue before answering 250.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGHUP re-reads the limits, the user settings and the certificate;\n"
		     "control files are read afresh for every connection; SIGTERM stops.\n");
}

/* Connections one session process serves at most (Postfix's max_use). */
#define SMTPD_PROCESS_USES 100

static struct smtpd smtpd;
static struct rules_file rules;
static struct server *server;

/* SIGHUP: what can change without new sockets or privileges. */
static void
reload(void *ctx)
{
	struct smtpd *d = ctx;
	struct osd_conf n;
	char err[1024];

	if (daemon_reload(&d->conf, &n, &d->tls) == -1)
		return;
	if (rules_file_refresh(d->rules, d->conf.rules, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: rules: %s (keeping the rules in force)", err);
	d->conf.smtp_max_connections = n.smtp_max_connections;
	d->conf.smtp_max_per_ip = n.smtp_max_per_ip;
	d->conf.smtp_loopback_plaintext = n.smtp_loopback_plaintext;
	d->conf.smtp_process_reuse = n.smtp_process_reuse;
	server_set_reuse(server, d->conf.smtp_process_reuse ? SMTPD_PROCESS_USES : 0);
	d->conf.received_auth_user = n.received_auth_user;
	d->conf.smtp_session_deadline = n.smtp_session_deadline;
	d->conf.smtp_min_data_rate = n.smtp_min_data_rate;
	d->conf.smtp_max_errors = n.smtp_max_errors;
	d->conf.smtp_max_auth_failures = n.smtp_max_auth_failures;
	d->conf.relay_expire = n.relay_expire;
	d->conf.relay_ipv6_prefix = n.relay_ipv6_prefix;
	memcpy(d->conf.rules, n.rules, sizeof(n.rules));
	d->conf.fsync = n.fsync;
	memcpy(d->conf.control_dir, n.control_dir, sizeof(n.control_dir));
	memcpy(d->conf.users_dir, n.users_dir, sizeof(n.users_dir));
	memcpy(d->conf.default_domain, n.default_domain, sizeof(n.default_domain));
	server_set_limits(server, d->conf.smtp_max_connections, d->conf.smtp_max_per_ip);
	log_info("SIGHUP: configuration re-read");
}

int
main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
		.ctx = &smtpd,
		.serve_many = smtpd_serve,
		.reload = reload,
		.refuse_reply = "421 4.7.0 Too many connections, try again later\r\n",
	};
	struct smtpd *d = &smtpd;
	const char *conf_arg = NULL;
	struct runas ra;
	char err[PATH_MAX + 256];

	conf_arg = cli_conf_only(argc, argv, "smtpd", usage);
	cli_load_conf(&d->conf, conf_arg);
	daemon_log_init(&d->conf, "smtpd");
	if (d->conf.smtp_listen[0] == '\0' && d->conf.submission_listen[0] == '\0' &&
	    d->conf.smtps_listen[0] == '\0')
		fatalx("none of smtp_listen, submission_listen, smtps_listen is set: nothing to listen on");

	d->tls = daemon_tls_load(&d->conf, "smtps_listen", d->conf.smtps_listen);

	if ((server = server_new(&hooks)) == NULL)
		fatalx("out of memory");
	server_set_limits(server, d->conf.smtp_max_connections, d->conf.smtp_max_per_ip);
	/* Before the first fork: a bound on password hashes at once across sessions (hashgate.h). */
	if (hashgate_init(hashgate_default_slots()) == -1)
		log_warn("hashgate: password checks at once are not bounded");
	server_set_reuse(server, d->conf.smtp_process_reuse ? SMTPD_PROCESS_USES : 0);
	server_bind(server, "smtp_listen", d->conf.smtp_listen, SMTPD_KIND_SMTP, false);
	server_bind(server, "submission_listen", d->conf.submission_listen, SMTPD_KIND_SUBMISSION,
		    false);
	server_bind(server, "smtps_listen", d->conf.smtps_listen, SMTPD_KIND_SMTPS, true);

	if (conf_relay_cdb(&d->conf, d->relay_cdb, sizeof(d->relay_cdb)) == -1 ||
	    conf_opensmtp_dir(&d->conf, d->opensmtp_dir, sizeof(d->opensmtp_dir)) == -1 ||
	    path_join(d->queue_dir, sizeof(d->queue_dir), d->conf.state_dir, "queue") == -1)
		fatalx("state_dir: path too long");
	/* Static rules tell the administrator's records in relay.cdb from logins
	 * (read while still root, like the certificate). */
	rules_file_init(&rules);
	d->rules = &rules;
	if (rules_file_refresh(d->rules, d->conf.rules, err, sizeof(err)) == -1)
		fatalx("rules: %s", err);
	/* Every mailbox and vpasswd belongs to mail_user: run as it when no user is given
	 * (runas_user).  The queue folders we write are handed to that user; open-smtp/
	 * is only read, and made (with the same owner) when missing. */
	metrics_attach(&d->conf, false);
	if (runas_init(&ra, &d->conf, err, sizeof(err)) == -1 ||
	    queue_prepare(&ra, d->conf.state_dir, false, err, sizeof(err)) == -1 ||
	    runas_opensmtp(&ra, &d->conf, RUNAS_READ, err, sizeof(err)) == -1 ||
	    runas_drop(&ra, err, sizeof(err)) == -1)
		runas_refuse("smtpd", err);
	/* Kept open for relay_decide's check that a dynamic entry has not expired. */
	if ((d->opensmtp_fd = open(d->opensmtp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", d->opensmtp_dir);
	log_info("ready: max %u connections, %u per address, TLS %s, queue %s",
		 d->conf.smtp_max_connections, d->conf.smtp_max_per_ip, d->tls != NULL ? "on" : "off",
		 d->queue_dir);

	server_run(server);

	server_free(server);
	tls_server_free(d->tls);
	rules_file_free(d->rules);
	if (d->opensmtp_fd != -1)
		close(d->opensmtp_fd);
	log_info("stopped");
	return 0;
}
