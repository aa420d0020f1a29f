/* qmgr_round.c - one delivery round of a message: read it, split its pending recipients into jobs, record the verdicts, retry, bounce or remove. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "qmgr.h"
#include "timecalc.h"
#include "userdb.h"

/* Rounds are started only while fewer jobs than this wait for a slot (bounded memory after a flush). */
#define QMGR_WAITING_MAX 1000
/* A message whose file cannot be read is looked at again after this long. */
#define QMGR_BROKEN_RETRY 3600

void
qmgr_ready(struct qmgr *q, struct qmsg *m)
{
	if (m->in_heap) {
		sched_heap_remove(&q->heap, &m->sched);
		m->in_heap = false;
	}
	m->busy = true;
	m->next_ready = NULL;
	if (q->ready_tail != NULL)
		q->ready_tail->next_ready = m;
	else
		q->ready_head = m;
	q->ready_tail = m;
}

static void
forget(struct qmgr *q, struct qmsg *m)
{
	q->nmessages--;
	free(m);
}

static void
wait_retry(struct qmgr *q, struct qmsg *m, time_t next)
{
	m->busy = false;
	m->sched.next = next;
	m->sched.item = m;
	if (sched_heap_push(&q->heap, &m->sched) == 0) {
		m->in_heap = true;
		return;
	}
	/* Out of memory: the message stays on disk and is found at the next start. */
	log_warnx("msg %s: out of memory, forgotten until the next start", m->id);
	forget(q, m);
}

static void
round_free(struct qround *r)
{
	queue_envelope_read_free(&r->env);
	qstore_info_free(&r->info);
	free(r->data);
	free(r->verdicts);
	free(r->remote);
	free(r->expired);
	free(r);
}

/* The domain of an address (after its last '@'), or "" without one. */
static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

static struct qjob *
job_new(struct qround *r, bool remote, const char *domain, size_t cap)
{
	struct qjob *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->idx = calloc(cap, sizeof(*j->idx))) == NULL) {
		free(j);
		return NULL;
	}
	j->r = r;
	j->remote = remote;
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	j->out_fd = -1;
	return j;
}

static void
job_free(struct qjob *j)
{
	buf_free(&j->out);
	free(j->idx);
	free(j);
}

/* Make the jobs of a round: one per local recipient, one per remote domain (100 recipients each). */
static int
make_jobs(struct qmgr *q, struct qround *r)
{
	size_t i, k, n = r->env.nrcpts;
	bool *taken = calloc(n, sizeof(*taken));

	if (taken == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const char *dom = domain_of(r->env.rcpts[i]);
		struct qjob *j;

		if (taken[i] || r->info.rcpts[i].status != QSTORE_PENDING)
			continue;
		r->remote[i] = !userdb_domain_exists(q->conf.users_dir, dom);
		if ((j = job_new(r, r->remote[i], dom, r->remote[i] ? DELIVERY_RCPTS_MAX : 1)) == NULL)
			goto fail;
		j->idx[j->n++] = i;
		taken[i] = true;
		/* The same domain's other pending recipients ride along (one transaction). */
		for (k = i + 1; r->remote[i] && k < n && j->n < DELIVERY_RCPTS_MAX; k++) {
			if (taken[k] || r->info.rcpts[k].status != QSTORE_PENDING ||
			    strcasecmp(domain_of(r->env.rcpts[k]), dom) != 0)
				continue;
			r->remote[k] = true;
			j->idx[j->n++] = k;
			taken[k] = true;
		}
		r->jobs_left++;
		q->nwaiting++;
		qmgr_fifo_push(j->remote ? &q->wait_remote : &q->wait_local, j);
	}
	free(taken);
	return 0;
fail:
	free(taken);
	return -1;
}

static void finish_round(struct qmgr *q, struct qround *r);

/* Begin a round for m: read its file and state, queue its jobs. */
static void
start_round(struct qmgr *q, struct qmsg *m)
{
	struct qround *r = calloc(1, sizeof(*r));
	char err[512];
	int st;

	if (r == NULL || qstore_mess_path(q->queue_dir, m->id, r->path, sizeof(r->path)) == -1) {
		free(r);
		wait_retry(q, m, time(NULL) + QMGR_BROKEN_RETRY);
		return;
	}
	r->m = m;
	st = qstore_read_envelope(r->path, QMGR_READ_FIRST, &r->data, &r->len, &r->env, err,
				  sizeof(err));
	if (st == -1 && r->len == QMGR_READ_FIRST)
		st = qstore_read_envelope(r->path, QMGR_READ_MAX, &r->data, &r->len, &r->env, err,
					  sizeof(err));
	if (st == 1) {
		log_info("msg %s: gone from the queue (deleted)", m->id);
		free(r);
		forget(q, m);
		return;
	}
	if (st == -1) {
		log_warnx("msg %s: %s; trying again in an hour", m->id, err);
		free(r);
		wait_retry(q, m, time(NULL) + QMGR_BROKEN_RETRY);
		return;
	}
	m->arrival = r->env.received;
	st = qstore_info_read(q->queue_dir, m->id, r->env.nrcpts, &r->info, err, sizeof(err));
	if (st == -1) {
		/* Better deliver twice than never: start again from the envelope. */
		log_warnx("msg %s: %s; starting its state afresh", m->id, err);
	}
	if (st != 1 && qstore_info_init(&r->info, r->env.nrcpts) == -1)
		goto nomem;
	if (st == 0 && r->info.tries == 0)
		log_info("info msg %s: bytes %lld from <%s> qp 0 uid %ld", m->id,
			 (long long)(r->len - r->env.body_offset), r->env.sender, (long)getuid());
	r->verdicts = calloc(r->env.nrcpts, sizeof(*r->verdicts));
	r->remote = calloc(r->env.nrcpts, sizeof(*r->remote));
	r->expired = calloc(r->env.nrcpts, sizeof(*r->expired));
	if (r->verdicts == NULL || r->remote == NULL || r->expired == NULL)
		goto nomem;
	if (make_jobs(q, r) == -1)
		goto nomem;
	if (r->jobs_left == 0)
		finish_round(q, r);
	return;
nomem:
	log_warnx("msg %s: out of memory; trying again later", m->id);
	if (r->jobs_left == 0) {
		round_free(r);
		wait_retry(q, m, time(NULL) + 60);
	}
}

void
qmgr_start_rounds(struct qmgr *q)
{
	while (q->ready_head != NULL && q->nwaiting < QMGR_WAITING_MAX) {
		struct qmsg *m = q->ready_head;

		q->ready_head = m->next_ready;
		if (q->ready_head == NULL)
			q->ready_tail = NULL;
		start_round(q, m);
	}
}

/* The first line of a program's output, for the log and the state. */
static const char *
first_line(struct buf *b)
{
	char *nl;

	if (b->data == NULL || b->len == 0)
		return "no explanation";
	if ((nl = memchr(b->data, '\n', b->len)) != NULL)
		*nl = '\0';
	return b->data;
}

static const char *const verdict_words[] = { "success", "deferral", "failure" };

static void
record(struct qround *r, size_t i, enum delivery_outcome v, const char *reason)
{
	static const enum qstore_status st[] = { QSTORE_DONE, QSTORE_PENDING, QSTORE_FAILED };
	static const enum metric m[] = { M_DELIVERY_DELIVERED, M_DELIVERY_DEFERRED, M_DELIVERY_BOUNCED };

	metrics_inc(m[v]);
	r->verdicts[i] = v;
	if (qstore_info_set(&r->info, i, st[v], reason) == -1)
		r->info.rcpts[i].status = st[v];        /* the reason is lost, not the state */
}

void
qmgr_job_finished(struct qmgr *q, struct qjob *j)
{
	struct qround *r = j->r;
	char err[512];
	bool settled;
	size_t i;

	if (!j->remote) {
		enum delivery_outcome v = delivery_local_outcome(j->exit_status);
		const char *why = first_line(&j->out);

		log_info("delivery %lu: %s: %s", j->number, verdict_words[v], why);
		record(r, j->idx[0], v, why);
		/* Killed (exit status -1): it may have got as far as new/; the next try looks first. */
		if (j->exit_status == -1 && j->pid == -1)
			r->local_killed = true;
	} else {
		enum delivery_outcome *v = calloc(j->n, sizeof(*v));
		const char **why = calloc(j->n, sizeof(*why));
		char *text = NULL;

		if (v == NULL || why == NULL ||
		    delivery_verdict_parse(j->out.data != NULL ? j->out.data : "", j->out.len, j->n, v, why,
				   &text) == -1) {
			for (i = 0; i < j->n; i++)
				record(r, j->idx[i], DELIVERY_DEFER, "out of memory reading the verdict");
		} else {
			for (i = 0; i < j->n; i++) {
				log_info("delivery %lu: %s: %s: %s", j->number, verdict_words[v[i]],
					 r->env.rcpts[j->idx[i]], why[i]);
				record(r, j->idx[i], v[i], why[i]);
			}
		}
		free(text);
		free(v);
		free(why);
	}
	settled = false;
	for (i = 0; i < j->n; i++)
		settled |= r->info.rcpts[j->idx[i]].status != QSTORE_PENDING;
	job_free(j);
	if (--r->jobs_left == 0) {
		finish_round(q, r);
		return;
	}
	/*
	 * Other jobs of the round still run: record this one's deliveries now,
	 * as qmail marks each recipient done at once, so that a crash repeats
	 * only the deliveries in flight, not those finished earlier in the
	 * round (docs/delivery.md, "Crashes and duplicates").
	 */
	if (settled && qstore_info_write(q->queue_dir, r->m->id, &r->info, q->conf.fsync, err,
					 sizeof(err)) == -1)
		log_warnx("msg %s: %s (a crash now would repeat these deliveries)", r->m->id, err);
}

/* Where a bounce of r goes, and from whom; false when it is to be dropped. */
static bool
bounce_envelope(const struct qmgr *q, const struct qround *r, const char **from_r,
		const char **to_r)
{
	const char *sender = r->env.sender;

	if (strcmp(sender, DSN_DOUBLE_BOUNCE_SENDER) == 0) {
		log_warnx("msg %s: a double bounce failed: discarded", r->m->id);
		return false;
	}
	if (sender[0] != '\0') {
		*from_r = "";
		*to_r = sender;
		return true;
	}
	if (q->doublebounceto[0] == '\0') {
		log_warnx("msg %s: bounce of a bounce, doublebounceto is empty: discarded", r->m->id);
		return false;
	}
	*from_r = DSN_DOUBLE_BOUNCE_SENDER;
	*to_r = q->doublebounceto;
	return true;
}

/* Queue one bounce for every failed recipient.  0 (queued or rightly dropped), or -1: try later. */
static int
bounce(struct qmgr *q, struct qround *r)
{
	struct dsn_rcpt *failed;
	struct queue_writer *w;
	struct queue_envelope env;
	struct dsn_input in;
	struct buf text;
	const char *from, *to;
	char id[QUEUE_ID_MAX + 1], err[512];
	size_t i, n = 0;
	int rc = -1;

	if (!bounce_envelope(q, r, &from, &to))
		return 0;
	if ((failed = calloc(r->env.nrcpts, sizeof(*failed))) == NULL)
		return -1;
	for (i = 0; i < r->env.nrcpts; i++) {
		if (r->info.rcpts[i].status != QSTORE_FAILED)
			continue;
		failed[n++] = (struct dsn_rcpt){
			.address = r->env.rcpts[i],
			.reason = r->info.rcpts[i].reason != NULL ? r->info.rcpts[i].reason : "failed",
			.expired = r->expired[i],
		};
	}
	in = (struct dsn_input){
		.queue_id = r->m->id, .reporting_mta = q->me, .from = r->env.sender, .to = to,
		.arrival = r->env.received, .now = time(NULL), .rcpts = failed, .nrcpts = n,
		.original = r->data + r->env.body_offset, .original_len = r->len - r->env.body_offset,
	};
	buf_init(&text, 0);
	env = (struct queue_envelope){
		.sender = from, .rcpts = &to, .nrcpts = 1, .client = "127.0.0.1", .helo = q->me,
		.auth_user = NULL, .received = in.now,
	};
	if (dsn_compose(&in, &text) == -1) {
		log_warnx("msg %s: composing the bounce: %s", r->m->id, strerror(errno));
	} else if ((w = queue_begin(q->queue_dir, q->conf.fsync, &env, err, sizeof(err))) == NULL) {
		log_warnx("msg %s: queueing the bounce: %s", r->m->id, err);
	} else if (queue_write(w, text.data, text.len, err, sizeof(err)) == -1) {
		log_warnx("msg %s: queueing the bounce: %s", r->m->id, err);
		queue_abort(w);
	} else if (queue_commit(w, id, err, sizeof(err)) == -1) {
		log_warnx("msg %s: queueing the bounce: %s", r->m->id, err);
	} else {
		log_info("bounce msg %s qp %s to <%s>", r->m->id, id, to);
		metrics_inc(M_BOUNCES);
		rc = 0;
	}
	buf_free(&text);
	free(failed);
	return rc;
}

static void
finish_round(struct qmgr *q, struct qround *r)
{
	struct qmsg *m = r->m;
	time_t now = time(NULL);
	bool pending = false, pending_remote = false, failed = false, wrote_state = false;
	char err[512];
	size_t i;

	r->info.tries++;
	/* Looked for this round; the next one looks only if a try of this one was killed. */
	m->recheck = r->local_killed;
	for (i = 0; i < r->env.nrcpts; i++) {
		struct qstore_rcpt *rc = &r->info.rcpts[i];

		if (rc->status == QSTORE_PENDING && q->lifetime >= 0 &&
		    now >= time_add(r->env.received, q->lifetime)) {
			char why[QSTORE_REASON_MAX];

			/* qmail: past queuelifetime the last try's failure is final. */
			snprintf(why, sizeof(why), "I'm not going to try again; this message has been "
				 "in the queue too long. Last reason: %s",
				 rc->reason != NULL ? rc->reason : "none");
			(void)qstore_info_set(&r->info, i, QSTORE_FAILED, why);
			r->expired[i] = true;
		}
		pending |= rc->status == QSTORE_PENDING;
		pending_remote |= rc->status == QSTORE_PENDING && r->remote[i];
		failed |= rc->status == QSTORE_FAILED;
	}
	if (pending) {
		r->info.next = sched_next_try(r->env.received, r->info.tries, pending_remote,
					      q->lifetime, now);
		if (qstore_info_write(q->queue_dir, m->id, &r->info, q->conf.fsync, err,
				      sizeof(err)) == -1)
			log_warnx("msg %s: %s (a crash now would repeat this round)", m->id, err);
		wait_retry(q, m, r->info.next);
		round_free(r);
		return;
	}
	if (failed && !r->info.bounced) {
		if (bounce(q, r) == -1) {
			/* No bounce, no removal: the failures are kept and the bounce is tried again. */
			r->info.next = now + 60;
			(void)qstore_info_write(q->queue_dir, m->id, &r->info, q->conf.fsync, err,
						sizeof(err));
			wait_retry(q, m, r->info.next);
			round_free(r);
			return;
		}
		r->info.bounced = true;
		/* Recorded before removal, so a crash in between does not bounce twice. */
		wrote_state = qstore_info_write(q->queue_dir, m->id, &r->info, q->conf.fsync, err,
						sizeof(err)) == 0;
		if (!wrote_state)
			log_warnx("msg %s: %s", m->id, err);
	}
	qstore_remove(q->queue_dir, m->id);
	log_info("end msg %s", m->id);
	round_free(r);
	forget(q, m);
}
