/* server_worker.h - handing an accepted connection to a session process that is already running (server.c's reuse of session processes). */
#ifndef OSD_SERVER_WORKER_H
#define OSD_SERVER_WORKER_H

#include "ipaddr.h"

/* What comes with the descriptor: what server_hooks.serve_many is called with. */
struct server_handoff {
	struct ipaddr addr;
	int kind;
	unsigned prior_failures;
};

/*
 * A connected pair of SOCK_SEQPACKET sockets, close-on-exec: [0] stays in
 * the parent, [1] goes to the session process.  0, or -1 with errno.
 */
int worker_pair(int sv[2]);

/*
 * Parent: pass fd and h to the idle session process at the other end of
 * ctl, never blocking (a message of a few bytes into an empty socket).
 * 0, or -1 with errno (EPIPE: the process is gone); fd stays the caller's.
 */
int worker_send(int ctl, int fd, const struct server_handoff *h);

/*
 * Session process: wait for the next connection.  1 with *fd_r and *h
 * filled, 0 when the parent closed its end (retire: exit), -1 on any
 * other error (exit too).
 */
int worker_recv(int ctl, int *fd_r, struct server_handoff *h);

#endif
