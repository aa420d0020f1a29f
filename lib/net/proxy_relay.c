/* proxy_relay.c - the byte pump after a proxied login: splice(2) between two plain sockets, else bounded buffers over TLS; half-closes, backpressure, an idle timeout. */
#include "proxy_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netconn.h"
#include "tls.h"

/* One direction: octets read from src wait here until dst takes them. */
struct dir {
	struct netconn *src, *dst;
	bool src_is_client;
	char *buf;              /* copy mode: PROXY_RELAY_BUF octets */
	size_t start, end;
	int pipe[2];            /* splice mode: the kernel holds the octets */
	size_t inpipe;
	size_t cap;             /* what the pipe holds (PROXY_RELAY_PIPE when the kernel allows) */
	bool eof;               /* src ended its stream */
	bool shut;              /* ... and dst heard of it (write half closed) */
	short rwant, wwant;     /* what the last read / write that could not go on waits for */
	uint64_t *count;
};

/* The outcome of one step. */
enum step { STEP_NONE, STEP_MOVED, STEP_SRC_FAILED, STEP_DST_FAILED };

static size_t
pending(const struct dir *d)
{
	return d->buf != NULL ? d->end - d->start : d->inpipe;
}

/* Leave splice mode (the pipe is empty): a buffer from now on. */
static void
dir_unsplice(struct dir *d)
{
	close(d->pipe[0]);
	close(d->pipe[1]);
	d->pipe[0] = d->pipe[1] = -1;
	if ((d->buf = malloc(PROXY_RELAY_BUF)) == NULL)
		fatalx("relay: out of memory");
}

/* Read what src has, as far as there is room. */
static enum step
dir_read(struct dir *d)
{
	ssize_t n;

	d->rwant = 0;
	if (d->eof)
		return STEP_NONE;
	if (d->buf == NULL) {
		if (d->inpipe >= d->cap)
			return STEP_NONE;
		n = splice(d->src->fd, NULL, d->pipe[1], NULL, d->cap - d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1 && errno == EINVAL && d->inpipe == 0) {
			/* A socket splice(2) cannot read (not TCP): copy this direction instead. */
			dir_unsplice(d);
			return dir_read(d);
		}
		if (n > 0)
			d->inpipe += (size_t)n;
		else if (n == -1 && (errno == EAGAIN || errno == EINTR))
			/* With octets in the pipe, it may be the pipe that is full: the write side wakes us. */
			d->rwant = d->inpipe == 0 ? POLLIN : 0;
	} else {
		if (d->start == d->end)
			d->start = d->end = 0;
		else if (d->end == PROXY_RELAY_BUF && d->start > 0) {
			memmove(d->buf, d->buf + d->start, d->end - d->start);
			d->end -= d->start;
			d->start = 0;
		}
		if (d->end == PROXY_RELAY_BUF)
			return STEP_NONE;
		if (d->src->tls != NULL) {
			n = tls_read_nb(d->src->tls, d->buf + d->end, PROXY_RELAY_BUF - d->end,
					&d->rwant);
		} else {
			n = read(d->src->fd, d->buf + d->end, PROXY_RELAY_BUF - d->end);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				d->rwant = POLLIN;
		}
		if (n > 0)
			d->end += (size_t)n;
	}
	if (n > 0)
		return STEP_MOVED;
	if (n == 0) {
		d->eof = true;
		return STEP_MOVED;
	}
	return errno == EAGAIN || errno == EINTR ? STEP_NONE : STEP_SRC_FAILED;
}

/* Write what waits to dst, as far as it takes it. */
static enum step
dir_write(struct dir *d)
{
	ssize_t n;

	d->wwant = 0;
	if (pending(d) == 0)
		return STEP_NONE;
	if (d->buf == NULL) {
		n = splice(d->pipe[0], NULL, d->dst->fd, NULL, d->inpipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0)
			d->inpipe -= (size_t)n;
		else if (n == -1 && (errno == EAGAIN || errno == EINTR))
			d->wwant = POLLOUT;
	} else if (d->dst->tls != NULL) {
		n = tls_write_nb(d->dst->tls, d->buf + d->start, d->end - d->start, &d->wwant);
		if (n > 0)
			d->start += (size_t)n;
	} else {
		n = send(d->dst->fd, d->buf + d->start, d->end - d->start, MSG_NOSIGNAL);
		if (n > 0)
			d->start += (size_t)n;
		else if (n == -1 && (errno == EAGAIN || errno == EINTR))
			d->wwant = POLLOUT;
	}
	if (n > 0) {
		*d->count += (uint64_t)n;
		return STEP_MOVED;
	}
	return n == -1 && (errno == EAGAIN || errno == EINTR) ? STEP_NONE : STEP_DST_FAILED;
}

/* src ended and all it sent is delivered: end dst's write half (a half-close, not a close). */
static enum step
dir_shut(struct dir *d)
{
	if (!d->eof || d->shut || pending(d) > 0)
		return STEP_NONE;
	d->shut = true;
	if (d->dst->tls != NULL)
		(void)tls_shutdown_write(d->dst->tls);
	(void)shutdown(d->dst->fd, SHUT_WR);
	return STEP_MOVED;
}

/* What a failed step means for the log: the side that failed, and whether it had just gone away. */
static const char *
failure(const struct dir *d, enum step s, const struct dir *other)
{
	bool client = (s == STEP_SRC_FAILED) == d->src_is_client;
	/* The direction that reads from the side that failed. */
	const struct dir *from = s == STEP_SRC_FAILED ? d : other;

	/* It had ended its stream already: it closed after its last word, it did not break. */
	if (from->eof)
		return "closed";
	if (errno == EPIPE || errno == ECONNRESET)
		return client ? "client-reset" : "backend-reset";
	return client ? "client-error" : "backend-error";
}

/* Send what a netconn buffered unread (pipelined input) to the other side first. */
static int
forward_buffered(struct netconn *from, struct netconn *to, uint64_t *count)
{
	struct buf b;
	const char *data;
	size_t len;
	int r = 0;

	if (!netconn_pending(from))
		return 0;
	buf_init(&b, 0);
	len = from->end - from->start;
	data = from->in + from->start;
	if (buf_append(&b, data, len) == -1 || netconn_flush(to, &b) == -1)
		r = -1;
	else
		*count += len;
	netconn_consume(from, len);
	buf_free(&b);
	return r;
}

static void
dir_init(struct dir *d, struct netconn *src, struct netconn *dst, bool src_is_client,
	 bool spliced, uint64_t *count)
{
	memset(d, 0, sizeof(*d));
	d->src = src;
	d->dst = dst;
	d->src_is_client = src_is_client;
	d->count = count;
	d->pipe[0] = d->pipe[1] = -1;
	if (!spliced && (d->buf = malloc(PROXY_RELAY_BUF)) == NULL)
		fatalx("relay: out of memory");
}

/*
 * The pipe of a spliced direction, as large as the kernel lets an
 * unprivileged process make it up to PROXY_RELAY_PIPE: fewer, larger
 * splices for a big RETR or FETCH (the pages are the kernel's, taken as
 * the octets come).  0, or -1 (no pipe: copy instead).
 */
static int
pipe_open(struct dir *d)
{
	int size;

	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	size = fcntl(d->pipe[1], F_SETPIPE_SZ, PROXY_RELAY_PIPE);
	if (size == -1)
		size = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->cap = size > 0 ? (size_t)size : PROXY_RELAY_BUF;
	return 0;
}

static void
dir_free(struct dir *d)
{
	if (d->pipe[0] != -1)
		close(d->pipe[0]);
	if (d->pipe[1] != -1)
		close(d->pipe[1]);
	free(d->buf);
}

/* The events one fd waits for: what its reading and its writing direction asked. */
static short
events_of(const struct dir *reading, const struct dir *writing)
{
	return (short)(reading->rwant | writing->wwant);
}

void
proxy_relay(struct netconn *client, struct netconn *backend, int idle_ms,
	    struct proxy_relay_stats *st)
{
	struct dir up, down;
	struct dir *dirs[2] = { &up, &down };
	bool spliced = client->tls == NULL && backend->tls == NULL;

	memset(st, 0, sizeof(*st));
	st->end = "closed";
	client->timeout_ms = backend->timeout_ms = idle_ms;
	client->session_deadline = backend->session_deadline = 0;
	if (forward_buffered(client, backend, &st->up) == -1) {
		st->end = "backend-error";
		return;
	}
	if (forward_buffered(backend, client, &st->down) == -1) {
		st->end = "client-error";
		return;
	}
	dir_init(&up, client, backend, true, spliced, &st->up);
	dir_init(&down, backend, client, false, spliced, &st->down);
	if (spliced && (pipe_open(&up) == -1 || pipe_open(&down) == -1)) {
		/* No pipes (fd limit): copying works as well, only a little slower. */
		dir_free(&up);
		dir_free(&down);
		spliced = false;
		dir_init(&up, client, backend, true, false, &st->up);
		dir_init(&down, backend, client, false, false, &st->down);
	}
	/*
	 * The backend's end ends the relay once the client has all it sent:
	 * a POP3 or IMAP server that closed reads nothing more, and a client
	 * that keeps its half open would hold this process for idle_ms.  The
	 * client's end is passed on as a half-close, and the backend's last
	 * words (the reply to QUIT or LOGOUT) still reach the client.
	 */
	while (!down.shut) {
		struct pollfd pfd[2];
		bool moved = false;
		int r;

		for (int i = 0; i < 2; i++) {
			struct dir *d = dirs[i];
			enum step s;

			if ((s = dir_read(d)) == STEP_MOVED)
				moved = true;
			else if (s != STEP_NONE) {
				st->end = failure(d, s, dirs[1 - i]);
				goto out;
			}
			if ((s = dir_write(d)) == STEP_MOVED)
				moved = true;
			else if (s != STEP_NONE) {
				st->end = failure(d, s, dirs[1 - i]);
				goto out;
			}
			if (dir_shut(d) == STEP_MOVED)
				moved = true;
		}
		if (moved)
			continue;
		pfd[0] = (struct pollfd){ .fd = client->fd, .events = events_of(&up, &down) };
		pfd[1] = (struct pollfd){ .fd = backend->fd, .events = events_of(&down, &up) };
		r = poll(pfd, 2, idle_ms);
		if (r == 0) {
			st->end = "timeout";
			break;
		}
		if (r == -1 && errno != EINTR) {
			st->end = "error";
			break;
		}
	}
out:
	st->spliced = up.buf == NULL && down.buf == NULL;
	dir_free(&up);
	dir_free(&down);
}

void
proxy_relay_logged(struct netconn *client, struct netconn *backend, int idle_ms,
		   const char *addr, const char *user, const char *backend_name)
{
	struct proxy_relay_stats st;

	proxy_relay(client, backend, idle_ms, &st);
	log_info("proxy: addr=%s user=%s backend=%s end=%s up=%llu down=%llu splice=%s", addr, user,
		 backend_name, st.end, (unsigned long long)st.up, (unsigned long long)st.down,
		 st.spliced ? "yes" : "no");
}
