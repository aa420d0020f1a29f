/* remote_int.h - what remote.c, remote_smtp.c, remote_worker.c and remote_verdict.c share of osd-remote; no other file includes it. */
#ifndef OSD_SMTP_REMOTE_INT_H
#define OSD_SMTP_REMOTE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "delivery_proto.h"
#include "ipaddr.h"
#include "mx.h"
#include "netconn.h"
#include "smtpc.h"

struct remote;

/* One connection to one address of one host; a worker keeps it between messages. */
struct remote_conn {
	struct remote *rm;
	bool open;                      /* c and out are live */
	bool dirty;                     /* the last transaction did not end in a 2xx to the final dot: RSET first */
	bool broken;                    /* the last reply() failed by a write error or EOF: the server is gone */
	char domain[MX_HOST_MAX + 1];   /* the DOMAIN it was opened for: only that domain's mail reuses it */
	char name[MX_HOST_MAX + 1];     /* the host's name (SNI) */
	char peer[MX_HOST_MAX + IPADDR_TEXT_MAX + 4];   /* "mx1.example.net [192.0.2.25]", for verdicts */
	struct netconn c;
	struct buf out;
	struct smtpc_reply_parser parser;
	struct smtp_ehlo ext;
};

struct remote {
	struct osd_conf conf;
	bool worker;                    /* remote_worker.c: --worker: requests on stdin, connections cached */
	char domain[MX_HOST_MAX + 1];
	const char *sender;             /* as sent in MAIL FROM:<> */
	const char *const *rcpts;
	size_t nrcpts;
	char helo[256];
	int connect_ms, remote_ms;
	struct tls_client *tls;         /* made when a server first offers STARTTLS */
	bool tls_failed;                /* it could not be made: STARTTLS is not used */
	struct remote_conn conn;        /* the connection in use, or cached (worker) */
	/* The message: stdin, or the worker's queue file. */
	int msg_fd;
	off_t msg_start;                /* -1: not seekable (read it as a stream) */
	uint64_t msg_size;              /* RFC 1870 size, when msg_start != -1 */
	/* The verdicts: DELIVERY_RCPT_* per recipient (0: none yet), then DELIVERY_MSG_*. */
	char rcpt_kind[DELIVERY_RCPTS_MAX];
	char rcpt_text[DELIVERY_RCPTS_MAX][DELIVERY_TEXT_MAX + 1];
	char msg_kind;
	char msg_text[DELIVERY_TEXT_MAX + 1];
	/* Why the last host tried was no good, for when none is. */
	char last_error[DELIVERY_TEXT_MAX + 1];
};

/* remote_verdict.c: the verdicts being made, and their lines on stdout. */
/* Recipient i's verdict: kind (DELIVERY_RCPT_*) and text. */
void rcpt_verdict(struct remote *rm, size_t i, char kind, const char *text);
/* The message's verdict: kind (DELIVERY_MSG_*) and text. */
void msg_verdict(struct remote *rm, char kind, const char *text);
/* Forget every verdict: a new request, or a transaction to be redone. */
void verdicts_reset(struct remote *rm);
/* Every recipient still without a verdict gets kind and text. */
void rcpt_verdict_rest(struct remote *rm, char kind, const char *text);
/* No transaction took place: every recipient and the message fail alike (perm: h/D, else s/Z). */
void remote_fail_all(struct remote *rm, bool perm, const char *text);
/* The verdict lines on stdout, flushed: 0, or -1 when stdout is gone. */
int print_verdicts(const struct remote *rm);
/* The answer to a malformed request line naming count recipients (s each, then Z): 0, or -1. */
int print_malformed(size_t count);

/* remote_smtp.c: the SMTP transaction. */
/* Close the connection without a word (it is broken, or QUIT was said) and free its buffer. */
void remote_conn_close(struct remote_conn *s);
/* Say goodbye (RFC 5321 4.1.1.10), wait briefly for the answer, and close. */
void remote_quit(struct remote_conn *s);
/* The RFC 1870 size of the message from where msg_fd is (msg_start -1: not seekable); 0, or -1 with err. */
int msg_measure(struct remote *rm, char *err, size_t errsize);
/* One transaction on an open connection: 0 with every verdict set; 1 when a reused one was dead (closed; redo it all). */
int remote_transaction(struct remote_conn *s, bool reused);
/* Where to send (control/smtproutes, else MX), and the sending: every verdict set. */
void remote_deliver(struct remote *rm);

/* remote_worker.c: --worker: requests from stdin until its EOF; the exit status (0, or 111). */
int remote_worker(struct remote *rm);

#endif
