/* progress.c - a rate-limited progress line on stderr when it is a terminal, for imports and scans of a million entries. */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "monotonic.h"

size_t
progress_format(char *out, size_t size, const char *what, const char *unit, uint64_t done,
		int permille, long long elapsed_ms)
{
	char pct[32] = "";
	int n;

	if (size == 0)
		return 0;
	if (permille >= 0)
		snprintf(pct, sizeof(pct), " (%d.%d%%)", (permille > 1000 ? 1000 : permille) / 10,
			 (permille > 1000 ? 1000 : permille) % 10);
	if (elapsed_ms < 0)
		elapsed_ms = 0;
	n = snprintf(out, size, "%s: %" PRIu64 " %s%s, %lld.%lld s", what, done, unit, pct,
		     elapsed_ms / 1000, elapsed_ms % 1000 / 100);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n < size ? (size_t)n : size - 1;
}

void
progress_start(struct progress *p, int fd, const char *what, const char *unit)
{
	memset(p, 0, sizeof(*p));
	p->fd = isatty(fd) ? fd : -1;
	p->what = what;
	p->unit = unit;
	p->start_ms = monotonic_ms();
	/* The first update shows at once: the operator sees at a glance that it started. */
	p->next_ms = p->start_ms;
}

/* One line over the previous one; "\r" returns to its start, the text only grows. */
static void
progress_show(struct progress *p, uint64_t done, int permille, long long now, const char *end)
{
	char line[512];
	size_t len;

	line[0] = '\r';
	len = 1 + progress_format(line + 1, sizeof(line) - 2, p->what, p->unit, done, permille,
				  now - p->start_ms);
	memcpy(line + len, end, strlen(end));
	len += strlen(end);
	/* A terminal that cannot take the line loses only the line. */
	(void)write_all(p->fd, line, len);
	p->shown = true;
}

void
progress_update(struct progress *p, uint64_t done, int permille)
{
	long long now;

	if (p->fd < 0)
		return;
	now = monotonic_ms();
	if (now < p->next_ms)
		return;
	p->next_ms = now + PROGRESS_INTERVAL_MS;
	progress_show(p, done, permille, now, "");
}

void
progress_end(struct progress *p, uint64_t done, int permille)
{
	if (p->fd < 0 || !p->shown)
		return;
	progress_show(p, done, permille, monotonic_ms(), "\n");
	p->shown = false;
}
