/* netconn.c - one connection: timed reads and writes, over TCP or TLS, with line framing; server and client side. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errfmt.h"
#include "ipaddr.h"
#include "monotonic.h"
#include "netconn.h"
#include "tls.h"

int
netconn_init(struct netconn *c, int fd, int timeout_ms, size_t line_max)
{
	int flags;

	if (line_max == 0 || line_max >= NETCONN_IN_SIZE - 2) {
		errno = EINVAL;
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	c->in_size = line_max + 3 > NETCONN_IN_MIN ? line_max + 3 : NETCONN_IN_MIN;
	if ((c->in = malloc(c->in_size)) == NULL)
		return -1;
	c->fd = fd;
	c->tls = NULL;
	c->timeout_ms = timeout_ms;
	c->session_deadline = 0;
	c->read_deadline = 0;
	c->line_max = line_max;
	c->start = c->end = c->used = 0;
	c->skipping = false;
	return 0;
}

/* A wait ended at its deadline: -1 with ETIME when that was the session's, else ETIMEDOUT. */
static int
timed_out(const struct netconn *c)
{
	errno = c->session_deadline != 0 && monotonic_ms() >= c->session_deadline ? ETIME : ETIMEDOUT;
	return -1;
}

/* When a wait starting now must end: timeout_ms, cut short by extra (0: none) and the session deadline. */
static long long
wait_until(const struct netconn *c, long long extra)
{
	long long d = monotonic_after(monotonic_ms(), c->timeout_ms);

	if (extra != 0 && extra < d)
		d = extra;
	if (c->session_deadline != 0 && c->session_deadline < d)
		d = c->session_deadline;
	return d;
}

int
netconn_flush(struct netconn *c, struct buf *out)
{
	size_t off = 0;

	if (out->len == 0)
		return 0;
	if (c->tls != NULL) {
		int wait = monotonic_wait_ms(monotonic_ms(), c->timeout_ms, c->session_deadline);

		/*
		 * The wait is per write inside (a reader that takes a little now
		 * and then may pass the session deadline by up to one buffer's worth).
		 */
		if (tls_write_all(c->tls, out->data, out->len, wait) == -1)
			return errno == ETIMEDOUT ? timed_out(c) : -1;
		buf_reset(out);
		return 0;
	}
	while (off < out->len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t n = send(c->fd, out->data + off, out->len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		/* A client that never reads is dropped after the timeout (or at the session deadline). */
		n = poll(&pfd, 1, monotonic_wait_ms(monotonic_ms(), c->timeout_ms, c->session_deadline));
		if (n == 0)
			return timed_out(c);
		if (n == -1 && errno != EINTR)
			return -1;
	}
	buf_reset(out);
	return 0;
}

static ssize_t fill_wait(struct netconn *c, long long deadline);

/* Read what is there into c->in, waiting until deadline at most; > 0, 0 at EOF, -1 with errno. */
static ssize_t
fill(struct netconn *c, long long deadline)
{
	ssize_t n = fill_wait(c, deadline);

	if (n > 0 && c->end + (size_t)n > c->used)
		c->used = c->end + (size_t)n;
	return n;
}

static ssize_t
fill_wait(struct netconn *c, long long deadline)
{
	size_t room = c->in_size - c->end;

	if (c->tls != NULL) {
		/* With a wait of 0 still: what the TLS layer holds decrypted is taken. */
		ssize_t n = tls_read(c->tls, c->in + c->end, room,
				     monotonic_wait_ms(monotonic_ms(), INT_MAX, deadline));

		return n == -1 && errno == ETIMEDOUT ? timed_out(c) : n;
	}
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int left = monotonic_wait_ms(monotonic_ms(), INT_MAX, deadline);
		ssize_t n;
		int r;

		if (left <= 0)
			return timed_out(c);
		r = poll(&pfd, 1, left);
		if (r == 0)
			return timed_out(c);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(c->fd, c->in + c->end, room);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
}

/* Move the unread input to the front, to make room for the next read. */
static void
compact(struct netconn *c)
{
	size_t old_end = c->end;

	if (c->start == 0)
		return;
	memmove(c->in, c->in + c->start, c->end - c->start);
	c->end -= c->start;
	c->start = 0;
	/* Leave no copy of a password behind in the unused part. */
	explicit_bzero(c->in + c->end, old_end - c->end);
}

int
netconn_line(struct netconn *c, struct buf *out, const char **line_r, size_t *len_r)
{
	/* Set at the first wait: the whole line must be in by then (per-record deadline). */
	long long deadline = 0;

	for (;;) {
		char *start = c->in + c->start, *nl;
		size_t avail = c->end - c->start;
		ssize_t n;

		nl = memchr(start, '\n', avail);
		if (c->skipping) {
			if (nl != NULL) {
				c->start += (size_t)(nl - start) + 1;
				c->skipping = false;
				continue;
			}
			c->start = c->end;
		} else if (nl != NULL) {
			size_t len = (size_t)(nl - start) + 1;

			c->start += len;
			*line_r = start;
			*len_r = len > c->line_max + 2 ? c->line_max + 1 : len;
			return 1;
		} else if (avail >= c->line_max + 2) {
			/* No line ending within the bound: too long, whatever follows. */
			*line_r = start;
			*len_r = c->line_max + 1;
			c->start = c->end;
			c->skipping = true;
			return 1;
		}
		if (out->len > 0 && netconn_flush(c, out) == -1)
			return -1;
		compact(c);
		if (deadline == 0)
			deadline = wait_until(c, 0);
		n = fill(c, deadline);
		if (n <= 0)
			return (int)n;
		c->end += (size_t)n;
	}
}

int
netconn_peek(struct netconn *c, struct buf *out, const char **data_r, size_t *len_r)
{
	ssize_t n;

	if (c->end == c->start) {
		if (out->len > 0 && netconn_flush(c, out) == -1)
			return -1;
		/* Nothing unread: the whole buffer is free for the next read. */
		c->start = c->end = 0;
		n = fill(c, wait_until(c, c->read_deadline));
		if (n <= 0)
			return (int)n;
		c->end = (size_t)n;
	}
	*data_r = c->in + c->start;
	*len_r = c->end - c->start;
	return 1;
}

void
netconn_consume(struct netconn *c, size_t n)
{
	size_t avail = c->end - c->start;

	c->start += n < avail ? n : avail;
}

bool
netconn_pending(const struct netconn *c)
{
	return c->end > c->start;
}

void
netconn_discard(struct netconn *c)
{
	if (c->in != NULL)
		explicit_bzero(c->in, c->used);
	c->start = c->end = c->used = 0;
	c->skipping = false;
}

int
netconn_starttls(struct netconn *c, struct tls_server *srv, struct buf *out, int handshake_ms,
		 char *err, size_t errsize)
{
	if (netconn_flush(c, out) == -1)
		return errfmt(err, errsize, "write: %s", strerror(errno));
	netconn_discard(c);
	if ((c->tls = tls_accept(srv, c->fd, handshake_ms, err, errsize)) == NULL)
		return -1;
	return 0;
}

int
netconn_connect(const struct ipaddr *addr, unsigned port, int timeout_ms, char *err,
		size_t errsize)
{
	struct sockaddr_storage ss;
	socklen_t sslen, optlen;
	long long deadline = monotonic_ms() + timeout_ms;
	int fd, soerr, e;

	memset(&ss, 0, sizeof(ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr->bytes, 4);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr->bytes, 16);
		sslen = sizeof(*sin6);
	}
	if ((fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return errfmt(err, errsize, "socket: %s", strerror(errno));
	/*
	 * A client's writes are whole commands or whole pieces of a message,
	 * each one flushed at once: Nagle would only hold a short last write
	 * (the final "." of DATA) until the peer's delayed ACK, ~40 ms a time.
	 * Failing to set it costs speed, not correctness.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	/* Non-blocking, so that a host that drops SYNs costs timeout_ms, not the kernel's minutes. */
	if (connect(fd, (struct sockaddr *)&ss, sslen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		long long left = deadline - monotonic_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if ((r = poll(&pfd, 1, (int)left)) == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		break;
	}
	optlen = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &optlen) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	e = errno;
	errfmt(err, errsize, "connect: %s", e == ETIMEDOUT ? "timed out" : strerror(e));
	close(fd);
	errno = e;
	return -1;
}

int
netconn_starttls_client(struct netconn *c, struct tls_client *cli, const char *server_name,
			int handshake_ms, char *err, size_t errsize)
{
	netconn_discard(c);
	if ((c->tls = tls_connect(cli, c->fd, server_name, handshake_ms, err, errsize)) == NULL)
		return -1;
	return 0;
}

void
netconn_close(struct netconn *c)
{
	tls_close(c->tls);
	c->tls = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	netconn_discard(c);
	free(c->in);
	c->in = NULL;
	c->in_size = 0;
}

const char *
netconn_end_reason(int r)
{
	if (r == 0)
		return "dropped";
	if (errno == ETIME)
		return "deadline";
	return errno == ETIMEDOUT ? "timeout" : "io-error";
}
