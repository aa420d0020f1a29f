/* metrics_attach.c - the start-up step every osd daemon takes to share the metrics file. */
#include <limits.h>
#include <stdio.h>

#include "log.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "runas.h"

void
metrics_attach(const struct osd_conf *conf, bool quiet)
{
	char path[PATH_MAX], err[PATH_MAX + 256];
	struct runas ra;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	/* The user the caller drops to next (its own runas_init says the same). */
	if (runas_init(&ra, conf, err, sizeof(err)) == 0) {
		if (ra.handover) {
			uid = ra.uid;
			gid = ra.gid;
		}
		runas_free(&ra);
	}
	if (metrics_path(conf->state_dir, path, sizeof(path)) == -1)
		snprintf(err, sizeof(err), "state_dir: path too long");
	else if (metrics_open(path, uid, gid, err, sizeof(err)) == 0)
		return;
	if (!quiet)
		log_warnx("metrics: %s (running without metrics)", err);
}
