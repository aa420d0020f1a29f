/* control.c - qmail-style control files, read afresh on every call so edits need no restart. */
#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "decimal.h"
#include "errfmt.h"
#include "path.h"
#include "xmalloc.h"

/*
 * Reads a control file in chunks, or splits a text already in memory (fd
 * -1, chunk the whole text), and hands out one line at a time.
 */
struct line_reader {
	int fd;
	unsigned long lineno;           /* lines returned so far */
	size_t pos, end;
	uint64_t total;                 /* bytes read so far, against CONTROL_FILE_MAX */
	bool eof;
	const char *chunk;              /* chunkbuf, or the text */
	char line[CONTROL_LINE_MAX + 1];
	char chunkbuf[16384];
};

/* Open dir/name; -1 with errno (ENOENT when missing). */
static int
control_open(const char *dir, const char *name, struct line_reader *lr)
{
	char path[PATH_MAX];

	if (path_join(path, sizeof(path), dir, name) == -1)
		return -1;
	memset(lr, 0, offsetof(struct line_reader, line));
	lr->chunk = lr->chunkbuf;
	if ((lr->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	return 0;
}

/* A reader over text (len octets) in memory: all of it is one chunk. */
static void
control_open_text(const char *text, size_t len, struct line_reader *lr)
{
	memset(lr, 0, offsetof(struct line_reader, line));
	lr->fd = -1;
	lr->chunk = text;
	lr->end = len;
	lr->total = len;
	lr->eof = true;
}

static void
control_close(struct line_reader *lr)
{
	int saved = errno;

	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
	errno = saved;
}

/*
 * Next raw line (without '\n') into lr->line: 1 for a line, 0 at the end,
 * -1 with errno: EMSGSIZE for a line over CONTROL_LINE_MAX, EFBIG for a
 * file over CONTROL_FILE_MAX, EINVAL for a NUL byte (it would silently cut
 * the line, e.g. turn "example.com\0.evil" into "example.com").
 */
static int
control_next(struct line_reader *lr)
{
	size_t len = 0;
	ssize_t n;
	char c;

	for (;;) {
		if (lr->pos == lr->end) {
			if (lr->eof)
				break;
			n = read(lr->fd, lr->chunkbuf, sizeof(lr->chunkbuf));
			if (n == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (n == 0) {
				lr->eof = true;
				break;
			}
			lr->total += (uint64_t)n;
			if (lr->total > CONTROL_FILE_MAX) {
				errno = EFBIG;
				return -1;
			}
			lr->pos = 0;
			lr->end = (size_t)n;
		}
		c = lr->chunk[lr->pos++];
		if (c == '\n') {
			lr->line[len] = '\0';
			lr->lineno++;
			return 1;
		}
		if (c == '\0') {
			errno = EINVAL;
			return -1;
		}
		if (len >= CONTROL_LINE_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		lr->line[len++] = c;
	}
	/* A last line without '\n' still counts. */
	lr->line[len] = '\0';
	lr->lineno += len > 0;
	return len > 0 ? 1 : 0;
}

/* Trim both ends in place; NULL for a blank line or a '#' comment. */
static char *
control_meaningful(char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return NULL;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* Copy s into out; ERANGE when it does not fit (never truncate a value). */
static int
copy_out(char *out, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len >= size) {
		errno = ERANGE;
		return -1;
	}
	memcpy(out, s, len + 1);
	return 0;
}

/*
 * The first meaningful line.  A file with no meaningful line is treated
 * as a missing one (def, else ENOENT), as qmail admins empty a file to
 * mean "not set".  An output buffer too small is ERANGE.
 */
int
control_read_line(const char *dir, const char *name, const char *def,
		  char *out, size_t size)
{
	struct line_reader lr;
	char *s = NULL;
	int r;

	if (control_open(dir, name, &lr) == -1) {
		if (errno == ENOENT && def != NULL)
			return copy_out(out, size, def);
		return -1;
	}
	while ((r = control_next(&lr)) == 1)
		if ((s = control_meaningful(lr.line)) != NULL)
			break;
	control_close(&lr);
	if (r == -1)
		return -1;
	if (r == 0) {
		if (def != NULL)
			return copy_out(out, size, def);
		errno = ENOENT;
		return -1;
	}
	return copy_out(out, size, s);
}

int
control_read_ulong(const char *dir, const char *name, unsigned long def,
		   unsigned long *value_r)
{
	char text[CONTROL_LINE_MAX + 1];
	uint64_t value = 0;

	if (control_read_line(dir, name, NULL, text, sizeof(text)) == -1) {
		if (errno != ENOENT)
			return -1;
		*value_r = def;
		return 0;
	}
	/* Digits only: no sign, no spaces, no hex, no suffix; an empty line is 0. */
	if (text[0] != '\0' && decimal_parse(text, strlen(text), ULONG_MAX, &value) == -1) {
		errno = EINVAL;
		return -1;
	}
	*value_r = (unsigned long)value;
	return 0;
}

int
control_read_seconds(const char *dir, const char *name, unsigned long def, unsigned long min,
		     unsigned long max, unsigned long *secs_r, char *err, size_t errsize)
{
	char text[CONTROL_LINE_MAX + 1];
	unsigned long value;
	int saved;

	*secs_r = def;
	if (err != NULL && errsize > 0)
		err[0] = '\0';
	if (control_read_ulong(dir, name, def, &value) == -1) {
		saved = errno;
		if (saved != EINVAL || control_read_line(dir, name, "", text, sizeof(text)) == -1) {
			errfmt(err, errsize, "control/%s: %s; using %lu", name, strerror(saved), def);
			errno = saved;
			return -1;
		}
		/* Digits only, yet refused: more than an unsigned long holds. */
		saved = text[strspn(text, "0123456789")] == '\0' ? ERANGE : EINVAL;
		errfmt(err, errsize, "control/%s: \"%.40s\" is %s; using %lu", name, text,
		       saved == ERANGE ? "too large" : "not a number of seconds", def);
		errno = saved;
		return -1;
	}
	if (value < min || value > max) {
		errfmt(err, errsize, "control/%s: %lu is out of range (%lu to %lu seconds); using %lu",
		       name, value, min, max, def);
		errno = ERANGE;
		return -1;
	}
	*secs_r = value;
	return 0;
}

/* Every meaningful line lr hands out into out (all or nothing); lr is closed. */
static int
control_collect(struct line_reader *lr, struct control_lines *out)
{
	size_t cap = 0;
	char *s;
	int r;

	while ((r = control_next(lr)) == 1) {
		if ((s = control_meaningful(lr->line)) == NULL)
			continue;
		if (out->count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			out->lines = xreallocarray(out->lines, cap, sizeof(*out->lines));
			out->linenos = xreallocarray(out->linenos, cap, sizeof(*out->linenos));
		}
		out->linenos[out->count] = lr->lineno;
		out->lines[out->count++] = xstrdup(s);
	}
	control_close(lr);
	if (r == -1) {
		/* All or nothing: a half-read rcpthosts must not look complete. */
		int saved = errno;

		out->bad_line = lr->lineno + 1;
		control_lines_free(out);
		errno = saved;
		return -1;
	}
	return 0;
}

int
control_read_lines(const char *dir, const char *name, struct control_lines *out)
{
	struct line_reader lr;

	memset(out, 0, sizeof(*out));
	if (control_open(dir, name, &lr) == -1)
		return errno == ENOENT ? 0 : -1;
	return control_collect(&lr, out);
}

int
control_parse_lines(const char *text, size_t len, struct control_lines *out)
{
	struct line_reader *lr;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > CONTROL_FILE_MAX) {
		errno = EFBIG;
		return -1;
	}
	/* The reader holds a line buffer: on the heap, not on a fuzzer's stack. */
	lr = xmalloc(sizeof(*lr));
	control_open_text(text, len, lr);
	r = control_collect(lr, out);
	free(lr);
	return r;
}

void
control_lines_free(struct control_lines *cl)
{
	size_t i;

	for (i = 0; i < cl->count; i++)
		free(cl->lines[i]);
	free(cl->lines);
	free(cl->linenos);
	cl->lines = NULL;
	cl->linenos = NULL;
	cl->count = 0;
}

void
control_me(const char *dir, char *out, size_t size)
{
	if (control_read_line(dir, "me", NULL, out, size) == 0 && out[0] != '\0')
		return;
	if (gethostname(out, size - 1) == -1 || out[0] == '\0')
		snprintf(out, size, "localhost");
	out[size - 1] = '\0';
}
