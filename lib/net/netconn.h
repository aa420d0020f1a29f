/* netconn.h - one client connection in a child process: timed reads and writes, over TCP or TLS, with line framing. */
#ifndef OSD_NETCONN_H
#define OSD_NETCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct ipaddr;
struct tls_client;
struct tls_server;
struct tls_conn;

/*
 * The input buffer is sized by the line_max of netconn_init: line_max + 3
 * octets, at least NETCONN_IN_MIN (a read's worth of an SMTP DATA body:
 * a 4 KB message in one read, a 100 KB one in 7 rather than 25), at most
 * NETCONN_IN_SIZE (room for IMAP's 64 KiB command lines).  Only the part
 * a connection filled is touched and wiped, so an idle session's memory
 * does not grow with it.
 */
#define NETCONN_IN_MIN (16 * 1024)
#define NETCONN_IN_SIZE (64 * 1024 + 1024)

struct netconn {
	int fd;                         /* non-blocking after netconn_init */
	struct tls_conn *tls;           /* NULL until TLS is on */
	int timeout_ms;                 /* per write wait; a whole line (netconn_line) or read (netconn_peek) */
	/*
	 * Monotonic ms (monotonic.h) no wait of the connection goes past,
	 * 0 for none: the overall session deadline.  Reaching it fails the
	 * call with errno ETIME (netconn_end_reason: "deadline").
	 */
	long long session_deadline;
	/*
	 * Monotonic ms by which netconn_peek's next read must also end, 0 for
	 * none: the DATA deadline (timeout plus bytes received / minimum rate).
	 * ETIMEDOUT when it strikes.
	 */
	long long read_deadline;
	size_t line_max;                /* longest line passed whole (< NETCONN_IN_SIZE - 2) */
	char *in;                       /* in_size octets, from netconn_init to netconn_close */
	size_t in_size;
	size_t start, end;
	size_t used;                    /* the most of in ever filled: what netconn_discard wipes */
	bool skipping;                  /* dropping the rest of an overlong line */
};

/*
 * Make fd non-blocking, allocate the input buffer for line_max and set the
 * fields (no deadlines).  0, or -1 with errno (EINVAL: line_max 0 or not
 * below NETCONN_IN_SIZE - 2; ENOMEM).  netconn_close frees the buffer.
 */
int netconn_init(struct netconn *c, int fd, int timeout_ms, size_t line_max);

/* Send out (all of it) and empty it; 0 or -1 with errno (ETIMEDOUT: the client does not read). */
int netconn_flush(struct netconn *c, struct buf *out);

/*
 * The next client line in *line_r (*len_r octets, line ending included).
 * Replies waiting in out are sent before the socket is read, so pipelined
 * commands are answered together.  A line longer than line_max is passed
 * cut to line_max + 1 octets (the caller only needs to know it is too
 * long) and the rest of it is dropped.  The whole line must arrive within
 * timeout_ms from the first wait for it, however it trickles in (a
 * per-record deadline, as Postfix's smtpd_per_record_deadline: a client
 * sending a byte now and then cannot hold the connection forever).
 * 1 a line, 0 EOF, -1 with errno (ETIMEDOUT: the timeout; ETIME: the
 * session deadline).  The line stays valid until the next call.
 */
int netconn_line(struct netconn *c, struct buf *out, const char **line_r, size_t *len_r);

/*
 * Raw input for a body (SMTP DATA): what is buffered, or (after sending
 * out) what the next read brings.  *data_r and *len_r point into the buffer;
 * the caller says with netconn_consume how much it used.  A read waits
 * at most timeout_ms, and never past read_deadline or session_deadline.
 * 1, 0 at EOF, -1 with errno (ETIMEDOUT, ETIME as netconn_line).
 */
int netconn_peek(struct netconn *c, struct buf *out, const char **data_r, size_t *len_r);
void netconn_consume(struct netconn *c, size_t n);

/* True when input is already buffered (pipelined after a command that must be last). */
bool netconn_pending(const struct netconn *c);

/*
 * Why a session ended, for its log line, from what netconn_line or
 * netconn_peek returned (0 or -1, with errno): "dropped" (EOF), "timeout",
 * "deadline" (the session deadline) or "io-error".
 */
const char *netconn_end_reason(int r);

/* Forget buffered input (STARTTLS: nothing sent before the handshake is trusted, CVE-2011-0411). */
void netconn_discard(struct netconn *c);

/*
 * Flush out, discard buffered input, and run the server handshake (at
 * most handshake_ms).  0, or -1 with err.
 */
int netconn_starttls(struct netconn *c, struct tls_server *srv, struct buf *out, int handshake_ms,
		     char *err, size_t errsize);

/*
 * Client side: a TCP connection to addr:port, waiting at most timeout_ms
 * for it to be established.  The socket (non-blocking, close-on-exec,
 * TCP_NODELAY: callers write whole commands and flush each), or
 * -1 with errno (ETIMEDOUT on the timeout) and err saying what failed.
 */
int netconn_connect(const struct ipaddr *addr, unsigned port, int timeout_ms, char *err,
		    size_t errsize);

/*
 * Client side of STARTTLS, after the server's 220: discard buffered input
 * (a reply that came before the handshake is not trusted, the client side
 * of CVE-2011-0411) and run the client handshake with server_name for SNI
 * (at most handshake_ms).  0, or -1 with err.
 */
int netconn_starttls_client(struct netconn *c, struct tls_client *cli, const char *server_name,
			    int handshake_ms, char *err, size_t errsize);

/* Close TLS (close_notify) and the socket, and wipe the input buffer. */
void netconn_close(struct netconn *c);

#endif
