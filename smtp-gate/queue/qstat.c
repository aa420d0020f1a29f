/* qstat.c - osd qstat: how many messages are queued, as qmail-qstat says it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "path.h"
#include "qstore.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd qstat [-c FILE]\n"
		     "Count the messages in the queue, and those osd queue has not taken yet.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n");
}

int
main(int argc, char **argv)
{
	struct osd_conf conf;
	const char *conf_arg = NULL;
	char queue_dir[PATH_MAX];
	long queued, fresh;

	conf_arg = cli_conf_only(argc, argv, "qstat", usage);
	cli_load_conf(&conf, conf_arg);
	if (path_join(queue_dir, sizeof(queue_dir), conf.state_dir, "queue") == -1) {
		cli_error("qstat", "state_dir: path too long");
		return 111;
	}
	if (qstore_count(queue_dir, &queued, &fresh) == -1) {
		cli_error("qstat", "%s: %s", queue_dir, strerror(errno));
		return 111;
	}
	printf("messages in queue: %ld\n", queued);
	printf("messages in queue but not yet preprocessed: %ld\n", fresh);
	return 0;
}
