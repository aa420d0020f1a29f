/* qread.c - osd qread: every queued message with its date, size, sender and each recipient's state (qmail-qread, with the last deferral reason). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "qstore.h"
#include "userdb.h"

/* Read this much of a queue file first; a longer envelope is read again whole. */
#define QREAD_FIRST (64 * 1024)
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

struct ids {
	char (*v)[QUEUE_ID_MAX + 2];    /* the id, then one byte: 'n' in new/, 'm' in mess/ */
	size_t n, cap;
};

static int
collect(const char *id, bool in_new, void *ctx)
{
	struct ids *ids = ctx;

	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? 2 * ids->cap : 4096;
		void *v = realloc(ids->v, cap * sizeof(*ids->v));

		if (v == NULL)
			return -1;
		ids->v = v;
		ids->cap = cap;
	}
	snprintf(ids->v[ids->n], QUEUE_ID_MAX + 1, "%s", id);
	ids->v[ids->n++][QUEUE_ID_MAX + 1] = in_new ? 'n' : 'm';
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(a, b);
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
show(const struct osd_conf *conf, const char *queue_dir, const char *id, bool in_new)
{
	struct queue_envelope_read env;
	struct qstore_info info;
	char path[PATH_MAX], date[64], err[512], *data;
	struct stat st;
	struct tm tm;
	size_t len, i;
	int r, have_info = 0;

	if ((in_new ? qstore_new_path(queue_dir, id, path, sizeof(path))
		    : qstore_mess_path(queue_dir, id, path, sizeof(path))) == -1)
		return;
	r = qstore_read_envelope(path, QREAD_FIRST, &data, &len, &env, err, sizeof(err));
	if (r == -1 && stat(path, &st) == 0 && (size_t)st.st_size > QREAD_FIRST)
		r = qstore_read_envelope(path, QREAD_MAX, &data, &len, &env, err, sizeof(err));
	if (r == 1)
		return;         /* delivered and removed while we looked */
	if (r == -1) {
		printf("?? #%s: %s\n", id, err);
		return;
	}
	if (stat(path, &st) == -1)
		st.st_size = (off_t)len;
	if (gmtime_r(&env.received, &tm) == NULL ||
	    strftime(date, sizeof(date), "%d %b %Y %H:%M:%S GMT", &tm) == 0)
		strcpy(date, "?");
	printf("%s  #%s  %lld  <%s>%s\n", date, id,
	       (long long)st.st_size - (long long)env.body_offset, env.sender,
	       in_new ? "  not yet preprocessed" : "");
	if (!in_new)
		have_info = qstore_info_read(queue_dir, id, env.nrcpts, &info, err, sizeof(err));
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
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct osd_conf conf;
	struct ids ids = { 0 };
	const char *conf_arg = NULL;
	char queue_dir[PATH_MAX];
	size_t i;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("qread", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&conf, conf_arg);
	if (snprintf(queue_dir, sizeof(queue_dir), "%s/queue", conf.state_dir) >= (int)sizeof(queue_dir)) {
		cli_error("qread", "state_dir: path too long");
		return 111;
	}
	if (qstore_foreach(queue_dir, collect, &ids) == -1) {
		cli_error("qread", "%s: cannot list the queue", queue_dir);
		return 111;
	}
	qsort(ids.v, ids.n, sizeof(*ids.v), by_id);
	for (i = 0; i < ids.n; i++)
		show(&conf, queue_dir, ids.v[i], ids.v[i][QUEUE_ID_MAX + 1] == 'n');
	free(ids.v);
	return 0;
}
