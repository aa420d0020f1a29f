/* qmgr_job.c - running the delivery programs: concurrency caps, fork and exec, reading the verdicts, reaping. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "path.h"
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
	int fd = open(j->r->path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	if (lseek(fd, (off_t)j->r->env.body_offset, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Fork and exec the job's program.  0, or -1 (the job is then finished as deferred). */
static int
spawn(struct qmgr *q, struct qjob *j)
{
	const struct queue_envelope_read *env = &j->r->env;
	char prog[PATH_MAX];
	const char **argv;
	int pipefd[2], in;
	size_t i, argc = 0;
	pid_t pid;

	if (path_fmt(prog, sizeof(prog), "%s/%s", q->self_dir,
		     j->remote ? "osd-remote" : "osd-local") == -1)
		return -1;
	if ((argv = calloc(j->n + 8, sizeof(*argv))) == NULL)
		return -1;
	argv[argc++] = prog;
	argv[argc++] = "-c";
	argv[argc++] = q->conf.path;
	if (j->remote)
		argv[argc++] = j->domain;
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
		if (dup2(in, 0) == -1 || dup2(pipefd[1], 1) == -1)
			_exit(111);
		execv(prog, (char *const *)argv);
		/* The verdict of a program that could not even start: try later. */
		dprintf(1, "Zcannot run %s: %s\n", prog, strerror(errno));
		_exit(111);
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
		if (spawn(q, j) == -1) {
			j->pid = -1;
			j->exit_status = 111;
			j->out_fd = -1;
			buf_init(&j->out, QMGR_OUTPUT_MAX);
			(void)buf_printf(&j->out, "%scould not start the delivery program\n",
					 j->remote ? "Z" : "");
			qmgr_job_finished(q, j);
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
	qmgr_job_finished(q, j);
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
