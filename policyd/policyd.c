/* policyd.c - osd policyd: the Postfix SMTP access policy service (check_policy_service) answering from the live relay state. */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "policyd.h"
#include "runas.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd policyd [-c FILE]\n"
		     "The Postfix SMTP access policy delegation service (check_policy_service):\n"
		     "listen on policy_listen (unix:/path and/or host:port), drop root, and\n"
		     "answer each request from the live relay state (relay.cdb and open-smtp/,\n"
		     "as osd check decides): policy_action (default OK) for a client that may\n"
		     "relay, policy_default_action (default DUNNO) for any other.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGHUP re-reads the actions, limits, relay_expire and the rules; SIGTERM stops.\n");
}

static struct policyd policyd;

/* Who the unix sockets belong to: the user osd becomes, and policy_socket_group (Postfix's). */
static void
socket_owner(const struct policyd *d, const struct runas *ra, uid_t *uid_r, gid_t *gid_r)
{
	struct group *gr;

	*uid_r = ra->handover ? ra->uid : (uid_t)-1;
	*gid_r = ra->handover ? ra->gid : (gid_t)-1;
	if (d->conf.policy_socket_group[0] == '\0')
		return;
	if ((gr = getgrnam(d->conf.policy_socket_group)) == NULL)
		fatalx("policy_socket_group: %s: no such group", d->conf.policy_socket_group);
	*gid_r = gr->gr_gid;
}

int
main(int argc, char **argv)
{
	struct policyd *d = &policyd;
	char err[PATH_MAX + 256];
	const char *conf_arg;
	struct runas ra;
	uid_t uid;
	gid_t gid;
	int fd;

	conf_arg = cli_conf_only(argc, argv, "policyd", usage);
	cli_load_conf(&d->conf, conf_arg);
	daemon_log_init(&d->conf, "policyd");
	if (conf_relay_cdb(&d->conf, d->relay_cdb, sizeof d->relay_cdb) == -1 ||
	    conf_opensmtp_dir(&d->conf, d->opensmtp_dir, sizeof d->opensmtp_dir) == -1)
		fatalx("state_dir: path too long");
	/* Static rules tell the administrator's records in relay.cdb from logins. */
	rules_file_init(&d->rules);
	if (rules_file_refresh(&d->rules, d->conf.rules, err, sizeof err) == -1)
		fatalx("rules: %s", err);
	if (runas_init(&ra, &d->conf, err, sizeof err) == -1)
		runas_refuse("policyd", err);
	socket_owner(d, &ra, &uid, &gid);
	policyd_bind(d, uid, gid);
	/* open-smtp/ is only read (made, with the same owner, when missing, as smtpd does). */
	if (runas_opensmtp(&ra, &d->conf, RUNAS_READ, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("policyd", err);
	/* Kept open: relay_decide checks a login entry's file on every answer. */
	if ((fd = open(d->opensmtp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", d->opensmtp_dir);
	d->st = (struct relay_state){ .cdb_path = d->relay_cdb, .statics = &d->rules.rules,
				      .opensmtp_dirfd = fd, .relay_expire = d->conf.relay_expire,
				      .ipv6_prefix = d->conf.relay_ipv6_prefix };
	relay_table_init(&d->table);
	if (relay_table_refresh(&d->table, d->relay_cdb) == -1)
		log_warn("%s", d->relay_cdb);
	log_info("ready: %s, action %s, default %s, max %u connections",
		 d->conf.policy_listen, d->conf.policy_action, d->conf.policy_default_action,
		 d->conf.policy_max_connections);

	policyd_run(d);

	relay_table_close(&d->table);
	rules_file_free(&d->rules);
	for (size_t i = 0; i < d->nlisteners; i++)
		close(d->listeners[i]);
	close(fd);
	log_info("stopped");
	return 0;
}
