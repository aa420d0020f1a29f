/* metrics_attach.h - map the shared metrics file of osd.conf's state_dir for a daemon, before it drops root and forks. */
#ifndef OSD_METRICS_ATTACH_H
#define OSD_METRICS_ATTACH_H

#include <stdbool.h>

#include "conf.h"

/*
 * Map the shared metrics file (state_dir/run/metrics, metrics.h) for this
 * process and the children it will fork: call it before dropping root (the
 * file is given to the user the daemons run as, runas_user) and before the
 * first fork.  A failure is logged (unless quiet) and the program runs on
 * without metrics.
 */
void metrics_attach(const struct osd_conf *conf, bool quiet);

#endif
