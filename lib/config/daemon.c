/* daemon.c - the start-up and SIGHUP steps shared by osd pop3d, imapd and smtpd, so that none of them repeats the others. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "metrics_attach.h"
#include "proxy_backend.h"
#include "runas.h"
#include "tls.h"

void
daemon_log_init(const struct osd_conf *conf, const char *cmd)
{
	char name[64];

	snprintf(name, sizeof(name), "osd-%s", cmd);
	if (log_init(name, strcmp(conf->log, "syslog") == 0, conf->log_facility) < 0) {
		cli_error(cmd, "log_facility %s: unknown", conf->log_facility);
		exit(111);
	}
}

struct tls_server *
daemon_tls_load(const struct osd_conf *conf, const char *implicit_key, const char *implicit_value)
{
	char err[PATH_MAX + 256];
	struct tls_server *tls;

	tls = tls_server_load(conf->tls_cert, conf->tls_key, err, sizeof(err));
	if (tls == NULL && err[0] != '\0')
		fatalx("%s", err);
	if (tls == NULL && implicit_value[0] != '\0')
		fatalx("%s %s needs tls_cert and tls_key", implicit_key, implicit_value);
	return tls;
}

int
daemon_drop_recording(const struct osd_conf *conf, const char *cmd, char *opensmtp_dir, size_t size)
{
	char err[PATH_MAX + 256];
	struct runas ra;
	int fd;

	if (conf_opensmtp_dir(conf, opensmtp_dir, size) == -1)
		fatalx("state_dir: path too long");
	/* Every mailbox and vpasswd belongs to mail_user: run as it when no user is given
	 * (runas_user).  open-smtp/, where logins are recorded, is handed to that user. */
	metrics_attach(conf, false);
	if (runas_init(&ra, conf, err, sizeof(err)) == -1 ||
	    runas_opensmtp(&ra, conf, RUNAS_WRITE, err, sizeof(err)) == -1 ||
	    runas_drop(&ra, err, sizeof(err)) == -1)
		runas_refuse(cmd, err);
	if ((fd = open(opensmtp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", opensmtp_dir);
	return fd;
}

int
daemon_reload(const struct osd_conf *cur, struct osd_conf *n, struct tls_server **tls)
{
	char err[1024];
	bool restart;

	if (conf_reload(cur, n, &restart, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: %s (keeping the running configuration)", err);
		return -1;
	}
	if (restart)
		log_warnx("SIGHUP: listeners, user, group and state_dir change only on a restart");
	if (tls_server_reload(tls, n->tls_cert, n->tls_key, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: TLS: %s (keeping the loaded certificate)", err);
	return 0;
}

struct tls_client *
daemon_proxy_load(const struct osd_conf *conf, const char *backend)
{
	struct tls_client *cli = NULL;
	char err[512];

	if (backend[0] != '\0' &&
	    proxy_client_load(conf->proxy_tls, conf->proxy_ca_file, &cli, err, sizeof(err)) == -1)
		fatalx("%s", err);
	return cli;
}

/* Seconds as the milliseconds of a poll(2) timeout. */
static int
ms(long secs)
{
	return secs > INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

bool
daemon_proxy_settings(const struct osd_conf *conf, const char *backend, struct tls_client *cli,
		      struct proxy_settings *ps)
{
	int mode = proxy_tls_parse(conf->proxy_tls);

	ps->backend = backend;
	ps->tls = mode == -1 ? PROXY_TLS_NONE : (enum proxy_tls)mode;
	ps->client = cli;
	ps->connect_ms = ms(conf->proxy_connect_timeout);
	ps->idle_ms = ms(conf->proxy_timeout);
	return strcmp(conf->proxy_auth, "local") == 0;
}

void
daemon_proxy_reload(struct osd_conf *cur, const struct osd_conf *n, char *backend_cur,
		    const char *backend_n, size_t backend_size, struct tls_client **cli)
{
	char err[512];

	if (proxy_client_load(backend_n[0] != '\0' ? n->proxy_tls : "none", n->proxy_ca_file, cli,
			      err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: proxy settings kept: %s", err);
		return;
	}
	memcpy(backend_cur, backend_n, backend_size);
	memcpy(cur->proxy_tls, n->proxy_tls, sizeof(n->proxy_tls));
	memcpy(cur->proxy_ca_file, n->proxy_ca_file, sizeof(n->proxy_ca_file));
	memcpy(cur->proxy_auth, n->proxy_auth, sizeof(n->proxy_auth));
	cur->proxy_connect_timeout = n->proxy_connect_timeout;
	cur->proxy_timeout = n->proxy_timeout;
}
