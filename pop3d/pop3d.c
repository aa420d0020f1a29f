/* pop3d.c - osd pop3d: bind the listeners, drop root, and serve each connection in its own child process. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "hashgate.h"
#include "log.h"
#include "pop3d.h"
#include "server.h"
#include "tls.h"

static const char refuse_reply[] = "-ERR [SYS/TEMP] Too many connections, try again later.\r\n";

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd pop3d [-c FILE]\n"
		     "The POP3 server (RFC 1939, APOP, STLS, AUTH PLAIN/LOGIN/CRAM-MD5):\n"
		     "listen on pop3_listen (and pop3s_listen, implicit TLS), drop root to the config's user, serve\n"
		     "each connection in a child process, and record the client address in\n"
		     "open-smtp/ on every successful login.  With pop3_backend, a proxy: logins\n"
		     "go to that server, and on its +OK the session is relayed there.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGHUP re-reads the limits, the user settings and the certificate;\n"
		     "SIGTERM stops.\n");
}

/* SIGHUP (server_hooks.reload): take what can change without new sockets or privileges. */
static void
reload(void *vpd)
{
	struct pop3d *pd = vpd;
	struct osd_conf n;

	if (daemon_reload(&pd->conf, &n, &pd->tls) == -1)
		return;
	pd->conf.pop3_timeout = n.pop3_timeout;
	pd->conf.pop3_session_deadline = n.pop3_session_deadline;
	pd->conf.pop3_max_connections = n.pop3_max_connections;
	pd->conf.pop3_max_per_ip = n.pop3_max_per_ip;
	pd->conf.pop3_plaintext = n.pop3_plaintext;
	pd->conf.pop3_loopback_plaintext = n.pop3_loopback_plaintext;
	pd->conf.pop3_max_auth_failures = n.pop3_max_auth_failures;
	pd->conf.maildir_tmp_max_age = n.maildir_tmp_max_age;
	pd->conf.relay_ipv6_prefix = n.relay_ipv6_prefix;
	memcpy(pd->conf.users_dir, n.users_dir, sizeof(n.users_dir));
	memcpy(pd->conf.default_domain, n.default_domain, sizeof(n.default_domain));
	daemon_proxy_reload(&pd->conf, &n, pd->conf.pop3_backend, n.pop3_backend,
			    sizeof(n.pop3_backend), &pd->proxy_client);
	server_set_limits(pd->server, pd->conf.pop3_max_connections, pd->conf.pop3_max_per_ip);
	log_info("SIGHUP: configuration re-read");
}

int
main(int argc, char **argv)
{
	static struct pop3d pd;
	struct server_hooks hooks = {
		.ctx = &pd, .serve = pop3d_serve, .reload = reload, .refuse_reply = refuse_reply,
	};
	const char *conf_arg = NULL;

	conf_arg = cli_conf_only(argc, argv, "pop3d", usage);
	cli_load_conf(&pd.conf, conf_arg);
	daemon_log_init(&pd.conf, "pop3d");
	if (pd.conf.pop3_listen[0] == '\0' && pd.conf.pop3s_listen[0] == '\0')
		fatalx("neither pop3_listen nor pop3s_listen is set: nothing to listen on");
	pd.tls = daemon_tls_load(&pd.conf, "pop3s_listen", pd.conf.pop3s_listen);
	pd.proxy_client = daemon_proxy_load(&pd.conf, pd.conf.pop3_backend);

	pd.server = server_new(&hooks);
	server_bind(pd.server, "pop3_listen", pd.conf.pop3_listen, POP3D_PLAIN, false);
	server_bind(pd.server, "pop3s_listen", pd.conf.pop3s_listen, POP3D_IMPLICIT_TLS, true);
	pd.opensmtp_fd = daemon_drop_recording(&pd.conf, "pop3d", pd.opensmtp_dir,
					       sizeof(pd.opensmtp_dir));

	server_set_limits(pd.server, pd.conf.pop3_max_connections, pd.conf.pop3_max_per_ip);
	/* Before the first fork: a bound on password hashes at once across sessions (hashgate.h). */
	if (hashgate_init(hashgate_default_slots()) == -1)
		log_warn("hashgate: password checks at once are not bounded");
	log_info("ready: max %u connections, %u per address, idle timeout %lds, TLS %s%s%s%s%s",
		 pd.conf.pop3_max_connections, pd.conf.pop3_max_per_ip, pd.conf.pop3_timeout,
		 pd.tls != NULL ? "on" : "off",
		 pd.conf.pop3_backend[0] != '\0' ? ", proxy to " : "", pd.conf.pop3_backend,
		 pd.conf.pop3_backend[0] != '\0' ? " tls " : "",
		 pd.conf.pop3_backend[0] != '\0' ? pd.conf.proxy_tls : "");
	server_run(pd.server);

	server_free(pd.server);
	tls_server_free(pd.tls);
	tls_client_free(pd.proxy_client);
	close(pd.opensmtp_fd);
	log_info("stopped");
	return 0;
}
