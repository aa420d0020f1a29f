/* qstore.c - mess/NN and info/NN: where the queue manager keeps messages it has taken, and their per-recipient state. */
#include "qstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "atomicfile.h"
#include "errfmt.h"
#include "decimal.h"
#include "fnv.h"
#include "path.h"
#include "regfile.h"

#define QSTORE_VERSION_LINE "osd-info 1"

/* An info file is small: a line per recipient and its reason. */
#define QSTORE_INFO_MAX (64u * 1024 * 1024)

bool
qstore_id_ok(const char *name)
{
	size_t i;

	if (name[0] < '0' || name[0] > '9')
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= QUEUE_ID_MAX || !((name[i] >= '0' && name[i] <= '9') || name[i] == '.'))
			return false;
	return true;
}

void
qstore_bucket(const char *id, char out[3])
{
	static const char hex[] = "0123456789abcdef";
	/* FNV-1a: ids differ mostly in their last digits, which must spread too. */
	uint32_t h = fnv1a32_str(FNV1A32_BASIS, id);

	h ^= h >> 16;
	out[0] = hex[(h >> 4) & 15];
	out[1] = hex[h & 15];
	out[2] = '\0';
}

static int
bucket_path(const char *queue_dir, const char *sub, const char *id, char *out, size_t size)
{
	char b[3];

	qstore_bucket(id, b);
	return path_fmt(out, size, "%s/%s/%s/%s", queue_dir, sub, b, id);
}

int
qstore_mess_path(const char *queue_dir, const char *id, char *out, size_t size)
{
	return bucket_path(queue_dir, "mess", id, out, size);
}

int
qstore_info_path(const char *queue_dir, const char *id, char *out, size_t size)
{
	return bucket_path(queue_dir, "info", id, out, size);
}

int
qstore_new_path(const char *queue_dir, const char *id, char *out, size_t size)
{
	return path_fmt(out, size, "%s/new/%s", queue_dir, id);
}

int
qstore_init(const char *queue_dir, char *err, size_t errsize)
{
	static const char *const subs[] = { "tmp", "new", "mess", "info" };
	char p[PATH_MAX];
	size_t i;
	int b;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (path_fmt(p, sizeof(p), "%s/%s", queue_dir, subs[i]) == -1 ||
		    path_mkdirs(p, 0700) == -1) {
			errfmt(err, errsize, "%s: %s", p, strerror(errno));
			return -1;
		}
	}
	for (b = 0; b < QSTORE_BUCKETS; b++) {
		for (i = 2; i < 4; i++) {
			if (path_fmt(p, sizeof(p), "%s/%s/%02x", queue_dir, subs[i], b) == -1 ||
			    (mkdir(p, 0700) == -1 && errno != EEXIST)) {
				errfmt(err, errsize, "%s: %s", p, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

int
qstore_take_new(const char *queue_dir, const char *id)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;

	if (qstore_new_path(queue_dir, id, from, sizeof(from)) == -1 ||
	    qstore_mess_path(queue_dir, id, to, sizeof(to)) == -1 || lstat(from, &st) == -1)
		return -1;
	/* The writer never unmarks: a file seen complete stays complete. */
	if (!queue_file_complete(&st)) {
		errno = EAGAIN;
		return -1;
	}
	return rename(from, to);
}

int
qstore_clean_new(const char *queue_dir, const char *id)
{
	char p[PATH_MAX];
	int fd, r, saved;

	if (path_fmt(p, sizeof(p), "%s/new", queue_dir) == -1 ||
	    (fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = queue_clean_debris(fd, id);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int
qstore_info_init(struct qstore_info *info, size_t nrcpts)
{
	memset(info, 0, sizeof(*info));
	info->nrcpts = nrcpts;
	info->rcpts = calloc(nrcpts > 0 ? nrcpts : 1, sizeof(*info->rcpts));
	return info->rcpts != NULL ? 0 : -1;
}

void
qstore_info_free(struct qstore_info *info)
{
	size_t i;

	if (info->rcpts != NULL)
		for (i = 0; i < info->nrcpts; i++)
			free(info->rcpts[i].reason);
	free(info->rcpts);
	memset(info, 0, sizeof(*info));
}

int
qstore_info_set(struct qstore_info *info, size_t i, enum qstore_status st, const char *reason)
{
	char *copy = NULL;
	size_t n;

	if (reason != NULL) {
		n = strnlen(reason, QSTORE_REASON_MAX);
		if ((copy = malloc(n + 1)) == NULL)
			return -1;
		/* One line of printable text: the info file is line-based. */
		(void)ascii_sanitize(copy, n + 1, reason, n, ASCII_KEEP_8BIT, ' ');
	}
	info->rcpts[i].status = st;
	free(info->rcpts[i].reason);
	info->rcpts[i].reason = copy;
	return 0;
}

static const char *const status_names[] = { "pending", "done", "failed" };

int
qstore_info_format(const struct qstore_info *info, struct buf *out)
{
	size_t i;

	if (buf_printf(out, "%s\ntries %u\nnext %lld\nbounced %d\n", QSTORE_VERSION_LINE,
		       info->tries, (long long)info->next, info->bounced ? 1 : 0) == -1)
		return -1;
	for (i = 0; i < info->nrcpts; i++) {
		const struct qstore_rcpt *r = &info->rcpts[i];

		if (buf_printf(out, "rcpt %s\n", status_names[r->status]) == -1)
			return -1;
		if (r->reason != NULL && buf_printf(out, "why %s\n", r->reason) == -1)
			return -1;
	}
	return 0;
}

/* A decimal number with no sign and no junk. */
static int
parse_number(const char *s, unsigned long long max, unsigned long long *v_r)
{
	uint64_t v;

	if (decimal_parse(s, strlen(s), max, &v) == -1)
		return -1;
	*v_r = v;
	return 0;
}

int
qstore_info_parse(const char *text, size_t len, size_t nrcpts, struct qstore_info *info,
		  char *err, size_t errsize)
{
	const char *p = text, *end = text + len;
	unsigned long long v;
	size_t lineno = 0, rcpt = 0;
	char line[QSTORE_REASON_MAX + 64];

	if (qstore_info_init(info, nrcpts) == -1) {
		errfmt(err, errsize, "out of memory");
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (nl == NULL || n >= sizeof(line) || memchr(p, '\0', n) != NULL) {
			errfmt(err, errsize, "line %zu: %s", lineno,
			       nl == NULL ? "no line end (truncated)" : "too long or binary");
			goto fail;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (lineno == 1) {
			if (strcmp(line, QSTORE_VERSION_LINE) != 0) {
				errfmt(err, errsize, "not an %s file", QSTORE_VERSION_LINE);
				goto fail;
			}
		} else if (strncmp(line, "tries ", 6) == 0 && parse_number(line + 6, 1000000, &v) == 0) {
			info->tries = (unsigned)v;
		} else if (strncmp(line, "next ", 5) == 0 &&
			   parse_number(line + 5, 1ull << 40, &v) == 0) {
			info->next = (time_t)v;
		} else if (strcmp(line, "bounced 0") == 0 || strcmp(line, "bounced 1") == 0) {
			info->bounced = line[8] == '1';
		} else if (strncmp(line, "rcpt ", 5) == 0) {
			enum qstore_status st;

			if (strcmp(line + 5, "pending") == 0)
				st = QSTORE_PENDING;
			else if (strcmp(line + 5, "done") == 0)
				st = QSTORE_DONE;
			else if (strcmp(line + 5, "failed") == 0)
				st = QSTORE_FAILED;
			else
				goto bad;
			if (rcpt >= nrcpts) {
				errfmt(err, errsize, "more recipients than the envelope's %zu", nrcpts);
				goto fail;
			}
			info->rcpts[rcpt++].status = st;
		} else if (strncmp(line, "why ", 4) == 0 && rcpt > 0 &&
			   info->rcpts[rcpt - 1].reason == NULL) {
			if (qstore_info_set(info, rcpt - 1, info->rcpts[rcpt - 1].status, line + 4) == -1) {
				errfmt(err, errsize, "out of memory");
				goto fail;
			}
		} else {
			goto bad;
		}
	}
	if (lineno == 0 || rcpt != nrcpts) {
		errfmt(err, errsize, "%zu recipients, the envelope has %zu", rcpt, nrcpts);
		goto fail;
	}
	return 0;
bad:
	errfmt(err, errsize, "line %zu: unknown or malformed", lineno);
fail:
	qstore_info_free(info);
	return -1;
}

int
qstore_info_write(const char *queue_dir, const char *id, const struct qstore_info *info,
		  bool do_fsync, char *err, size_t errsize)
{
	struct atomicfile af;
	struct buf text;
	char path[PATH_MAX];
	int r = -1;

	buf_init(&text, QSTORE_INFO_MAX);
	if (qstore_info_path(queue_dir, id, path, sizeof(path)) == -1) {
		errfmt(err, errsize, "%s: path too long", id);
		goto out;
	}
	if (qstore_info_format(info, &text) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (atomicfile_open(&af, path, 0600) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (atomicfile_write_commit(&af, text.data, text.len, do_fsync) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	buf_free(&text);
	return r;
}

/*
 * At most max octets of fd (a regular file) into *data_r, NUL-terminated;
 * fd is closed.  No fstat: the buffer grows as needed, and a short read of
 * a regular file is its end (osd qread reads 100,000 files: each system
 * call counts).
 */
static int
read_fd(int fd, size_t max, char **data_r, size_t *len_r)
{
	size_t cap = max < 4096 ? max : 4096, len = 0;
	char *data = malloc(cap + 1);
	ssize_t n;

	if (data == NULL) {
		close(fd);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			char *bigger;

			if (cap == max)
				break;
			cap = cap > max / 2 ? max : 2 * cap;
			if ((bigger = realloc(data, cap + 1)) == NULL) {
				free(data);
				close(fd);
				return -1;
			}
			data = bigger;
		}
		n = read(fd, data + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(data);
			close(fd);
			return -1;
		}
		len += (size_t)n;
		if (n == 0 || len < cap)
			break;
	}
	close(fd);
	data[len] = '\0';
	*data_r = data;
	*len_r = len;
	return 0;
}

/* The whole of a small file (at most max octets) into *data_r, NUL-terminated. */
static int
read_small(int dirfd, const char *path, size_t max, char **data_r, size_t *len_r)
{
	int fd = regfile_openat(dirfd, path, O_RDONLY, 0, NULL);

	if (fd == -1)
		return -1;
	return read_fd(fd, max, data_r, len_r);
}

static int
info_parse_file(int dirfd, const char *path, size_t nrcpts, struct qstore_info *info,
		char *err, size_t errsize)
{
	char why[256], *data;
	size_t len;
	int r;

	if (read_small(dirfd, path, QSTORE_INFO_MAX, &data, &len) == -1) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	r = qstore_info_parse(data, len, nrcpts, info, why, sizeof(why));
	free(data);
	if (r == -1) {
		errfmt(err, errsize, "%s: %s", path, why);
		return -1;
	}
	return 1;
}

int
qstore_info_read_at(int dirfd, const char *id, size_t nrcpts, struct qstore_info *info,
		    char *err, size_t errsize)
{
	return info_parse_file(dirfd, id, nrcpts, info, err, errsize);
}

int
qstore_info_read(const char *queue_dir, const char *id, size_t nrcpts, struct qstore_info *info,
		 char *err, size_t errsize)
{
	char path[PATH_MAX];

	if (qstore_info_path(queue_dir, id, path, sizeof(path)) == -1) {
		errfmt(err, errsize, "%s: path too long", id);
		return -1;
	}
	return info_parse_file(AT_FDCWD, path, nrcpts, info, err, errsize);
}

int
qstore_info_next(const char *queue_dir, const char *id, time_t *next_r)
{
	char path[PATH_MAX], *data, *line, *nl;
	unsigned long long v;
	size_t len;
	int r = -1;

	if (qstore_info_path(queue_dir, id, path, sizeof(path)) == -1)
		return -1;
	/* The header lines come first: a short read holds them. */
	if (read_small(AT_FDCWD, path, 4096, &data, &len) == -1)
		return errno == ENOENT ? 0 : -1;
	if (strncmp(data, QSTORE_VERSION_LINE "\n", sizeof(QSTORE_VERSION_LINE)) == 0) {
		for (line = data; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			if (strncmp(line, "next ", 5) == 0 && parse_number(line + 5, 1ull << 40, &v) == 0) {
				*next_r = (time_t)v;
				r = 1;
				break;
			}
		}
	}
	free(data);
	return r;
}

int
qstore_read_envelope(const char *path, size_t max, char **data_r, size_t *len_r,
		     struct queue_envelope_read *env, char *err, size_t errsize)
{
	int fd = regfile_open(path, O_RDONLY, 0, NULL);

	*data_r = NULL;
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		errfmt(err, errsize, "%s: %s", path, regfile_strerror(errno));
		return -1;
	}
	return qstore_read_envelope_fd(fd, path, max, data_r, len_r, env, err, errsize);
}

int
qstore_read_envelope_fd(int fd, const char *name, size_t max, char **data_r, size_t *len_r,
			struct queue_envelope_read *env, char *err, size_t errsize)
{
	char why[256];
	size_t len;

	*data_r = NULL;
	*len_r = 0;
	if (read_fd(fd, max, data_r, &len) == -1) {
		errfmt(err, errsize, "%s: %s", name, strerror(errno));
		return -1;
	}
	/* Also on a parse error: the caller can tell that max cut the envelope short. */
	*len_r = len;
	if (queue_envelope_parse(*data_r, len, env, why, sizeof(why)) == -1) {
		errfmt(err, errsize, "%s: %s", name, why);
		free(*data_r);
		*data_r = NULL;
		return -1;
	}
	return 0;
}

void
qstore_remove(const char *queue_dir, const char *id)
{
	char p[PATH_MAX];

	/* The message first: an info file without its message is tidied at the next start. */
	if (qstore_mess_path(queue_dir, id, p, sizeof(p)) == 0)
		(void)unlink(p);
	if (qstore_info_path(queue_dir, id, p, sizeof(p)) == 0)
		(void)unlink(p);
}

static int
foreach_dir(const char *dir, bool in_new, qstore_each_fn *fn, void *ctx)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int r = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while (r == 0 && (e = readdir(d)) != NULL)
		if (qstore_id_ok(e->d_name))
			r = fn(e->d_name, in_new, ctx);
	closedir(d);
	return r;
}

int
qstore_foreach(const char *queue_dir, qstore_each_fn *fn, void *ctx)
{
	char p[PATH_MAX];
	int b, r;

	for (b = 0; b < QSTORE_BUCKETS; b++) {
		if (path_fmt(p, sizeof(p), "%s/mess/%02x", queue_dir, b) == -1)
			return -1;
		if ((r = foreach_dir(p, false, fn, ctx)) != 0)
			return r;
	}
	if (path_fmt(p, sizeof(p), "%s/new", queue_dir) == -1)
		return -1;
	return foreach_dir(p, true, fn, ctx);
}

/*
 * Queue ids in dir into *n; a missing folder counts 0.  complete: only
 * files marked complete (new/, where writers create them).  0 or -1 with
 * errno.
 */
static int
count_ids(const char *dir, bool complete, long *n)
{
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	*n = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL)
		*n += qstore_id_ok(e->d_name) &&
		      (!complete || (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				     queue_file_complete(&st)));
	closedir(d);
	return 0;
}

int
qstore_count_new(const char *queue_dir, long *fresh_r)
{
	char p[PATH_MAX];

	*fresh_r = 0;
	if (path_fmt(p, sizeof(p), "%s/new", queue_dir) == -1)
		return -1;
	return count_ids(p, true, fresh_r);
}

int
qstore_count(const char *queue_dir, long *queued_r, long *fresh_r)
{
	char p[PATH_MAX];
	long n;

	*queued_r = 0;
	for (int b = 0; b < QSTORE_BUCKETS; b++) {
		if (path_fmt(p, sizeof(p), "%s/mess/%02x", queue_dir, b) == -1 ||
		    count_ids(p, false, &n) == -1)
			return -1;
		*queued_r += n;
	}
	if (qstore_count_new(queue_dir, fresh_r) == -1)
		return -1;
	*queued_r += *fresh_r;
	return 0;
}
