/* buf.h - a growable byte buffer with a hard upper bound. */
#ifndef OSD_BUF_H
#define OSD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;     /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;     /* appends that would exceed this fail with EMSGSIZE */
};

/* An empty buffer that may grow to max bytes (0 means 64 MiB). */
void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);

/* Append bytes; 0 on success, -1 with errno = EMSGSIZE past the bound. */
int buf_append(struct buf *b, const void *data, size_t len);
/*
 * Make room for add more bytes plus the terminating NUL (data[len..cap)
 * may then be written directly; the writer sets len and the NUL).  0, or
 * -1 with errno = EMSGSIZE past the bound.
 */
int buf_reserve(struct buf *b, size_t add);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
/*
 * Append everything fd gives until its end (EINTR retried).  0, or -1 with
 * errno (EMSGSIZE past the bound: a file that is, or grows, too big).
 */
int buf_read_fd(struct buf *b, int fd);
/*
 * The same for a file: read straight into the buffer, with room for its
 * size (fstat) made first, so one read takes a file that does not grow
 * meanwhile.
 */
int buf_read_file(struct buf *b, int fd);

int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
