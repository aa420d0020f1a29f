/* progress.h - a progress line on a terminal for long operations (an import, a first scan): shown only when stderr is a TTY, at most every PROGRESS_INTERVAL_MS. */
#ifndef OSD_PROGRESS_H
#define OSD_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The least time between two lines: often enough to look alive, rarely enough to cost nothing. */
#define PROGRESS_INTERVAL_MS 250

struct progress {
	int fd;                 /* where the line goes (stderr); -1: off (not a terminal) */
	const char *what;       /* "osd: import-open-smtp: reading FILE" */
	const char *unit;       /* "lines", "entries" */
	long long start_ms;
	long long next_ms;      /* no line before this */
	bool shown;             /* a line is on the screen (progress_end ends it) */
};

/*
 * Start a progress report about what, counting unit.  It is on only when
 * fd is a terminal (isatty), so that logs, pipes and cron mail stay clean.
 */
void progress_start(struct progress *p, int fd, const char *what, const char *unit);

/*
 * done units so far; permille is how far along (0..1000), or -1 when the
 * total is unknown.  Writes a line (over the previous one, with '\r') at
 * most every PROGRESS_INTERVAL_MS (the first at once); cheap to call for
 * every unit.
 */
void progress_update(struct progress *p, uint64_t done, int permille);

/* The final count and permille (as for progress_update) on its line, with a newline, when a line was shown. */
void progress_end(struct progress *p, uint64_t done, int permille);

/*
 * The text of one line (pure, for the unit test): "WHAT: DONE UNIT" with
 * " (P.P%)" when permille >= 0, and ", S.S s" of elapsed time.  Returns
 * the length written (cut to fit size, NUL-terminated).
 */
size_t progress_format(char *out, size_t size, const char *what, const char *unit, uint64_t done,
		       int permille, long long elapsed_ms);

#endif
