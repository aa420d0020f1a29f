/* expire.c - osd expire: remove expired open-smtp entries once and rebuild relay.cdb (for cron). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "relay_rebuild.h"
#include "runas.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd expire [-c FILE] [-v]\n"
		     "Remove the open-smtp entries older than relay_expire and rebuild\n"
		     "relay.cdb from the rules file and the live entries, once.  For cron\n"
		     "or a systemd timer where no osd watch runs.  Started as root, it hands\n"
		     "the relay state to the config's user (else mail_user) and runs as it.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  -v       print what was kept, expired and ignored, and the table's size\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL;
	struct osd_conf conf;
	struct relay_rebuild_args job;
	struct relay_rebuild_stats st;
	struct runas ra;
	struct timespec t0, t1;
	char dir[PATH_MAX], cdb[PATH_MAX], snap[PATH_MAX], err[2 * PATH_MAX + 512];
	bool verbose = false;
	int opt;

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
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0 || conf_relay_cdb(&conf, cdb, sizeof cdb) < 0 ||
	    conf_relay_snap(&conf, snap, sizeof snap) < 0) {
		cli_error("expire", "state_dir path too long");
		return 111;
	}
	/* Started as root (cron, a timer): the relay state is handed to the user the
	 * daemons run as and the job runs as that user, like osd watch. */
	metrics_attach(&conf, false);   /* as root: the file may be made and handed over first */
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_relay_state(&ra, &conf, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("expire", err);
	/* The same job as osd watch -1 (lib/relay/relay_rebuild.c). */
	job = (struct relay_rebuild_args){
		.rules = conf.rules, .dir = dir, .cdb = cdb, .expire = conf.relay_expire,
		.dyn = { conf.relay_env_value, conf.relay_env_len, conf.relay_ipv6_prefix },
		.fsync = conf.fsync, .snap = snap,
	};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (relay_rebuild_once(&job, &st, err, sizeof err) == -1) {
		metrics_inc(M_REBUILD_FAILURES);
		cli_error("expire", "%s", err);
		return 111;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Counted as the watcher's rebuilds are: a site on cron alone still sees its table's age and size. */
	metrics_observe_rebuild((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	metrics_set(M_RELAY_ENTRIES, st.scan.live);
	if (verbose)
		printf("expire: %lu live, %lu expired, %lu ignored; %s: %ld records\n", st.scan.live,
		       st.scan.expired, st.scan.ignored, cdb, st.records);
	return 0;
}
