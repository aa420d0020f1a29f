/* runstatus.c - the status file of osd run (state_dir/run/osd-run.status): one writer (osd run), one reader (osd status). */
#include "runstatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errfmt.h"
#include "path.h"

#define RUNSTATUS_MAGIC "osd-run-status 1"

int
runstatus_path(const char *state_dir, char *out, size_t size)
{
	return path_fmt(out, size, "%s/%s/%s", state_dir, RUNSTATUS_DIR, RUNSTATUS_FILE);
}

int
runstatus_format(const struct runstatus *rs, struct buf *out)
{
	if (buf_printf(out, "%s\nrun %ld %lld %s\n", RUNSTATUS_MAGIC, rs->pid, rs->started,
		       rs->conf) == -1)
		return -1;
	for (size_t i = 0; i < rs->n; i++) {
		const struct runstatus_service *s = &rs->svc[i];

		if (buf_printf(out, "service %s %s %ld %lld %u %s\n", s->name, s->state, s->pid,
			       s->started, s->restarts, s->last_exit[0] ? s->last_exit : "-") == -1)
			return -1;
	}
	return 0;
}

/* One "service" line's fields (after "service "); 0 or -1. */
static int
parse_service(const char *fields, struct runstatus_service *s)
{
	int used = 0;

	memset(s, 0, sizeof(*s));
	/* The widths keep each field inside its array. */
	if (sscanf(fields, "%31s %15s %ld %lld %u %31s%n", s->name, s->state, &s->pid,
		   &s->started, &s->restarts, s->last_exit, &used) != 6 || fields[used] != '\0')
		return -1;
	return 0;
}

int
runstatus_parse(const char *text, size_t len, struct runstatus *rs, char *err, size_t errsize)
{
	const char *p = text, *end = text + len;
	unsigned long lineno = 0;
	char line[PATH_MAX + 128];
	int have_run = 0;

	memset(rs, 0, sizeof(*rs));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (l >= sizeof(line))
			return errfmt(err, errsize, "line %lu: too long", lineno);
		memcpy(line, p, l);
		line[l] = '\0';
		p += l + (nl != NULL);
		if (lineno == 1) {
			if (strcmp(line, RUNSTATUS_MAGIC) != 0)
				return errfmt(err, errsize, "line 1: not an osd run status file");
			continue;
		}
		if (strncmp(line, "run ", 4) == 0) {
			int used = 0;

			if (sscanf(line + 4, "%ld %lld %n", &rs->pid, &rs->started, &used) < 2 ||
			    used == 0)
				return errfmt(err, errsize, "line %lu: bad run line", lineno);
			snprintf(rs->conf, sizeof(rs->conf), "%s", line + 4 + used);
			have_run = 1;
		} else if (strncmp(line, "service ", 8) == 0) {
			if (rs->n == RUNSTATUS_MAX)
				return errfmt(err, errsize, "line %lu: too many services", lineno);
			if (parse_service(line + 8, &rs->svc[rs->n]) == -1)
				return errfmt(err, errsize, "line %lu: bad service line", lineno);
			rs->n++;
		} else {
			return errfmt(err, errsize, "line %lu: unknown line", lineno);
		}
	}
	if (!have_run)
		return errfmt(err, errsize, "no run line");
	return 0;
}
