/* expire.c - osd expire: remove expired open-smtp entries once and rebuild relay.cdb (for cron). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "opensmtp.h"
#include "relaydb.h"
#include "rules.h"
#include "runas.h"
#include "xmalloc.h"

struct live {
	struct ipaddr *addrs;
	size_t count, cap;
	size_t pos;
};

static int collect(void *ctx, const struct ipaddr *addr, const struct timespec *mtime)
{
	struct live *l = ctx;

	(void)mtime;
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->addrs = xreallocarray(l->addrs, l->cap, sizeof *l->addrs);
	}
	l->addrs[l->count++] = *addr;
	return 0;
}

static int next_entry(void *ctx, struct ipaddr *entry_r)
{
	struct live *l = ctx;

	if (l->pos >= l->count)
		return 0;
	*entry_r = l->addrs[l->pos++];
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: osd expire [-c FILE] [-v]\n"
		     "Remove the open-smtp entries older than relay_expire and rebuild\n"
		     "relay.cdb from the rules file and the live entries, once.  For cron\n"
		     "or a systemd timer where no osd watch runs.  Started as root, it hands\n"
		     "the relay state to the config's user (else mail_user) and runs as it.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL;
	struct osd_conf conf;
	struct opensmtp_scan_stats st;
	struct live live = { 0 };
	struct rules rules;
	struct runas ra;
	char dir[PATH_MAX], cdb[PATH_MAX], err[PATH_MAX + 256];
	bool verbose = false;
	int opt, dirfd, r;
	long n;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("expire", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&conf, conf_arg);
	log_init("osd-expire", strcmp(conf.log, "syslog") == 0, conf.log_facility);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0 || conf_relay_cdb(&conf, cdb, sizeof cdb) < 0) {
		cli_error("expire", "state_dir path too long");
		return 111;
	}
	/* Started as root (cron, a timer): the relay state is handed to the user the
	 * daemons run as and the job runs as that user, like osd watch. */
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_relay_state(&ra, &conf, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("expire", err);
	/* Rules first: a broken rules file must not leave a table without them. */
	r = rules_load_file(&rules, conf.rules, err, sizeof err);
	if (r < 0) {
		cli_error("expire", "rules: %s", err);
		return 111;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		cli_error("expire", "%s: %s", dir, strerror(errno));
		return 111;
	}
	if (opensmtp_scan(dirfd, conf.relay_expire, collect, &live, &st) < 0) {
		cli_error("expire", "reading %s: %s", dir, strerror(errno));
		return 111;
	}
	struct relaydb_dynamic dyn = { conf.relay_env_value, conf.relay_env_len,
				       conf.relay_ipv6_prefix };
	n = relaydb_write(cdb, &rules, &dyn, next_entry, &live, conf.fsync);
	if (n < 0) {
		cli_error("expire", "writing %s: %s", cdb, strerror(errno));
		return 111;
	}
	if (verbose)
		printf("expire: %lu live, %lu expired, %lu ignored; %s: %ld records\n", st.live,
		       st.expired, st.ignored, cdb, n);
	free(live.addrs);
	rules_free(&rules);
	close(dirfd);
	return 0;
}
