/* qmgr_job.c - running the delivery programs: concurrency caps, fork and exec, reading the verdicts, reaping. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delivery_proto.h"
#include "log.h"
#include "path.h"
#include "regfile.h"
#include "qmgr.h"

void
qmgr_fifo_push(struct qjob_fifo *f, struct qjob *j)
{
	j->next = NULL;
	if (f->tail != NULL)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
}

static size_t
running_to(const struct qmgr *q, const char *domain)
{
	size_t i, n = 0, total = q->nrunning_local + q->nrunning_remote;

	for (i = 0; i < total; i++)
		n += q->running[i]->remote && strcasecmp(q->running[i]->domain, domain) == 0;
	return n;
}

/*
 * The program's stdin: the queue file opened anew (each child needs its
 * own file offset), positioned at the message.
 */
static int
open_message(const struct qjob *j)
{
	int fd = regfile_open(j->r->path, O_RDONLY, 0, NULL);

	if (fd == -1)
		return -1;
	if (lseek(fd, (off_t)j->r->env.body_offset, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * In a freshly forked delivery program, before its exec: it dies with
 * the manager, and it holds the queue lock while it lives.  A program
 * that outlived a killed manager would finish a delivery whose verdict
 * nobody reads, while the next manager, finding the message still
 * queued, delivers it again: every kill would add one copy of each
 * message in flight, and a message caught by two kills arrived three
 * times.  Killed with its manager, a delivery is repeated only when it
 * was complete and not yet recorded (docs/delivery.md, "Crashes and
 * duplicates"); holding the lock, no orphan can run beside the next
 * manager, which waits for the lock.  False when the manager is gone
 * already (the child must exit).
 */
static bool
child_bind(const struct qmgr *q, pid_t manager)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != manager)
		return false;
	/* Inherited across exec: the next manager's flock waits for this process too. */
	return q->lock_fd < 0 || fcntl(q->lock_fd, F_SETFD, 0) == 0;
}

/* Fork and exec osd-local for a local job.  0, or -1 (the job is then finished as deferred). */
static int
spawn(struct qmgr *q, struct qjob *j)
{
	const struct queue_envelope_read *env = &j->r->env;
	char prog[PATH_MAX], key[QUEUE_ID_MAX + 24];
	const char **argv;
	int pipefd[2], in;
	size_t i, argc = 0;
	pid_t pid, self = getpid();

	if (path_fmt(prog, sizeof(prog), "%s/osd-local", q->self_dir) == -1)
		return -1;
	if ((argv = calloc(j->n + 12, sizeof(*argv))) == NULL)
		return -1;
	/* The key finds this delivery again in the Maildir after a lost verdict (docs/delivery.md). */
	snprintf(key, sizeof(key), "%s.%zu", j->r->m->id, j->idx[0]);
	argv[argc++] = prog;
	argv[argc++] = "-c";
	argv[argc++] = q->conf.path;
	argv[argc++] = "-k";
	argv[argc++] = key;
	if (j->r->m->recheck)
		argv[argc++] = "-r";
	argv[argc++] = "--";
	argv[argc++] = env->sender;
	for (i = 0; i < j->n; i++)
		argv[argc++] = env->rcpts[j->idx[i]];
	argv[argc] = NULL;

	if ((in = open_message(j)) == -1) {
		log_warn("msg %s: %s", j->r->m->id, j->r->path);
		free(argv);
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		log_warn("pipe");
		close(in);
		free(argv);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (!child_bind(q, self) || dup2(in, 0) == -1 || dup2(pipefd[1], 1) == -1)
			_exit(DELIVERY_EXIT_DEFER);
		execv(prog, (char *const *)argv);
		/* osd-local's verdict for a program that could not start: its one line, exit 111. */
		dprintf(1, "cannot run %s: %s\n", prog, strerror(errno));
		_exit(DELIVERY_EXIT_DEFER);
	}
	close(in);
	close(pipefd[1]);
	free(argv);
	if (pid == -1) {
		log_warn("fork");
		close(pipefd[0]);
		return -1;
	}
	(void)fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	j->pid = pid;
	j->out_fd = pipefd[0];
	j->exit_status = -1;
	buf_init(&j->out, QMGR_OUTPUT_MAX);
	return 0;
}

/* Start "osd-remote -c CONF --worker" with a pipe each way; NULL on failure. */
static struct qworker *
worker_spawn(struct qmgr *q)
{
	char prog[PATH_MAX];
	int in[2], out[2];
	struct qworker *w;
	pid_t pid, self = getpid();

	if (path_fmt(prog, sizeof(prog), "%s/osd-remote", q->self_dir) == -1)
		return NULL;
	if (pipe2(in, O_CLOEXEC) == -1)
		return NULL;
	if (pipe2(out, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (!child_bind(q, self) || dup2(in[0], 0) == -1 || dup2(out[1], 1) == -1)
			_exit(111);
		execl(prog, prog, "-c", q->conf.path, "--worker", (char *)NULL);
		_exit(111);
	}
	close(in[0]);
	close(out[1]);
	if (pid == -1) {
		log_warn("fork");
		close(in[1]);
		close(out[0]);
		return NULL;
	}
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
	w = &q->workers[q->nworkers++];
	*w = (struct qworker){ .pid = pid, .in_fd = in[1], .out_fd = out[0] };
	buf_init(&w->out, QMGR_OUTPUT_MAX);
	return w;
}

/* An idle worker for domain: one whose connection is there already, else any, else a new one. */
static struct qworker *
worker_for(struct qmgr *q, const char *domain)
{
	struct qworker *any = NULL;
	size_t i;

	for (i = 0; i < q->nworkers; i++) {
		struct qworker *w = &q->workers[i];

		if (w->job != NULL || w->in_fd == -1)
			continue;
		if (strcasecmp(w->domain, domain) == 0)
			return w;
		if (any == NULL)
			any = w;
	}
	if (any != NULL)
		return any;
	/* Busy workers are running remote jobs, fewer than max_remote (at most 1000): room stays. */
	return q->nworkers < q->max_remote ? worker_spawn(q) : NULL;
}

/* Hand j to worker w: one request line (docs/delivery.md, worker mode).  0, or -1. */
static int
worker_send(struct qworker *w, struct qjob *j)
{
	const struct queue_envelope_read *env = &j->r->env;
	struct delivery_request req = {
		.path = j->r->path, .offset = (int64_t)env->body_offset, .domain = j->domain,
		.sender = env->sender, .nrcpts = j->n,
	};
	struct buf line;
	size_t i, off = 0;
	int r = 0;

	for (i = 0; i < j->n && i < DELIVERY_RCPTS_MAX; i++)
		req.rcpts[i] = env->rcpts[j->idx[i]];
	buf_init(&line, 0);
	if (delivery_request_encode(&req, &line) == -1)
		r = -1;
	/* The worker is idle, so it reads at once: a blocking write of one line is fine. */
	while (r == 0 && off < line.len) {
		ssize_t n = write(w->in_fd, line.data + off, line.len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			r = -1;
		else
			off += (size_t)n;
	}
	buf_free(&line);
	if (r == 0) {
		w->job = j;
		j->worker = w;
		snprintf(w->domain, sizeof(w->domain), "%s", j->domain);
		buf_reset(&w->out);
	}
	return r;
}

static void
log_start(const struct qjob *j)
{
	const struct queue_envelope_read *env = &j->r->env;

	if (j->n == 1)
		log_info("starting delivery %lu: msg %s to %s %s", j->number, j->r->m->id,
			 j->remote ? "remote" : "local", env->rcpts[j->idx[0]]);
	else
		log_info("starting delivery %lu: msg %s to remote %s (%zu recipients)", j->number,
			 j->r->m->id, j->domain, j->n);
}

static void
status_line(const struct qmgr *q)
{
	log_info("status: local %zu/%u remote %zu/%u", q->nrunning_local, q->max_local,
		 q->nrunning_remote, q->max_remote);
}

/* Take the first job of f that may start now; NULL when none may. */
static struct qjob *
take(struct qmgr *q, struct qjob_fifo *f)
{
	struct qjob *j, *prev = NULL;
	unsigned looked = 0;

	/* A busy domain must not hold up the others: look a little way past it. */
	for (j = f->head; j != NULL && looked < 1000; prev = j, j = j->next, looked++) {
		if (j->remote && running_to(q, j->domain) >= q->max_per_domain)
			continue;
		if (prev != NULL)
			prev->next = j->next;
		else
			f->head = j->next;
		if (f->tail == j)
			f->tail = prev;
		j->next = NULL;
		return j;
	}
	return NULL;
}

void
qmgr_dispatch(struct qmgr *q)
{
	bool started = false;

	for (;;) {
		struct qjob *j = NULL;

		if (q->nrunning_local < q->max_local)
			j = take(q, &q->wait_local);
		if (j == NULL && q->nrunning_remote < q->max_remote)
			j = take(q, &q->wait_remote);
		if (j == NULL)
			break;
		q->nwaiting--;
		j->number = ++q->deliveries;
		log_start(j);
		if (j->remote) {
			struct qworker *w = worker_for(q, j->domain);

			if (w == NULL || worker_send(w, j) == -1) {
				j->pid = -1;
				j->out_fd = -1;
				buf_init(&j->out, QMGR_OUTPUT_MAX);
				(void)delivery_verdict_encode(&j->out, DELIVERY_MSG_SOFT,
							      "no osd-remote worker could take it");
				if (w != NULL)
					log_warn("delivery %lu: writing to osd-remote", j->number);
				q->job_done(q, j);
				continue;
			}
			j->pid = -1;            /* the worker's, not the job's */
			j->out_fd = -1;
			buf_init(&j->out, QMGR_OUTPUT_MAX);
		} else if (spawn(q, j) == -1) {
			j->pid = -1;
			j->exit_status = DELIVERY_EXIT_DEFER;
			j->out_fd = -1;
			buf_init(&j->out, QMGR_OUTPUT_MAX);
			(void)buf_printf(&j->out, "could not start the delivery program\n");
			q->job_done(q, j);
			continue;
		}
		q->running[q->nrunning_local + q->nrunning_remote] = j;
		if (j->remote)
			q->nrunning_remote++;
		else
			q->nrunning_local++;
		started = true;
	}
	if (started)
		status_line(q);
}

static void
unlist(struct qmgr *q, struct qjob *j)
{
	size_t i, total = q->nrunning_local + q->nrunning_remote;

	for (i = 0; i < total; i++) {
		if (q->running[i] != j)
			continue;
		q->running[i] = q->running[total - 1];
		if (j->remote)
			q->nrunning_remote--;
		else
			q->nrunning_local--;
		return;
	}
}

/* Both the output's end and the exit have been seen: the job is over. */
static void
maybe_finished(struct qmgr *q, struct qjob *j)
{
	if (j->out_fd != -1 || j->pid != -1)
		return;
	unlist(q, j);
	q->job_done(q, j);
	status_line(q);
}

void
qmgr_job_read(struct qmgr *q, struct qjob *j)
{
	char chunk[4096];
	ssize_t n;

	for (;;) {
		n = read(j->out_fd, chunk, sizeof(chunk));
		if (n > 0) {
			/* Past the bound the rest is dropped: the verdict is then incomplete. */
			(void)buf_append(&j->out, chunk, (size_t)n);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	close(j->out_fd);
	j->out_fd = -1;
	maybe_finished(q, j);
}

void
qmgr_reap(struct qmgr *q)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		size_t i, total = q->nrunning_local + q->nrunning_remote;

		for (i = 0; i < total; i++) {
			struct qjob *j = q->running[i];

			if (j->pid != pid)
				continue;
			j->pid = -1;
			j->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			if (WIFSIGNALED(status))
				log_warnx("delivery %lu: program killed by signal %d", j->number,
					  WTERMSIG(status));
			maybe_finished(q, j);
			break;
		}
	}
}

/* The worker's current job is over (verdict complete, or the worker died): finish it. */
static void
worker_job_done(struct qmgr *q, struct qworker *w)
{
	struct qjob *j = w->job;

	w->job = NULL;
	if (j == NULL)
		return;
	j->worker = NULL;
	if (w->out.len > 0)
		(void)buf_append(&j->out, w->out.data, w->out.len);
	buf_reset(&w->out);
	unlist(q, j);
	q->job_done(q, j);
	status_line(q);
}

/* Forget worker w (it exited or broke): its job, if any, is deferred by its incomplete verdict. */
static void
worker_remove(struct qmgr *q, struct qworker *w)
{
	if (w->in_fd != -1)
		close(w->in_fd);
	if (w->out_fd != -1)
		close(w->out_fd);
	w->in_fd = w->out_fd = -1;
	worker_job_done(q, w);
	buf_free(&w->out);
	*w = q->workers[--q->nworkers];
	if (w->job != NULL)
		w->job->worker = w;
}

void
qmgr_worker_read(struct qmgr *q, struct qworker *w)
{
	char chunk[4096];
	ssize_t n;

	for (;;) {
		n = read(w->out_fd, chunk, sizeof(chunk));
		if (n > 0) {
			if (w->job == NULL) {
				log_warnx("osd-remote worker %ld said something unasked; stopping it",
					  (long)w->pid);
				break;
			}
			if (buf_append(&w->out, chunk, (size_t)n) == -1) {
				/* A verdict can never be this long: the worker is broken. */
				log_warnx("delivery %lu: the osd-remote worker's verdict is too long; "
					  "stopping it", w->job->number);
				break;
			}
			if (delivery_verdict_complete(w->out.data, w->out.len, w->job->n))
				worker_job_done(q, w);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	if (n == 0 && w->job != NULL)
		log_warnx("delivery %lu: the osd-remote worker ended without a verdict", w->job->number);
	worker_remove(q, w);
}

void
qmgr_workers_stop(struct qmgr *q)
{
	size_t i;

	for (i = 0; i < q->nworkers; i++) {
		if (q->workers[i].in_fd != -1) {
			close(q->workers[i].in_fd);
			q->workers[i].in_fd = -1;
		}
	}
}
