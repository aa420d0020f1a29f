/* qread.c - osd qread: every queued message with its date, size, sender and each recipient's state (qmail-qread, with the last deferral reason). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "path.h"
#include "regfile.h"
#include "qstore.h"
#include "userdb.h"

/* Read this much of a queue file first; a longer envelope is read again whole. */
#define QREAD_FIRST 4096
#define QREAD_MAX (64u * 1024 * 1024)

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd qread [-c FILE]\n"
		     "List the queued messages, oldest first: arrival, id, size, sender, and\n"
		     "for each recipient local/remote, its state (queued, deferred with the\n"
		     "last reason, done, failed).\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n");
}

/* One message found: its id and where (bucket 0..255 of mess/, or -1 for new/). */
struct entry {
	char id[QUEUE_ID_MAX + 1];
	int bucket;
};

struct listing {
	struct entry *v;
	size_t n, cap;
	int mess_fd[QSTORE_BUCKETS], info_fd[QSTORE_BUCKETS], new_fd;
};

static int
add(struct listing *l, const char *id, int bucket)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	/* qstore_id_ok bounds ids to QUEUE_ID_MAX. */
	memcpy(l->v[l->n].id, id, strnlen(id, QUEUE_ID_MAX) + 1);
	l->v[l->n].id[QUEUE_ID_MAX] = '\0';
	l->v[l->n++].bucket = bucket;
	return 0;
}

/* Every queue id in the folder open as fd (which stays open, for openat). */
static int
list_dir(struct listing *l, int fd, int bucket)
{
	struct dirent *e;
	DIR *d;
	int dup_fd = fd >= 0 ? dup(fd) : -1;

	if (dup_fd == -1)
		return 0;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (qstore_id_ok(e->d_name) && add(l, e->d_name, bucket) == -1) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->id, ((const struct entry *)b)->id);
}

/*
 * Whether a recipient's domain is local, remembered for the few domains a
 * queue usually holds: 100,000 messages must not cost 100,000 stat calls.
 */
static const char *
where_of(const struct osd_conf *conf, const char *rcpt)
{
	enum { SLOTS = 64 };
	static struct { char domain[256]; bool local; bool used; } cache[SLOTS];
	static unsigned next;
	const char *at = strrchr(rcpt, '@'), *dom = at != NULL ? at + 1 : "";
	unsigned i;

	if (strlen(dom) >= sizeof(cache[0].domain))
		return userdb_domain_exists(conf->users_dir, dom) ? "local" : "remote";
	for (i = 0; i < SLOTS; i++)
		if (cache[i].used && strcmp(cache[i].domain, dom) == 0)
			return cache[i].local ? "local" : "remote";
	i = next++ % SLOTS;
	snprintf(cache[i].domain, sizeof(cache[i].domain), "%s", dom);
	cache[i].local = at != NULL && userdb_domain_exists(conf->users_dir, dom);
	cache[i].used = true;
	return cache[i].local ? "local" : "remote";
}

static void
show(const struct osd_conf *conf, const struct listing *l, const struct entry *m)
{
	struct queue_envelope_read env;
	struct qstore_info info;
	char date[64], err[512], *data;
	struct stat st;
	struct tm tm;
	size_t len, i;
	int r, fd, have_info = 0;
	bool in_new = m->bucket < 0;
	int dirfd = in_new ? l->new_fd : l->mess_fd[m->bucket];

	/* Gone (delivered and removed while we looked), or not a queue file at all. */
	if ((fd = regfile_openat(dirfd, m->id, O_RDONLY, 0, &st)) == -1)
		return;
	/* Still being written (or a crashed writer's debris): not in the queue yet. */
	if (in_new && !queue_file_complete(&st)) {
		close(fd);
		return;
	}
	/* The envelope is at the start: a first short read is nearly always enough. */
	r = qstore_read_envelope_fd(fd, m->id, QREAD_FIRST, &data, &len, &env, err, sizeof(err));
	if (r == -1 && (size_t)st.st_size > QREAD_FIRST &&
	    (fd = regfile_openat(dirfd, m->id, O_RDONLY, 0, NULL)) != -1)
		r = qstore_read_envelope_fd(fd, m->id, QREAD_MAX, &data, &len, &env, err,
					    sizeof(err));
	if (r == -1) {
		printf("?? #%s: %s\n", m->id, err);
		return;
	}
	if (gmtime_r(&env.received, &tm) == NULL ||
	    strftime(date, sizeof(date), "%d %b %Y %H:%M:%S GMT", &tm) == 0)
		strcpy(date, "?");
	printf("%s  #%s  %lld  <%s>%s\n", date, m->id,
	       (long long)st.st_size - (long long)env.body_offset, env.sender,
	       in_new ? "  not yet preprocessed" : "");
	if (!in_new)
		have_info = qstore_info_read_at(l->info_fd[m->bucket], m->id, env.nrcpts, &info, err,
						sizeof(err));
	if (have_info == -1)
		printf("\t?? %s\n", err);
	for (i = 0; i < env.nrcpts; i++) {
		const char *where = where_of(conf, env.rcpts[i]);
		const struct qstore_rcpt *rc = have_info == 1 ? &info.rcpts[i] : NULL;

		if (rc == NULL || (rc->status == QSTORE_PENDING && rc->reason == NULL))
			printf("\t%s\t%s\n", where, env.rcpts[i]);
		else if (rc->status == QSTORE_PENDING)
			printf("\t%s\t%s\tdeferred: %s\n", where, env.rcpts[i], rc->reason);
		else
			printf("\t%s\t%s\t%s\t%s\n", rc->status == QSTORE_DONE ? "done" : "failed",
			       where, env.rcpts[i], rc->reason != NULL ? rc->reason : "");
	}
	if (have_info == 1)
		qstore_info_free(&info);
	queue_envelope_read_free(&env);
	free(data);
}

int
main(int argc, char **argv)
{
	struct osd_conf conf;
	struct listing l = { 0 };
	const char *conf_arg = NULL;
	char queue_dir[PATH_MAX];
	size_t i;
	int b;

	conf_arg = cli_conf_only(argc, argv, "qread", usage);
	cli_load_conf(&conf, conf_arg);
	if (snprintf(queue_dir, sizeof(queue_dir), "%s/queue", conf.state_dir) >= (int)sizeof(queue_dir)) {
		cli_error("qread", "state_dir: path too long");
		return 111;
	}
	/* Every folder opened once: then each file is one openat, not a path walk. */
	for (b = 0; b < QSTORE_BUCKETS; b++) {
		char p[PATH_MAX];

		if (path_fmt(p, sizeof(p), "%s/mess/%02x", queue_dir, b) == -1)
			goto toolong;
		l.mess_fd[b] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (path_fmt(p, sizeof(p), "%s/info/%02x", queue_dir, b) == -1)
			goto toolong;
		l.info_fd[b] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (list_dir(&l, l.mess_fd[b], b) == -1)
			goto nomem;
	}
	{
		char p[PATH_MAX];

		if (path_fmt(p, sizeof(p), "%s/new", queue_dir) == -1)
			goto toolong;
		l.new_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (list_dir(&l, l.new_fd, -1) == -1)
			goto nomem;
	}
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), by_id);
	for (i = 0; i < l.n; i++)
		show(&conf, &l, &l.v[i]);
	free(l.v);
	return 0;
nomem:
	cli_error("qread", "out of memory");
	return 111;
toolong:
	cli_error("qread", "state_dir: path too long");
	return 111;
}
