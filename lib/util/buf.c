/* buf.c - a growable byte buffer with a hard upper bound, always NUL-terminated. */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

#define BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)
#define BUF_MIN_CAP 64

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max == 0 ? BUF_DEFAULT_MAX : max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/*
 * The bound is checked by subtraction so that a huge add cannot wrap
 * around.
 */
int
buf_reserve(struct buf *b, size_t add)
{
	size_t need, cap;

	/* The NUL needs one byte more than max; keep that from wrapping too. */
	if (b->len > b->max || add > b->max - b->len || b->len + add == SIZE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	need = b->len + add + 1;
	if (b->data != NULL && need <= b->cap)
		return 0;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	/* Never allocate beyond what the bound can use. */
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) == -1)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t room;
	int n;

	/* First try in the space we already have; most calls fit. */
	if (buf_reserve(b, 0) == -1)
		return -1;
	room = b->cap - b->len;
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, room, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		errno = EINVAL;
		return -1;
	}
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n) == -1) {
			b->data[b->len] = '\0';
			return -1;
		}
		va_copy(ap2, ap);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
		va_end(ap2);
		if (n < 0) {
			b->data[b->len] = '\0';
			errno = EINVAL;
			return -1;
		}
	} else if ((size_t)n > b->max - b->len) {
		/* It fitted the allocation but not the bound: undo it. */
		b->data[b->len] = '\0';
		errno = EMSGSIZE;
		return -1;
	}
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
buf_read_fd(struct buf *b, int fd)
{
	char chunk[8192];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(b, chunk, (size_t)n) == -1) {
			int e = errno;

			/* What passed through may be secret (vpasswd's cleartext field). */
			explicit_bzero(chunk, sizeof(chunk));
			errno = e;
			return n == 0 ? 0 : -1;
		}
	}
}

int
buf_read_file(struct buf *out, int fd)
{
	struct stat st;
	size_t want = 65536;
	ssize_t n;

	/* Room for one octet more than the size: the read that sees the end needs no more memory. */
	if (fstat(fd, &st) == 0 && st.st_size >= 0 && (uint64_t)st.st_size < SIZE_MAX - 1)
		want = (size_t)st.st_size + 1;
	for (;;) {
		if (out->data == NULL || out->cap - out->len - 1 == 0) {
			/* Past the bound: what the buffer can still take, then EMSGSIZE if the file goes on (as buf_read_fd). */
			if (buf_reserve(out, want) < 0 &&
			    (out->len >= out->max || buf_reserve(out, out->max - out->len) < 0 ||
			     out->cap - out->len - 1 == 0)) {
				char c;

				while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
					;
				if (n == 0)
					break;
				if (n > 0)
					errno = EMSGSIZE;
				return -1;
			}
			want = 65536;
		}
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			out->data[out->len] = '\0';
			return -1;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return 0;
}
