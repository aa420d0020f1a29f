/* remote_worker.c - osd-remote --worker: requests from stdin, one connection cached per domain, closed when idle. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "monotonic.h"
#include "mx.h"
#include "regfile.h"
#include "remote_int.h"
#include "smtpc.h"

/* Worker: a cached connection unused this long is closed (Postfix's smtp_connection_cache_time_limit is 2 s; a queue run's next message for a domain comes sooner). */
#define IDLE_MS 5000

_Static_assert(MX_HOST_MAX == DELIVERY_DOMAIN_MAX, "a request's DOMAIN fits where the command line's does");

/* Worker: a request over the cached connection when it is for the same domain, else over a new one. */
static void
deliver_cached(struct remote *rm)
{
	struct remote_conn *s = &rm->conn;

	if (s->open && strcmp(s->domain, rm->domain) == 0) {
		if (remote_transaction(s, true) == 0)
			return;
		/* The server dropped the idle connection: once more, from MAIL, on a new one. */
		verdicts_reset(rm);
	} else {
		remote_quit(s);
	}
	remote_deliver(rm);
}

/* The worker's stdin: read without stdio, so that poll() sees all that is not yet taken. */
struct requests {
	char buf[DELIVERY_REQUEST_MAX];
	size_t start, end;
};

/*
 * The next request line in *line_r (its LF made a NUL, *len_r octets
 * before it), waiting until deadline (monotonic ms; -1: no limit).  1 a
 * line; 0 at EOF (a last line without LF is dropped: who wrote it is gone
 * and reads no verdict); 2 when the deadline passed; -1 for a line longer
 * than DELIVERY_REQUEST_MAX (its recipients cannot be counted) or a read error.
 */
static int
request_next(struct requests *q, long long deadline, char **line_r, size_t *len_r)
{
	for (;;) {
		char *start = q->buf + q->start, *nl = memchr(start, '\n', q->end - q->start);
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int timeout = -1, r;
		ssize_t n;

		if (nl != NULL) {
			*nl = '\0';
			*line_r = start;
			*len_r = (size_t)(nl - start);
			q->start += *len_r + 1;
			return 1;
		}
		if (q->end - q->start >= sizeof(q->buf))
			return -1;
		memmove(q->buf, start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
		if (deadline >= 0) {
			long long left = deadline - monotonic_ms();

			if (left <= 0)
				return 2;
			timeout = (int)left;
		}
		if ((r = poll(&pfd, 1, timeout)) == 0)
			return 2;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(STDIN_FILENO, q->buf + q->end, sizeof(q->buf) - q->end);
		if (n == 0)
			return 0;
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		q->end += (size_t)n;
	}
}

/*
 * One request line, answered on stdout as a single shot would answer its
 * arguments.  0, or -1 when the worker must exit 111: a malformed line
 * whose recipients cannot be counted (the queue manager could not tell
 * where its verdict ends), or stdout gone.
 */
static int
serve_request(struct remote *rm, char *line, size_t len)
{
	static struct delivery_request req;
	char err[DELIVERY_TEXT_MAX + 1];
	size_t count;
	int fd;

	verdicts_reset(rm);
	if (delivery_request_parse(line, len, &req, &count) == -1) {
		if (count == 0)
			return -1;
		return print_malformed(count);
	}
	for (size_t i = 0; i == 0 || req.domain[i - 1] != '\0'; i++)
		rm->domain[i] = (char)tolower((unsigned char)req.domain[i]);
	/* qmail's double-bounce sender goes out as the null sender. */
	rm->sender = strcmp(req.sender, "#@[]") == 0 ? "" : req.sender;
	rm->rcpts = req.rcpts;
	rm->nrcpts = req.nrcpts;
	if ((fd = regfile_open(req.path, O_RDONLY, 0, NULL)) == -1) {
		snprintf(err, sizeof(err), "%s: %s", req.path, regfile_strerror(errno));
		remote_fail_all(rm, false, err);
	} else {
		rm->msg_fd = fd;
		if (lseek(fd, (off_t)req.offset, SEEK_SET) == -1) {
			snprintf(err, sizeof(err), "%s: %s", req.path, strerror(errno));
			remote_fail_all(rm, false, err);
		} else if (msg_measure(rm, err, sizeof(err)) == -1) {
			remote_fail_all(rm, false, err);
		} else {
			deliver_cached(rm);
		}
		close(fd);
	}
	return print_verdicts(rm);
}

/*
 * --worker: requests until stdin's EOF (exit 0).  The connection kept
 * after a request is closed with QUIT when IDLE_MS pass without the next,
 * so that no server holds a slot for a worker with nothing to send.
 */
int
remote_worker(struct remote *rm)
{
	static struct requests q;
	long long last = monotonic_ms();
	char *line;
	size_t len;
	int r;

	for (;;) {
		r = request_next(&q, rm->conn.open ? last + IDLE_MS : -1, &line, &len);
		if (r == 2) {
			remote_quit(&rm->conn);
			continue;
		}
		if (r != 1)
			break;
		if (serve_request(rm, line, len) == -1) {
			r = -1;
			break;
		}
		last = monotonic_ms();
	}
	remote_quit(&rm->conn);
	return r == 0 ? 0 : 111;
}
