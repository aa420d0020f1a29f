/* relaytable.c - relay.cdb kept mapped between lookups and swapped when its file is replaced. */
#include "relaytable.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdclose.h"

void
relay_table_init(struct relay_table *rt)
{
	memset(rt, 0, sizeof *rt);
	rt->fd = -1;
}

void
relay_table_close(struct relay_table *rt)
{
	if (rt->open) {
		cdb_free(&rt->cdb);
		close(rt->fd);
	}
	relay_table_init(rt);
}

int
relay_table_refresh(struct relay_table *rt, const char *path)
{
	struct relay_table n;
	struct stat sb;

	if (stat(path, &sb) == -1) {
		if (errno != ENOENT)
			return -1;
		relay_table_close(rt);
		return 0;
	}
	if (rt->open && rt->dev == sb.st_dev && rt->ino == sb.st_ino && rt->size == sb.st_size &&
	    rt->mtime.tv_sec == sb.st_mtim.tv_sec && rt->mtime.tv_nsec == sb.st_mtim.tv_nsec)
		return 0;
	relay_table_init(&n);
	if ((n.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? (relay_table_close(rt), 0) : -1;
	/* The identity of what was opened, not of what stat saw a moment before. */
	if (fstat(n.fd, &sb) == -1 || cdb_init(&n.cdb, n.fd) < 0)
		return close_keep_errno(n.fd);
	n.open = true;
	n.dev = sb.st_dev;
	n.ino = sb.st_ino;
	n.size = sb.st_size;
	n.mtime = sb.st_mtim;
	relay_table_close(rt);
	*rt = n;
	return 0;
}

struct cdb *
relay_table_cdb(struct relay_table *rt)
{
	return rt->open ? &rt->cdb : NULL;
}
