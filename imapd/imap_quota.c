/* imap_quota.c - the Maildir++ quota: read maildirsize, refuse what goes over, append the deltas. */
#include "imap_quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "decimal.h"
#include "maildir_name.h"
#include "path.h"
#include "regfile.h"

/* A maildirsize longer than this is not read (it is recalculated long before: QUOTA_RECALC_SIZE). */
#define QUOTA_FILE_MAX (4u * 1024 * 1024)
/* Maildir++: a maildirsize grown past this many octets is recalculated. */
#define QUOTA_RECALC_SIZE 5120
/* Maildir++: a maildirsize that says "over quota" and is older than this is recalculated before it refuses. */
#define QUOTA_STALE_SECS (15 * 60)
/* The folder Maildir++ leaves out of the sum (so that deleting into it stays possible). */
#define QUOTA_TRASH ".Trash"
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
	return imap_quota_parse_lines(data, len, limit_bytes_r, limit_count_r, bytes_r, count_r, NULL);
}

int
imap_quota_parse_lines(const char *data, size_t len, uint64_t *limit_bytes_r, uint64_t *limit_count_r,
		       int64_t *bytes_r, int64_t *count_r, size_t *lines_r)
{
	const char *p = data, *end = data + len, *nl;
	int64_t bytes = 0, count = 0;
	size_t lines = 0;

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
			lines++;
		}
		p = nl == NULL ? end : nl + 1;
	}
	*bytes_r = bytes;
	*count_r = count;
	if (lines_r != NULL)
		*lines_r = lines;
	return 0;
}

/* Add the messages of dir/sub (cur/ or new/) to *bytes and *count: ",S=" in the name, else stat. */
static int
sum_dir(const char *dir, const char *sub, uint64_t *bytes, uint64_t *count)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int dfd;

	if (path_join(path, sizeof(path), dir, sub) == -1)
		return -1;
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	dfd = dirfd(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		uint64_t size;

		if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		/* A size beyond what a quota counts is as none: stat tells. */
		if (!maildir_name_size(de->d_name, strlen(de->d_name), &size) || size > QUOTA_NUM_MAX) {
			/* Gone meanwhile (expunged, moved): not counted. */
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
				continue;
			size = (uint64_t)st.st_size;
		} else if (de->d_type == DT_UNKNOWN &&
			   (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))) {
			continue;
		}
		if (*bytes > QUOTA_NUM_MAX - size)
			size = QUOTA_NUM_MAX - *bytes;
		*bytes += size;
		(*count)++;
	}
	{
		int e = errno;  /* readdir's: 0 at the end */

		closedir(d);
		errno = e;
		return e != 0 ? -1 : 0;
	}
}

int
imap_quota_sum(const char *root, uint64_t *bytes_r, uint64_t *count_r)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	*bytes_r = *count_r = 0;
	if (sum_dir(root, "cur", bytes_r, count_r) == -1 || sum_dir(root, "new", bytes_r, count_r) == -1)
		return -1;
	d = opendir(root);
	if (d == NULL)
		return -1;
	/* Every Maildir++ folder ".Name" but Trash; not "." and "..", nor osd's "..osd-deleted.*" on their way out. */
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		char dir[PATH_MAX];

		if (de->d_name[0] != '.' || de->d_name[1] == '\0' || de->d_name[1] == '.' ||
		    strcmp(de->d_name, QUOTA_TRASH) == 0 || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (path_join(dir, sizeof(dir), root, de->d_name) == -1 ||
		    sum_dir(dir, "cur", bytes_r, count_r) == -1 || sum_dir(dir, "new", bytes_r, count_r) == -1)
			r = -1;
	}
	if (r == 0 && errno != 0)
		r = -1;
	closedir(d);
	return r;
}

/*
 * Maildir++'s recalculation: root's maildirsize replaced (temp + rename)
 * by its definition line (def, dlen octets, kept as it was) and one line
 * of the sums of the folders.  Deltas other writers append to the old
 * file meanwhile are lost, as Maildir++ accepts: the next recalculation
 * counts their files.
 */
static int
recalc(const char *root, const char *def, size_t dlen, int64_t *bytes_r, int64_t *count_r)
{
	struct atomicfile af;
	char path[PATH_MAX];
	uint64_t bytes, count;
	struct buf b;
	int r;

	if (imap_quota_sum(root, &bytes, &count) == -1 || path_join(path, sizeof(path), root, IMAP_QUOTA_NAME) == -1)
		return -1;
	buf_init(&b, QUOTA_FILE_MAX);
	if (buf_append(&b, def, dlen) == -1 ||
	    buf_printf(&b, "\n%" PRIu64 " %" PRIu64 "\n", bytes, count) == -1 ||
	    atomicfile_open(&af, path, 0600) == -1) {
		buf_free(&b);
		return -1;
	}
	r = atomicfile_write_commit(&af, b.data, b.len, true);
	buf_free(&b);
	if (r == 0) {
		*bytes_r = (int64_t)bytes;
		*count_r = (int64_t)count;
	}
	return r;
}

/*
 * Read root's maildirsize: its limits and use, recalculated first when
 * Maildir++ asks for it: the file past QUOTA_RECALC_SIZE octets, or with
 * its definition line only (the tool that set the quota left the counting
 * to the mail software), or over quota with add_bytes and add_count added
 * by a file older than QUOTA_STALE_SECS.  1 with a quota, 0 with none (no
 * file, or one whose first line is not a quota definition), -1 with
 * errno.
 */
static int
quota_read(const char *root, uint64_t add_bytes, uint64_t add_count, uint64_t *lb, uint64_t *lc, int64_t *ub,
	   int64_t *uc)
{
	char path[PATH_MAX];
	struct stat st;
	struct buf b;
	size_t lines;
	int fd, r;

	if (path_join(path, sizeof(path), root, IMAP_QUOTA_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_RDONLY, 0, &st);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	buf_init(&b, QUOTA_FILE_MAX);
	r = buf_read_fd(&b, fd);
	close(fd);
	if (r == -1 || imap_quota_parse_lines(b.data != NULL ? b.data : "", b.len, lb, lc, ub, uc, &lines) == -1) {
		/* An unreadable or malformed maildirsize limits nothing. */
		buf_free(&b);
		return 0;
	}
	{
		const char *nl = memchr(b.data, '\n', b.len);
		size_t dlen = nl == NULL ? b.len : (size_t)(nl - b.data);
		bool over = (*lb > 0 && (*ub < 0 ? 0 : (uint64_t)*ub) + add_bytes > *lb) ||
			    (*lc > 0 && (*uc < 0 ? 0 : (uint64_t)*uc) + add_count > *lc);

		/* Maildir++: too long, no counts yet, or "over" by a file older than 15 minutes (others delivered and removed since). */
		if (b.len > QUOTA_RECALC_SIZE || lines == 0 ||
		    (over && time(NULL) - st.st_mtim.tv_sec > QUOTA_STALE_SECS))
			(void)recalc(root, b.data, dlen, ub, uc);
	}
	buf_free(&b);
	return 1;
}
int
imap_quota_check(const char *root, uint64_t bytes, uint64_t count, bool *over_r)
{
	uint64_t lb, lc;
	int64_t ub, uc;
	int r;

	*over_r = false;
	r = quota_read(root, bytes, count, &lb, &lc, &ub, &uc);
	if (r <= 0)
		return r;
	if (ub < 0)
		ub = 0;
	if (uc < 0)
		uc = 0;
	if ((lb > 0 && (uint64_t)ub + bytes > lb) || (lc > 0 && (uint64_t)uc + count > lc))
		*over_r = true;
	return 0;
}

int
imap_quota_add(const char *root, int64_t bytes, int64_t count)
{
	char path[PATH_MAX], line[64];
	struct stat st;
	int fd, n, r;

	if (path_join(path, sizeof(path), root, IMAP_QUOTA_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_WRONLY | O_APPEND, 0, NULL);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes, count);
	/* One write of the whole line: O_APPEND keeps concurrent writers' lines whole. */
	r = write_all(fd, line, (size_t)n);
	if (r == 0 && fstat(fd, &st) == 0 && st.st_size > QUOTA_RECALC_SIZE) {
		uint64_t lb, lc;
		int64_t ub, uc;

		/* Grown past Maildir++'s bound: quota_read recalculates it. */
		(void)quota_read(root, 0, 0, &lb, &lc, &ub, &uc);
	}
	close(fd);
	return r;
}
