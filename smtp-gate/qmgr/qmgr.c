/* qmgr.c - osd queue: the queue manager (qmail-send's job): pick up new mail at once, run deliveries within the caps, retry, bounce. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "control.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "log.h"
#include "sigfd.h"
#include "monotonic.h"
#include "path.h"
#include "qmgr.h"
#include "qstore.h"
#include "queue.h"
#include "runas.h"

/* qmail's defaults. */
#define QMGR_DEFAULT_LIFETIME 604800
#define QMGR_DEFAULT_LOCAL 10
#define QMGR_DEFAULT_REMOTE 20
/* Files in tmp/ older than this are unfinished messages of a crashed writer (qmail-clean's 36 hours). */
#define QMGR_TMP_MAX_AGE (36 * 3600)
/* new/ is scanned this often as well, in case an inotify event was lost; tmp/ is cleaned as often. */
#define QMGR_SCAN_INTERVAL 300
/* On SIGTERM, running deliveries get this long to finish. */
#define QMGR_STOP_GRACE_MS 10000

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd queue [-c FILE] [--flush | --delete ID]\n"
		     "The queue manager: takes each message osd smtpd queued, delivers it\n"
		     "(osd-local for domains in users_dir, osd-remote for the rest), retries on\n"
		     "qmail's schedule until queuelifetime, and bounces what fails.\n"
		     "  -c FILE       configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --flush       make the running queue manager retry every deferred message now\n"
		     "  --delete ID   remove message ID from the queue (no bounce)\n"
		     "SIGHUP re-reads the control files; SIGALRM is --flush; SIGTERM stops.\n");
}

/* ----- control files ----- */

static unsigned
control_count(const char *dir, const char *name, unsigned def, unsigned max)
{
	unsigned long v;

	if (control_read_ulong(dir, name, def, &v) == -1 || v == 0) {
		log_warnx("control/%s: not a positive number; using %u", name, def);
		return def;
	}
	return v > max ? max : (unsigned)v;
}

static void
read_controls(struct qmgr *q)
{
	unsigned long life;
	char dbt[256], err[512];

	control_me(q->conf.control_dir, q->me, sizeof(q->me));
	/* 0 is allowed, as in qmail and Postfix: the first failure is final. */
	if (control_read_seconds(q->conf.control_dir, "queuelifetime", QMGR_DEFAULT_LIFETIME, 0,
				 CONTROL_QUEUELIFETIME_MAX, &life, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	q->lifetime = (long)life;
	q->max_local = control_count(q->conf.control_dir, "concurrencylocal", QMGR_DEFAULT_LOCAL, 1000);
	q->max_remote = control_count(q->conf.control_dir, "concurrencyremote", QMGR_DEFAULT_REMOTE,
				      1000);
	q->max_per_domain = QMGR_PER_DOMAIN_DEFAULT;
	/*
	 * qmail: doublebounceto defaults to postmaster, a name without '@' gets
	 * "@me", and a file holding only a blank line discards double bounces
	 * (control_read_line would give the default for it: look first).
	 */
	{
		struct control_lines cl;
		char p[PATH_MAX];
		struct stat st;

		if (path_fmt(p, sizeof(p), "%s/doublebounceto", q->conf.control_dir) == 0 &&
		    stat(p, &st) == 0 && control_read_lines(q->conf.control_dir, "doublebounceto",
							    &cl) == 0) {
			snprintf(dbt, sizeof(dbt), "%s", cl.count > 0 ? cl.lines[0] : "");
			control_lines_free(&cl);
		} else {
			snprintf(dbt, sizeof(dbt), "postmaster");
		}
	}
	if (dbt[0] == '\0' || strchr(dbt, '@') != NULL)
		snprintf(q->doublebounceto, sizeof(q->doublebounceto), "%s", dbt);
	else
		snprintf(q->doublebounceto, sizeof(q->doublebounceto), "%s@%s", dbt, q->me);
}

/* ----- finding messages ----- */

/* One message a scan found. */
struct found_id {
	char id[QUEUE_ID_MAX + 1];
	bool in_new;
};

struct found {
	struct found_id *v;
	size_t n, cap;
};

static int
collect(const char *id, bool in_new, void *ctx)
{
	struct found *f = ctx;

	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 1024;
		void *v = realloc(f->v, cap * sizeof(*f->v));

		if (v == NULL)
			return -1;
		f->v = v;
		f->cap = cap;
	}
	/* qstore_id_ok bounds ids to QUEUE_ID_MAX. */
	memcpy(f->v[f->n].id, id, strnlen(id, QUEUE_ID_MAX) + 1);
	f->v[f->n].id[QUEUE_ID_MAX] = '\0';
	f->v[f->n++].in_new = in_new;
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct found_id *)a)->id, ((const struct found_id *)b)->id);
}

static struct qmsg *
qmsg_new(struct qmgr *q, const char *id)
{
	struct qmsg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	snprintf(m->id, sizeof(m->id), "%s", id);
	/* The id starts with the arrival time: good enough until the envelope is read. */
	m->arrival = (time_t)strtoll(id, NULL, 10);
	q->nmessages++;
	return m;
}

/* A message smtpd just committed: take it from new/ and deliver it at once. */
static void
take_new(struct qmgr *q, const char *id)
{
	struct qmsg *m;
	int r;

	if (qstore_take_new(q->queue_dir, id) == -1) {
		/*
		 * EAGAIN: not marked complete.  Its writer is still at it (it
		 * holds the lock: left alone) or died (the machine stopped,
		 * smtpd was killed): then it is debris, never delivered.
		 */
		if (errno == EAGAIN) {
			if ((r = qstore_clean_new(q->queue_dir, id)) == 1)
				log_info("removed new/%s: unfinished, its writer is gone", id);
			else if (r == -1)
				log_warn("msg %s: an unfinished file in new/", id);
			return;
		}
		/* ENOENT: already taken (the start-up scan and inotify both saw it). */
		if (errno != ENOENT)
			log_warn("msg %s: taking it from new/", id);
		return;
	}
	if ((m = qmsg_new(q, id)) == NULL) {
		log_warnx("msg %s: out of memory; found again at the next start", id);
		return;
	}
	log_info("new msg %s", id);
	qmgr_ready(q, m);
}

/* A message taken before: retry when its info says, or now when it was never tried. */
static void
resume(struct qmgr *q, const char *id)
{
	struct qmsg *m;

	if ((m = qmsg_new(q, id)) == NULL)
		return;
	/* The last manager may have died with a local delivery of it in flight. */
	m->recheck = true;
	/* Only the next try is needed now; the rest is read when the round starts. */
	if (qstore_info_next(q->queue_dir, id, &m->sched.next) != 1)
		m->sched.next = 0;
	if (m->sched.next <= time(NULL)) {
		qmgr_ready(q, m);
		return;
	}
	m->sched.item = m;
	if (sched_heap_push(&q->heap, &m->sched) == -1) {
		log_warnx("msg %s: out of memory", id);
		q->nmessages--;
		free(m);
		return;
	}
	m->in_heap = true;
}

static void
scan(struct qmgr *q, bool startup)
{
	struct found f = { 0 };
	size_t i;

	if (qstore_foreach(q->queue_dir, collect, &f) == -1)
		log_warn("scanning %s", q->queue_dir);
	/* Ids sort by arrival: the oldest goes first. */
	if (f.n > 1)
		qsort(f.v, f.n, sizeof(*f.v), by_id);
	for (i = 0; i < f.n; i++) {
		if (f.v[i].in_new)
			take_new(q, f.v[i].id);
		else if (startup)
			resume(q, f.v[i].id);
	}
	free(f.v);
}

/* Remove what crashed writers left in tmp/ long ago. */
static void
clean_tmp(const struct qmgr *q)
{
	char dir[PATH_MAX], p[PATH_MAX];
	struct dirent *e;
	struct stat st;
	time_t now = time(NULL);
	DIR *d;

	if (path_fmt(dir, sizeof(dir), "%s/tmp", q->queue_dir) == -1 || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || path_fmt(p, sizeof(p), "%s/%s", dir, e->d_name) == -1)
			continue;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > QMGR_TMP_MAX_AGE &&
		    unlink(p) == 0)
			log_info("removed %s: left unfinished over 36 hours ago", p);
	}
	closedir(d);
}

/*
 * Remove the temporaries of info/NN/ID (qstore_info_write: temp, fsync,
 * rename) that a manager killed mid-write left.  Only a manager writes
 * there, and this one holds the queue's lock and has written nothing yet:
 * a temporary whose writer is gone, or that bears this process's pid (a
 * dead manager's, reused), is debris; one of another live pid is left alone.
 */
static void
clean_info_tmp(const struct qmgr *q)
{
	char dir[PATH_MAX];
	int b, n;

	for (b = 0; b < QSTORE_BUCKETS; b++) {
		if (path_fmt(dir, sizeof(dir), "%s/info/%02x", q->queue_dir, b) == -1)
			return;
		if ((n = atomicfile_clean_stale_dir(dir, true)) > 0)
			log_info("removed %d temporary file(s) of a dead writer from %s", n, dir);
	}
}

/* ----- signals, inotify, the loop ----- */

static int
setup_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM, SIGCHLD };
	int fd = sigfd_open(sigs, sizeof(sigs) / sizeof(sigs[0]), NULL);

	signal(SIGPIPE, SIG_IGN);
	return fd;
}

/* Every waiting message is due now (osd queue --flush). */
static void
flush(struct qmgr *q)
{
	struct sched_entry *e;
	size_t n = 0;

	while ((e = sched_heap_pop(&q->heap)) != NULL) {
		struct qmsg *m = e->item;

		m->in_heap = false;
		qmgr_ready(q, m);
		n++;
	}
	log_info("flush: %zu deferred message(s) to be tried now", n);
}

/* Drain the signalfd; false once the manager must stop. */
static bool
handle_signals(struct qmgr *q, int sigfd)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			read_controls(q);
			log_info("SIGHUP: control files re-read: local %u remote %u lifetime %lds",
				 q->max_local, q->max_remote, q->lifetime);
			break;
		case SIGALRM:
			flush(q);
			break;
		case SIGCHLD:
			qmgr_reap(q);
			break;
		default:
			run = false;
		}
	}
	return run;
}

static void
handle_inotify(struct qmgr *q, int ifd)
{
	char evbuf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(ifd, evbuf, sizeof(evbuf))) > 0) {
		char *p = evbuf;

		while (p < evbuf + n) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				scan(q, false);
			else if (ev->len > 0 && qstore_id_ok(ev->name))
				take_new(q, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Messages whose retry time has come go to the ready FIFO; the ms until the next one (-1: none). */
static int
due(struct qmgr *q)
{
	time_t now = time(NULL);
	struct sched_entry *e;

	while ((e = sched_heap_peek(&q->heap)) != NULL && e->next <= now) {
		struct qmsg *m = e->item;

		sched_heap_pop(&q->heap);
		m->in_heap = false;
		qmgr_ready(q, m);
	}
	if (e == NULL)
		return -1;
	return e->next - now > 3600 ? 3600 * 1000 : (int)(e->next - now) * 1000;
}

static void
run(struct qmgr *q, int sigfd, int ifd)
{
	struct pollfd *pfd;
	struct qjob **jobs;
	pid_t *worker_pids;
	size_t cap = q->max_local + q->max_remote + 2;
	long long next_scan = monotonic_ms() + QMGR_SCAN_INTERVAL * 1000LL, stop_at = -1;

	pfd = calloc(cap + 1000, sizeof(*pfd));
	jobs = calloc(cap + 1000, sizeof(*jobs));
	worker_pids = calloc(cap + 1000, sizeof(*worker_pids));
	if (pfd == NULL || jobs == NULL || worker_pids == NULL)
		fatalx("out of memory");
	for (;;) {
		size_t i, n = 0, total;
		int timeout;

		if (stop_at < 0) {
			timeout = due(q);
			qmgr_start_rounds(q);
			qmgr_dispatch(q);
			/* Gauges: two stores in the shared page, no system call. */
			metrics_set(M_QUEUE_DEFERRED, q->heap.len);
			metrics_set(M_QUEUE_PENDING, q->nmessages - q->heap.len);
		} else {
			timeout = 100;
		}
		total = q->nrunning_local + q->nrunning_remote;
		/* Idle workers are saying QUIT: let them end, or exiting would kill them (child_bind). */
		if (stop_at >= 0 && ((total == 0 && q->nworkers == 0) || monotonic_ms() > stop_at))
			break;
		if (q->ready_head != NULL && q->nwaiting < 1000)
			timeout = 0;
		if (timeout < 0 || timeout > QMGR_SCAN_INTERVAL * 1000)
			timeout = QMGR_SCAN_INTERVAL * 1000;
		pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ifd, .events = POLLIN };
		for (i = 0; i < total && n < cap + 1000; i++) {
			if (q->running[i]->out_fd == -1)
				continue;
			jobs[n] = q->running[i];
			worker_pids[n] = 0;
			pfd[n++] = (struct pollfd){ .fd = q->running[i]->out_fd, .events = POLLIN };
		}
		/* Idle workers too: one that dies or babbles is noticed. */
		for (i = 0; i < q->nworkers && n < cap + 1000; i++) {
			if (q->workers[i].out_fd == -1)
				continue;
			jobs[n] = NULL;
			worker_pids[n] = q->workers[i].pid;
			pfd[n++] = (struct pollfd){ .fd = q->workers[i].out_fd, .events = POLLIN };
		}
		if (poll(pfd, n, timeout) == -1 && errno != EINTR)
			fatal("poll");
		if ((pfd[0].revents & POLLIN) && !handle_signals(q, sigfd) && stop_at < 0) {
			stop_at = monotonic_ms() + QMGR_STOP_GRACE_MS;
			/* Workers end their connections and exit once their job is done. */
			qmgr_workers_stop(q);
			log_info("stopping: waiting for %zu delivery(ies)",
				 q->nrunning_local + q->nrunning_remote);
		}
		if (pfd[1].revents & POLLIN)
			handle_inotify(q, ifd);
		for (i = 2; i < n; i++) {
			size_t k;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (worker_pids[i] == 0) {
				qmgr_job_read(q, jobs[i]);
				continue;
			}
			/* Workers move in their array when one goes: find it by pid. */
			for (k = 0; k < q->nworkers; k++)
				if (q->workers[k].pid == worker_pids[i])
					break;
			if (k < q->nworkers)
				qmgr_worker_read(q, &q->workers[k]);
		}
		/* The job list may have changed above: reap with the current one. */
		qmgr_reap(q);
		if (monotonic_ms() >= next_scan) {
			scan(q, false);
			clean_tmp(q);
			next_scan = monotonic_ms() + QMGR_SCAN_INTERVAL * 1000LL;
		}
	}
	free(pfd);
	free(jobs);
	free(worker_pids);
}

/* ----- one-shot commands ----- */

static int
pid_file(const char *queue_dir, char *out, size_t size)
{
	return path_fmt(out, size, "%s/lock", queue_dir);
}

static int
send_flush(const char *queue_dir)
{
	char p[PATH_MAX], text[32] = "";
	long pid;
	FILE *f;

	if (pid_file(queue_dir, p, sizeof(p)) == -1 || (f = fopen(p, "r")) == NULL) {
		cli_error("queue", "--flush: %s: no queue manager seems to run", queue_dir);
		return 111;
	}
	if (fgets(text, sizeof(text), f) == NULL)
		text[0] = '\0';
	fclose(f);
	pid = strtol(text, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, SIGALRM) == -1) {
		cli_error("queue", "--flush: no queue manager running (pid file says \"%ld\")", pid);
		return 111;
	}
	printf("osd queue: asked the queue manager (pid %ld) to retry every deferred message\n",
	       pid);
	return 0;
}

static int
delete_message(const char *queue_dir, const char *id)
{
	char p[PATH_MAX];
	struct stat st;
	bool gone = false;

	if (!qstore_id_ok(id)) {
		cli_error("queue", "--delete %.64s: not a queue id", id);
		return 100;
	}
	/* Not a file smtpd is still writing: it would say 250 for a message already gone. */
	if (qstore_new_path(queue_dir, id, p, sizeof(p)) == 0 && lstat(p, &st) == 0 &&
	    !queue_file_complete(&st)) {
		cli_error("queue", "--delete %s: not complete yet (being written, or left by a "
			  "crashed writer: osd queue removes those)", id);
		return 100;
	}
	if (qstore_new_path(queue_dir, id, p, sizeof(p)) == 0 && unlink(p) == 0)
		gone = true;
	if (qstore_mess_path(queue_dir, id, p, sizeof(p)) == 0 && unlink(p) == 0)
		gone = true;
	if (qstore_info_path(queue_dir, id, p, sizeof(p)) == 0)
		(void)unlink(p);
	if (!gone) {
		cli_error("queue", "--delete %s: no such message", id);
		return 100;
	}
	printf("osd queue: message %s deleted (no bounce)\n", id);
	return 0;
}

/* One manager per queue: an exclusive lock on queue/lock, which also holds the pid. */
static int
take_lock(const char *queue_dir)
{
	char p[PATH_MAX], text[32];
	int fd, tries;

	if (pid_file(queue_dir, p, sizeof(p)) == -1 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		fatal("%s/lock", queue_dir);
	/*
	 * The delivery programs of a manager hold the lock too, and die with
	 * it (qmgr_job.c, child_bind): after a kill -9 the lock is free once
	 * the kernel has ended them, a moment later.  Wait a little before
	 * concluding that another manager runs: never deliver beside an orphan.
	 */
	for (tries = 0; flock(fd, LOCK_EX | LOCK_NB) == -1; tries++) {
		if (errno != EWOULDBLOCK || tries >= 50)
			fatalx("another osd queue runs on %s", queue_dir);
		usleep(100 * 1000);
	}
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, text, strlen(text), 0) == -1)
		fatal("%s", p);
	return fd;
}

int
main(int argc, char **argv)
{
	enum { OPT_FLUSH = 256, OPT_DELETE };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "flush", no_argument, NULL, OPT_FLUSH },
		{ "delete", required_argument, NULL, OPT_DELETE },
		{ NULL, 0, NULL, 0 }
	};
	static struct qmgr q;
	const char *conf_arg = NULL, *delete_id = NULL;
	bool do_flush = false;
	struct runas ra;
	char err[PATH_MAX + 256];
	int opt, sigfd, ifd, lockfd;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		case OPT_FLUSH: do_flush = true; break;
		case OPT_DELETE: delete_id = optarg; break;
		default: cli_bad_option("queue", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&q.conf, conf_arg);
	if (path_join(q.queue_dir, sizeof(q.queue_dir), q.conf.state_dir, "queue") == -1) {
		cli_error("queue", "state_dir: path too long");
		return 111;
	}
	if (do_flush)
		return send_flush(q.queue_dir);
	if (delete_id != NULL)
		return delete_message(q.queue_dir, delete_id);

	if (log_init("osd-queue", strcmp(q.conf.log, "syslog") == 0, q.conf.log_facility) < 0) {
		cli_error("queue", "log_facility %s: unknown", q.conf.log_facility);
		return 111;
	}
	if (path_self_dir(q.self_dir, sizeof(q.self_dir)) == -1)
		fatal("readlink /proc/self/exe");
	/* The queue belongs to the user the daemons run as (runas_user): handed over
	 * while root, with whatever a run as root left in it; else we do not start. */
	metrics_attach(&q.conf, false);
	if (runas_init(&ra, &q.conf, err, sizeof(err)) == -1 ||
	    queue_prepare(&ra, q.conf.state_dir, true, err, sizeof(err)) == -1 ||
	    runas_drop(&ra, err, sizeof(err)) == -1)
		runas_refuse("queue", err);
	if (qstore_init(q.queue_dir, err, sizeof(err)) == -1)
		fatalx("%s", err);
	lockfd = take_lock(q.queue_dir);
	q.lock_fd = lockfd;
	read_controls(&q);
	sched_heap_init(&q.heap);
	q.job_done = qmgr_job_finished;
	if ((q.running = calloc(q.max_local + q.max_remote + 2000, sizeof(*q.running))) == NULL ||
	    (q.workers = calloc(1001, sizeof(*q.workers))) == NULL)
		fatalx("out of memory");
	/* SIGHUP may raise the caps: room for up to 1000 of each. */
	sigfd = setup_signals();
	if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal("inotify_init1");
	{
		char newdir[PATH_MAX];

		if (path_fmt(newdir, sizeof(newdir), "%s/new", q.queue_dir) == -1 ||
		    inotify_add_watch(ifd, newdir, IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
			fatal("inotify %s/new", q.queue_dir);
	}
	clean_tmp(&q);
	clean_info_tmp(&q);
	scan(&q, true);
	log_info("ready: %zu message(s) in the queue, local %u remote %u, lifetime %lds, queue %s",
		 q.nmessages, q.max_local, q.max_remote, q.lifetime, q.queue_dir);

	run(&q, sigfd, ifd);

	log_info("stopped: %zu message(s) in the queue", q.nmessages);
	close(lockfd);
	return 0;
}
