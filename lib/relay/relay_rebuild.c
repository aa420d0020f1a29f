/* relay_rebuild.c - the one-shot relay table job: expire the open-smtp entries, rebuild relay.cdb (osd expire, osd watch -1). */
#include "relay_rebuild.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errfmt.h"
#include "opensmtp_snap.h"
#include "rules.h"
#include "xmalloc.h"

/* The live entries, in the order the scan found them. */
struct live {
	struct opensmtp_found *found;
	size_t count, cap;
	size_t pos;
	unsigned long known;
};

static int
collect(void *ctx, const struct opensmtp_found *f)
{
	struct live *l = ctx;

	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->found = xreallocarray(l->found, l->cap, sizeof *l->found);
	}
	l->found[l->count++] = *f;
	l->known += f->known;
	return 0;
}

static int
next_entry(void *ctx, struct ipaddr *entry_r)
{
	struct live *l = ctx;

	if (l->pos >= l->count)
		return 0;
	*entry_r = l->found[l->pos++].addr;
	return 1;
}

static int
next_snap(void *ctx, struct ipaddr *addr_r, struct timespec *mtime_r, uint64_t *ino_r)
{
	struct live *l = ctx;
	const struct opensmtp_found *f;

	if (l->pos >= l->count)
		return 0;
	f = &l->found[l->pos++];
	*addr_r = f->addr;
	*mtime_r = f->mtime;
	*ino_r = f->ino;
	return 1;
}

int
relay_rebuild_once(const struct relay_rebuild_args *a, struct relay_rebuild_stats *st,
		   char *err, size_t errsize)
{
	struct live live = { 0 };
	struct opensmtp_snap *snap = NULL;
	struct rules rules;
	struct timespec t0, t1;
	char why[PATH_MAX + 256];
	int r, dirfd, ret = -1;

	memset(st, 0, sizeof(*st));
	r = rules_load_file(&rules, a->rules, why, sizeof why);
	if (r < 0)
		return errfmt(err, errsize, "rules: %s", why);
	st->rules_missing = r == 1;
	if ((dirfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		errfmt(err, errsize, "%s: %s", a->dir, strerror(errno));
		goto out_rules;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st->snap_loaded = st->snap_saved = -1;
	if (a->snap != NULL && (snap = opensmtp_snap_load(a->snap)) != NULL)
		st->snap_loaded = (long)opensmtp_snap_count(snap);
	r = opensmtp_scan_known(dirfd, a->expire, RELAY_REBUILD_SNAP_MARGIN, snap != NULL ? opensmtp_snap_known : NULL, snap,
				collect, &live, &st->scan);
	opensmtp_snap_free(snap);
	st->snap_known = live.known;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->scan_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (r < 0) {
		errfmt(err, errsize, "reading %s: %s", a->dir, strerror(errno));
		goto out;
	}
	st->records = relaydb_write(a->cdb, &rules, &a->dyn, next_entry, &live, a->fsync);
	if (st->records < 0) {
		errfmt(err, errsize, "writing %s: %s", a->cdb, strerror(errno));
		goto out;
	}
	/* A cache: not fsynced (a torn one fails its checksum and is ignored). */
	live.pos = 0;
	if (a->snap != NULL)
		st->snap_saved = opensmtp_snap_save(a->snap, next_snap, &live, false);
	ret = 0;
out:
	close(dirfd);
out_rules:
	free(live.found);
	rules_free(&rules);
	return ret;
}
