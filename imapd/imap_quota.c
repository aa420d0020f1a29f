/* imap_quota.c - the Maildir++ quota: read maildirsize, refuse what goes over, append the deltas. */
#include "imap_quota.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "decimal.h"
#include "path.h"
#include "regfile.h"

/* A maildirsize longer than this is refused (Maildir++ recalculates at 5120 octets; osd does not, see docs/imap.md). */
#define QUOTA_FILE_MAX (4u * 1024 * 1024)
#define QUOTA_NUM_MAX ((uint64_t)INT64_MAX / 4)

/* A signed decimal of [s, s+len). */
static int
parse_signed(const char *s, size_t len, int64_t *v_r)
{
	uint64_t v;
	bool neg = len > 0 && s[0] == '-';

	if (neg) {
		s++;
		len--;
	}
	if (len > 19 || decimal_parse(s, len, QUOTA_NUM_MAX, &v) == -1)
		return -1;
	*v_r = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* The definition line: comma-separated "<n>S" and "<n>C" parts. */
static int
parse_definition(const char *p, const char *end, uint64_t *lb, uint64_t *lc)
{
	*lb = 0;
	*lc = 0;
	if (p == end)
		return -1;
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c == NULL ? end : c;
		uint64_t v;

		if (e - p < 2 || decimal_parse(p, (size_t)(e - p - 1), QUOTA_NUM_MAX, &v) == -1)
			return -1;
		if (e[-1] == 'S')
			*lb = v;
		else if (e[-1] == 'C')
			*lc = v;
		else
			return -1;
		p = c == NULL ? end : c + 1;
	}
	return 0;
}

int
imap_quota_parse(const char *data, size_t len, uint64_t *limit_bytes_r, uint64_t *limit_count_r,
		 int64_t *bytes_r, int64_t *count_r)
{
	const char *p = data, *end = data + len, *nl;
	int64_t bytes = 0, count = 0;

	nl = memchr(p, '\n', len);
	if (parse_definition(p, nl == NULL ? end : nl, limit_bytes_r, limit_count_r) == -1)
		return -1;
	p = nl == NULL ? end : nl + 1;
	while (p < end) {
		const char *e, *sp;
		int64_t b, c;

		nl = memchr(p, '\n', (size_t)(end - p));
		e = nl == NULL ? end : nl;
		sp = memchr(p, ' ', (size_t)(e - p));
		while (sp != NULL && sp + 1 < e && sp[1] == ' ')
			sp++;
		/* A torn last line (a writer that died) is skipped, as Maildir++ readers do. */
		if (sp != NULL && parse_signed(p, (size_t)(sp - p), &b) == 0 &&
		    parse_signed(sp + 1, (size_t)(e - sp - 1), &c) == 0) {
			bytes += b;
			count += c;
		}
		p = nl == NULL ? end : nl + 1;
	}
	*bytes_r = bytes;
	*count_r = count;
	return 0;
}

int
imap_quota_check(const char *root, uint64_t bytes, uint64_t count, bool *over_r)
{
	char path[PATH_MAX];
	uint64_t lb, lc;
	int64_t ub, uc;
	struct buf b;
	int fd, r;

	*over_r = false;
	if (path_join(path, sizeof(path), root, IMAP_QUOTA_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_RDONLY, 0, NULL);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	buf_init(&b, QUOTA_FILE_MAX);
	r = buf_read_fd(&b, fd);
	close(fd);
	if (r == 0 && imap_quota_parse(b.data != NULL ? b.data : "", b.len, &lb, &lc, &ub, &uc) == 0) {
		if (ub < 0)
			ub = 0;
		if (uc < 0)
			uc = 0;
		if ((lb > 0 && (uint64_t)ub + bytes > lb) || (lc > 0 && (uint64_t)uc + count > lc))
			*over_r = true;
	}
	/* An unreadable or malformed maildirsize limits nothing (Maildir++: recalculate; osd leaves it). */
	buf_free(&b);
	return 0;
}

int
imap_quota_add(const char *root, int64_t bytes, int64_t count)
{
	char path[PATH_MAX], line[64];
	int fd, n, r;

	if (path_join(path, sizeof(path), root, IMAP_QUOTA_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_WRONLY | O_APPEND, 0, NULL);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes, count);
	/* One write of the whole line: O_APPEND keeps concurrent writers' lines whole. */
	r = write_all(fd, line, (size_t)n);
	close(fd);
	return r;
}
