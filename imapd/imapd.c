/* imapd.c - osd imapd: bind the IMAP listeners, drop root, and serve each connection in its own child process. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "hashgate.h"
#include "imap_message.h"
#include "imapd.h"
#include "log.h"
#include "server.h"
#include "tls.h"

static const char refuse_reply[] = "* BYE [UNAVAILABLE] Too many connections, try again later.\r\n";

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd imapd [-c FILE]\n"
		     "The IMAP server (RFC 3501 IMAP4rev1, STARTTLS, AUTHENTICATE PLAIN/LOGIN/CRAM-MD5,\n"
		     "IDLE) over the users' Maildirs: listen on imap_listen (and imaps_listen,\n"
		     "implicit TLS), drop root to the config's user, serve each connection in a\n"
		     "child process, and record the client address in open-smtp/ on every\n"
		     "successful login.  With imap_backend, a proxy: logins go to that server,\n"
		     "and on its OK the session is relayed there.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGHUP re-reads the limits, the user settings and the certificate;\n"
		     "SIGTERM stops.\n");
}

/* SIGHUP (server_hooks.reload): take what can change without new sockets or privileges. */
static void
reload(void *vd)
{
	struct imapd *d = vd;
	struct osd_conf n;

	if (daemon_reload(&d->conf, &n, &d->tls) == -1)
		return;
	d->conf.imap_timeout = n.imap_timeout;
	d->conf.imap_login_timeout = n.imap_login_timeout;
	d->conf.imap_session_deadline = n.imap_session_deadline;
	d->conf.imap_max_connections = n.imap_max_connections;
	d->conf.imap_max_per_ip = n.imap_max_per_ip;
	d->conf.imap_plaintext = n.imap_plaintext;
	d->conf.imap_loopback_plaintext = n.imap_loopback_plaintext;
	d->conf.imap_max_auth_failures = n.imap_max_auth_failures;
	d->conf.imap_max_literal = n.imap_max_literal;
	d->conf.imap_idle_poll = n.imap_idle_poll;
	d->conf.imap_idle_keepalive = n.imap_idle_keepalive;
	d->conf.imap_idle_inotify = n.imap_idle_inotify;
	d->conf.maildir_tmp_max_age = n.maildir_tmp_max_age;
	d->conf.advertise_cram_md5 = n.advertise_cram_md5;
	d->conf.relay_ipv6_prefix = n.relay_ipv6_prefix;
	memcpy(d->conf.users_dir, n.users_dir, sizeof(n.users_dir));
	memcpy(d->conf.default_domain, n.default_domain, sizeof(n.default_domain));
	daemon_proxy_reload(&d->conf, &n, d->conf.imap_backend, n.imap_backend,
			    sizeof(n.imap_backend), &d->proxy_client);
	server_set_limits(d->server, d->conf.imap_max_connections, d->conf.imap_max_per_ip);
	log_info("SIGHUP: configuration re-read");
}

int
main(int argc, char **argv)
{
	static struct imapd d;
	struct server_hooks hooks = {
		.ctx = &d, .serve = imapd_serve, .reload = reload, .refuse_reply = refuse_reply,
	};
	const char *conf_arg;

	conf_arg = cli_conf_only(argc, argv, "imapd", usage);
	cli_load_conf(&d.conf, conf_arg);
	daemon_log_init(&d.conf, "imapd");
	if (d.conf.imap_listen[0] == '\0' && d.conf.imaps_listen[0] == '\0')
		fatalx("neither imap_listen nor imaps_listen is set: nothing to listen on");
	d.tls = daemon_tls_load(&d.conf, "imaps_listen", d.conf.imaps_listen);
	d.proxy_client = daemon_proxy_load(&d.conf, d.conf.imap_backend);

	d.server = server_new(&hooks);
	server_bind(d.server, "imap_listen", d.conf.imap_listen, IMAPD_PLAIN, false);
	server_bind(d.server, "imaps_listen", d.conf.imaps_listen, IMAPD_IMPLICIT_TLS, true);
	d.opensmtp_fd = daemon_drop_recording(&d.conf, "imapd", d.opensmtp_dir, sizeof(d.opensmtp_dir));

	server_set_limits(d.server, d.conf.imap_max_connections, d.conf.imap_max_per_ip);
	/* Before the first fork: a bound on password hashes at once across sessions (hashgate.h). */
	if (hashgate_init(hashgate_default_slots()) == -1)
		log_warn("hashgate: password checks at once are not bounded");
	/* GMime's defaults (FETCH's MIME parsing), once, inherited by every session's child. */
	imap_message_init();
	log_info("ready: max %u connections, %u per address, autologout %lds (%lds before login), "
		 "TLS %s%s%s%s%s", d.conf.imap_max_connections, d.conf.imap_max_per_ip,
		 d.conf.imap_timeout, d.conf.imap_login_timeout, d.tls != NULL ? "on" : "off",
		 d.conf.imap_backend[0] != '\0' ? ", proxy to " : "", d.conf.imap_backend,
		 d.conf.imap_backend[0] != '\0' ? " tls " : "",
		 d.conf.imap_backend[0] != '\0' ? d.conf.proxy_tls : "");
	server_run(d.server);

	server_free(d.server);
	tls_server_free(d.tls);
	tls_client_free(d.proxy_client);
	close(d.opensmtp_fd);
	log_info("stopped");
	return 0;
}
