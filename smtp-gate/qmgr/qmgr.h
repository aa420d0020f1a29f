/* qmgr.h - what the queue manager's files share: messages, delivery rounds, jobs, the manager itself. */
#ifndef OSD_SMTP_QMGR_H
#define OSD_SMTP_QMGR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "delivery_proto.h"
#include "qstore.h"
#include "queue.h"
#include "sched.h"

/*
 * The start of a queue file a round keeps: the envelope and the headers a
 * bounce quotes (dsn.h quotes at most 64 KB of them).  Only an envelope
 * longer than that (a forward to very many addresses) is read again, up
 * to QMGR_READ_MAX: up to 1,000 rounds wait for a delivery slot at once.
 */
#define QMGR_READ_FIRST (128u * 1024)
#define QMGR_READ_MAX (4u * 1024 * 1024)
/* Output kept from one delivery program. */
#define QMGR_OUTPUT_MAX (256u * 1024)
/* Remote deliveries to one domain at once. */
#define QMGR_PER_DOMAIN_DEFAULT 10

/* One message the manager knows of. */
struct qmsg {
	char id[QUEUE_ID_MAX + 1];
	time_t arrival;
	struct sched_entry sched;       /* in the heap while waiting for a retry */
	bool in_heap;
	bool busy;                      /* in the ready FIFO or in a round */
	bool recheck;                   /* a local delivery's verdict may be lost: osd-local -r */
	struct qmsg *next_ready;
};

/* One delivery round of a message: its envelope and state while jobs run. */
struct qround {
	struct qmsg *m;
	char path[PATH_MAX];            /* mess/NN/ID */
	char *data;                     /* the start of the file (envelope, headers) */
	size_t len;
	bool *expired;                  /* per recipient: failed this round by queuelifetime */
	struct queue_envelope_read env;
	struct qstore_info info;
	enum delivery_outcome *verdicts;         /* per recipient, this round */
	bool *remote;                   /* per recipient: delivered by osd-remote */
	size_t jobs_left;
	bool local_killed;              /* a local job died without its verdict this round */
};

/* One run of osd-local or osd-remote. */
struct qjob {
	struct qround *r;
	bool remote;
	char domain[256];               /* remote: the recipients' domain */
	size_t *idx;                    /* recipient indexes in the envelope */
	size_t n;
	unsigned long number;           /* "delivery N" in the log */
	struct qworker *worker;         /* remote: the worker delivering it */
	pid_t pid;                      /* 0 until started, -1 after reaped */
	int exit_status;                /* exit code, or -1 for a signal */
	int out_fd;                     /* the program's stdout; -1 after EOF */
	struct buf out;
	struct qjob *next;              /* in a waiting FIFO */
};

/*
 * A long-lived "osd-remote --worker": remote jobs are handed to it one at
 * a time over a pipe, and it keeps its SMTP connection to a domain open
 * for the next message there (docs/delivery.md, worker mode).
 */
struct qworker {
	pid_t pid;                      /* -1 once it has exited */
	int in_fd;                      /* its stdin: requests; -1 when closed */
	int out_fd;                     /* its stdout: verdicts; -1 after EOF */
	struct qjob *job;               /* the job it delivers now, or NULL */
	char domain[256];               /* the domain of its last job (its cached connection) */
	struct buf out;                 /* verdict lines of the current job so far */
};

struct qjob_fifo {
	struct qjob *head, *tail;
};

struct qmgr {
	struct osd_conf conf;
	char queue_dir[PATH_MAX];
	char self_dir[PATH_MAX];        /* where osd-local and osd-remote are */
	char me[256];
	char doublebounceto[520];
	long lifetime;                  /* queuelifetime, seconds */
	unsigned max_local, max_remote, max_per_domain;

	struct sched_heap heap;         /* messages waiting for a retry */
	struct qmsg *ready_head, *ready_tail;   /* messages due now, in order */
	struct qjob_fifo wait_local, wait_remote;
	struct qjob **running;          /* max_local + max_remote slots */
	size_t nrunning_local, nrunning_remote;
	size_t nmessages;               /* known: waiting, ready or in a round */
	size_t nwaiting;                /* jobs in the waiting FIFOs */
	struct qworker *workers;        /* up to max_remote of them */
	size_t nworkers;
	unsigned long deliveries;       /* delivery numbers handed out */
	int lock_fd;                    /* queue/lock, held; every delivery program holds it too */
	/* A job is over (its verdict read, or it could not start): record it (qmgr_job_finished). */
	void (*job_done)(struct qmgr *q, struct qjob *j);
};

/* qmgr_round.c */
void qmgr_ready(struct qmgr *q, struct qmsg *m);
void qmgr_start_rounds(struct qmgr *q);
/* Record a finished job's verdict and free it; the round ends with its last job.  q->job_done. */
void qmgr_job_finished(struct qmgr *q, struct qjob *j);

/* qmgr_job.c: it reports each finished job through q->job_done, never calling the rounds itself. */
void qmgr_fifo_push(struct qjob_fifo *f, struct qjob *j);
void qmgr_dispatch(struct qmgr *q);
/* A running job's stdout is readable (or at EOF). */
void qmgr_job_read(struct qmgr *q, struct qjob *j);
/* SIGCHLD: collect exited programs. */
void qmgr_reap(struct qmgr *q);

/* A worker's stdout is readable (or at EOF). */
void qmgr_worker_read(struct qmgr *q, struct qworker *w);

/* Stopping: close every worker's stdin, so each ends its connection and exits. */
void qmgr_workers_stop(struct qmgr *q);

#endif
