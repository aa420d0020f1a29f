/* qstat.c - osd qstat: how many messages are queued, as qmail-qstat says it. */
#include <dirent.h>
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

/* Queue ids in dir; -1 when it cannot be read (a missing folder counts 0). */
static long
count_dir(const char *dir)
{
	struct dirent *e;
	long n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += qstore_id_ok(e->d_name);
	closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	struct osd_conf conf;
	const char *conf_arg = NULL;
	char queue_dir[PATH_MAX], p[PATH_MAX];
	long queued = 0, fresh;
	int b;

	conf_arg = cli_conf_only(argc, argv, "qstat", usage);
	cli_load_conf(&conf, conf_arg);
	if (path_join(queue_dir, sizeof(queue_dir), conf.state_dir, "queue") == -1) {
		cli_error("qstat", "state_dir: path too long");
		return 111;
	}
	for (b = 0; b < QSTORE_BUCKETS; b++) {
		if (path_fmt(p, sizeof(p), "%s/mess/%02x", queue_dir, b) == -1)
			return 111;
		queued += count_dir(p);
	}
	if (path_fmt(p, sizeof(p), "%s/new", queue_dir) == -1)
		return 111;
	fresh = count_dir(p);
	printf("messages in queue: %ld\n", queued + fresh);
	printf("messages in queue but not yet preprocessed: %ld\n", fresh);
	return 0;
}
