/* runstatus.h - the status file osd run keeps under state_dir for osd status: written and read here only. */
#ifndef OSD_RUNSTATUS_H
#define OSD_RUNSTATUS_H

#include <limits.h>
#include <stddef.h>

#include "buf.h"

/* Where the file lives, below state_dir (docs/operations.md, "osd status"). */
#define RUNSTATUS_DIR "run"
#define RUNSTATUS_FILE "osd-run.status"
/* More services than osd run ever supervises at once (one slot may be stopping while its successor starts). */
#define RUNSTATUS_MAX 16

/* One supervised service, as the file's "service" line has it. */
struct runstatus_service {
	char name[32];
	char state[16];         /* running, backoff (waiting to restart), stopping (removed on SIGHUP), stopped (osd run ended) */
	long pid;               /* 0 when none runs */
	long long started;      /* Unix time of the current child's start (0 when none runs) */
	unsigned restarts;      /* children started after the first */
	char last_exit[32];     /* "-" (none yet), "exit:N" or "signal:N" */
};

/*
 * The whole file:
 *   osd-run-status 1
 *   run PID STARTED CONF                               (CONF: the rest of the line)
 *   service NAME STATE PID STARTED RESTARTS LAST_EXIT  (one per service)
 */
struct runstatus {
	long pid;               /* osd run's own */
	long long started;
	char conf[PATH_MAX];    /* the config it runs ("" for built-in defaults) */
	size_t n;
	struct runstatus_service svc[RUNSTATUS_MAX];
};

/* state_dir/run/osd-run.status into out; 0 or -1 (too long). */
int runstatus_path(const char *state_dir, char *out, size_t size);

/* The file's text for rs, appended to out; 0 or -1 (out's limit). */
int runstatus_format(const struct runstatus *rs, struct buf *out);

/*
 * Parse the file's text (len octets, NUL-terminated).  Strict: another
 * version, a short line or an unknown one is an error.  0, or -1 with err.
 */
int runstatus_parse(const char *text, size_t len, struct runstatus *rs, char *err, size_t errsize);

#endif
