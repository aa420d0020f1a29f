/* queue.c - the mail queue file: smtpd's one-commit write into queue/new, the mark that says it is complete, and the strict envelope parser. Format: docs/queue-format.md. */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ascii.h"
#include "atomicfile.h"
#include "decimal.h"
#include "errfmt.h"
#include "path.h"
#include "runas.h"
#include "xmalloc.h"

/* The first line of every queue file; a new layout gets a new number. */
#define QUEUE_VERSION_LINE "osd-queue 1"

/* Message octets are gathered into writes of this size. */
#define QUEUE_BUF_SIZE (64 * 1024)

/*
 * More recipients than smtpd will ever accept (RFC 5321 asks for 100):
 * a bound so that a damaged file cannot make the reader allocate without
 * end.  The writer refuses the same, so every file it writes parses.
 */
#define QUEUE_RCPTS_MAX 100000

/* Queue folders and files: the owner's alone (messages are private). */
#define QUEUE_DIR_MODE 0700
#define QUEUE_FORBID 0077

/* Names tried in new/ before giving up (each try moves the clock part on). */
#define QUEUE_ID_TRIES 1000

/*
 * A message file is created read-only for its owner and made writable
 * (0600) with fchmod once complete: the mark every reader checks.  0600
 * is the mode files of earlier versions had when they reached new/ by
 * rename, so those count as complete too.
 */
#define QUEUE_MODE_WRITING 0400
#define QUEUE_MODE_DONE 0600

/* statfs f_type of the file systems whose fsync of a new file also commits its name. */
#define QUEUE_FS_EXT4 0xEF53            /* ext2/3/4, see docs/queue-format.md */
#define QUEUE_FS_XFS 0x58465342

struct queue_writer {
	int fd;                         /* new/ID while open (and flock'ed), else -1 */
	int new_dirfd;
	bool own_dirfd;                 /* new_dirfd is closed with the writer (else the caller's) */
	bool fsync;
	bool fsync_dir;                 /* the file system needs new/ fsynced for the name */
	bool in_new;                    /* new/ID exists and is ours to remove */
	int error;                      /* errno of the first failed write, 0 while healthy */
	char id[QUEUE_ID_MAX + 1];
	size_t len;                     /* octets waiting in buf */
	char buf[QUEUE_BUF_SIZE];
};

/*
 * The last id time handed out by this process.  Ids are "seconds.micro-
 * seconds.pid": the pid keeps processes apart, and within one process
 * every id takes a later microsecond than the one before, so ids are
 * unique and sort by arrival even when two messages share a microsecond
 * or the clock steps back.
 */
static long long queue_last_sec = -1;
static long queue_last_usec;

static void
queue_next_id(char id[QUEUE_ID_MAX + 1])
{
	struct timespec ts;
	char text[64];
	long long sec;
	long usec;
	size_t n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		ts.tv_sec = 0, ts.tv_nsec = 0;
	sec = ts.tv_sec < 0 ? 0 : (long long)ts.tv_sec;
	usec = ts.tv_nsec / 1000;
	if (sec < queue_last_sec || (sec == queue_last_sec && usec <= queue_last_usec)) {
		sec = queue_last_sec;
		usec = queue_last_usec + 1;
		if (usec >= 1000000) {
			sec++;
			usec = 0;
		}
	}
	queue_last_sec = sec;
	queue_last_usec = usec;
	/*
	 * Fixed-width time first: a plain string sort is arrival order (until
	 * the year 2286).  At most 10 + 1 + 6 + 1 + 10 digits of a pid: fits.
	 */
	if (sec > 9999999999LL)
		sec = 9999999999LL;
	snprintf(text, sizeof(text), "%010lld.%06ld.%ld", sec, usec, (long)getpid());
	n = strnlen(text, QUEUE_ID_MAX);
	memcpy(id, text, n);
	id[n] = '\0';
}

/* A value may hold spaces and 8-bit bytes, but nothing that could end or bend a line. */
static bool
queue_value_ok(const char *s, size_t len)
{
	return !ascii_has_ctl(s, len);
}

static bool
queue_str_ok(const char *s)
{
	return s != NULL && queue_value_ok(s, strlen(s));
}

/* The caller has parsed all of this already; refuse anything the parser would refuse. */
static const char *
queue_envelope_check(const struct queue_envelope *env)
{
	if (env == NULL)
		return "no envelope";
	if (!queue_str_ok(env->sender))
		return "bad sender";
	if (!queue_str_ok(env->client))
		return "bad client address";
	if (!queue_str_ok(env->helo))
		return "bad HELO argument";
	if (env->auth_user != NULL && (env->auth_user[0] == '\0' || !queue_str_ok(env->auth_user)))
		return "bad AUTH user";
	if (env->received < 0)
		return "bad receive time";
	if (env->nrcpts == 0 || env->rcpts == NULL)
		return "no recipients";
	if (env->nrcpts > QUEUE_RCPTS_MAX)
		return "too many recipients";
	for (size_t i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i] == NULL || env->rcpts[i][0] == '\0' || !queue_str_ok(env->rcpts[i]))
			return "bad recipient";
	return NULL;
}

/*
 * Open queue_dir/name, creating it (and queue_dir) with mode 0700 when
 * missing.  A folder made now is fsynced into its parent, as a message
 * renamed into it is only as durable as the folder itself.
 */
static int
queue_open_dir(const char *queue_dir, const char *name, bool do_fsync, char *err, size_t errsize)
{
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), queue_dir, name) == -1)
		return errfmt(err, errsize, "%s/%s: %s", queue_dir, name, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1)
		return fd;
	if (errno != ENOENT)
		return errfmt(err, errsize, "%s: %s", path, strerror(errno));
	if (path_mkdirs(path, 0700) == -1)
		return errfmt(err, errsize, "mkdir %s: %s", path, strerror(errno));
	if (do_fsync && (fsync_parent_dir(path) == -1 || fsync_parent_dir(queue_dir) == -1))
		return errfmt(err, errsize, "fsync of the folder above %s: %s", path, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return errfmt(err, errsize, "%s: %s", path, strerror(errno));
	return fd;
}

int
queue_prepare(struct runas *ra, const char *state_dir, bool manager, char *err, size_t errsize)
{
	static const char *const smtpd_dirs[] = { "queue", "queue/tmp", "queue/new" };
	static const char *const manager_dirs[] = { "queue/mess", "queue/info" };
	size_t i;

	for (i = 0; i < sizeof(smtpd_dirs) / sizeof(smtpd_dirs[0]); i++)
		if (runas_dir(ra, state_dir, smtpd_dirs[i], QUEUE_DIR_MODE, QUEUE_FORBID, RUNAS_WRITE,
			      err, errsize) == -1)
			return -1;
	if (!manager)
		return 0;
	for (i = 0; i < sizeof(manager_dirs) / sizeof(manager_dirs[0]); i++)
		if (runas_dir(ra, state_dir, manager_dirs[i], QUEUE_DIR_MODE, QUEUE_FORBID,
			      RUNAS_WRITE, err, errsize) == -1)
			return -1;
	/* tmp/, new/ and their files; mess/NN/ and info/NN/ and theirs. */
	if (runas_contents(ra, state_dir, "queue", 2, err, errsize) == -1)
		return -1;
	return runas_file(ra, state_dir, "queue/lock", QUEUE_FORBID, RUNAS_WRITE, err, errsize);
}

/* Unlink new/ID if still ours, then close it (the lock goes last); errno is kept. */
static void
queue_remove_file(struct queue_writer *w)
{
	int saved = errno;

	if (w->in_new)
		unlinkat(w->new_dirfd, w->id, 0);
	w->in_new = false;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	errno = saved;
}

static void
queue_writer_free(struct queue_writer *w)
{
	int saved = errno;

	if (w->own_dirfd && w->new_dirfd >= 0)
		close(w->new_dirfd);
	free(w);
	errno = saved;
}

/*
 * A write failed: remember why and remove the file now, so a full disk
 * gets its space back while smtpd still reads the rest of DATA.
 */
static int
queue_fail(struct queue_writer *w)
{
	w->error = errno;
	queue_remove_file(w);
	errno = w->error;
	return -1;
}

static int
queue_flush(struct queue_writer *w)
{
	if (w->error != 0) {
		errno = w->error;
		return -1;
	}
	if (w->len > 0 && write_all(w->fd, w->buf, w->len) == -1)
		return queue_fail(w);
	w->len = 0;
	return 0;
}

static int
queue_put(struct queue_writer *w, const void *data, size_t len)
{
	if (w->error != 0) {
		errno = w->error;
		return -1;
	}
	if (len == 0)
		return 0;
	if (len <= sizeof(w->buf) - w->len) {
		memcpy(w->buf + w->len, data, len);
		w->len += len;
		return 0;
	}
	if (queue_flush(w) == -1)
		return -1;
	if (len < sizeof(w->buf)) {
		memcpy(w->buf, data, len);
		w->len = len;
		return 0;
	}
	/* A piece as big as the buffer gains nothing from a copy. */
	if (write_all(w->fd, data, len) == -1)
		return queue_fail(w);
	return 0;
}

static int
queue_put_field(struct queue_writer *w, const char *key, const char *value)
{
	if (queue_put(w, key, strlen(key)) == -1 || queue_put(w, " ", 1) == -1 ||
	    queue_put(w, value, strlen(value)) == -1 || queue_put(w, "\n", 1) == -1)
		return -1;
	return 0;
}

static int
queue_put_envelope(struct queue_writer *w, const struct queue_envelope *env)
{
	char received[32];

	snprintf(received, sizeof(received), "%lld", (long long)env->received);
	if (queue_put(w, QUEUE_VERSION_LINE "\n", sizeof(QUEUE_VERSION_LINE)) == -1 ||
	    queue_put_field(w, "received", received) == -1 ||
	    queue_put_field(w, "client", env->client) == -1 ||
	    queue_put_field(w, "helo", env->helo) == -1 ||
	    (env->auth_user != NULL && queue_put_field(w, "auth", env->auth_user) == -1) ||
	    queue_put_field(w, "from", env->sender) == -1)
		return -1;
	for (size_t i = 0; i < env->nrcpts; i++)
		if (queue_put_field(w, "to", env->rcpts[i]) == -1)
			return -1;
	return queue_put(w, "\n", 1);
}

const char *
queue_error_reply(int err)
{
	if (err == ENOSPC || err == EDQUOT)
		return "452 4.3.1 Insufficient system storage";
	return "451 4.3.0 Error: queue file write error";
}

/*
 * Whether fsync of a file made in dirfd also makes its name durable, so
 * new/ needs no fsync of its own.  ext4 (with a journal: the name is in
 * the transaction fsync commits; without one: ext4 syncs the folders of
 * a new file) and XFS (the name is logged with the new inode) do; for
 * any other file system new/ is fsynced as well.  docs/queue-format.md.
 */
static bool
queue_fsync_names_file(const char *queue_dir, int dirfd)
{
	/* A session process queues many messages into one queue: ask once. */
	static char last_dir[PATH_MAX];
	static bool last_answer;
	struct statfs sf;

	if (strcmp(queue_dir, last_dir) == 0)
		return last_answer;
	if (fstatfs(dirfd, &sf) == -1)
		return false;
	last_answer = sf.f_type == QUEUE_FS_EXT4 || sf.f_type == QUEUE_FS_XFS;
	if (strlen(queue_dir) < sizeof(last_dir))
		memcpy(last_dir, queue_dir, strlen(queue_dir) + 1);
	return last_answer;
}

/*
 * Create new/ID, read-only for now (not complete), and lock it: the lock
 * tells the cleaner of debris that its writer lives.  The cleaner may
 * take the file between the open and the lock (it looks unlocked); then
 * it is gone from new/ (no link left) and the caller tries another id.
 * 0, or -1 with errno (EEXIST or EAGAIN: try another name).
 */
static int
queue_create(struct queue_writer *w)
{
	struct stat st;

	w->fd = openat(w->new_dirfd, w->id, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
		       QUEUE_MODE_WRITING);
	if (w->fd == -1)
		return -1;
	if (flock(w->fd, LOCK_EX) == -1 || fstat(w->fd, &st) == -1) {
		w->in_new = true;
		queue_remove_file(w);
		return -1;
	}
	if (st.st_nlink == 0) {
		close(w->fd);
		w->fd = -1;
		errno = EAGAIN;
		return -1;
	}
	w->in_new = true;
	return 0;
}

struct queue_writer *
queue_begin(const char *queue_dir, bool fsync, const struct queue_envelope *env,
	    char *err, size_t errsize)
{
	int dirfd = -1;
	struct queue_writer *w = queue_begin_in(queue_dir, &dirfd, fsync, env, err, errsize);

	if (w != NULL)
		w->own_dirfd = true;
	else if (dirfd != -1)
		close(dirfd);
	return w;
}

struct queue_writer *
queue_begin_in(const char *queue_dir, int *new_dirfd, bool fsync, const struct queue_envelope *env,
	       char *err, size_t errsize)
{
	struct queue_writer *w;
	const char *why;
	int tries, saved;
	bool reopened = *new_dirfd == -1;

	if ((why = queue_envelope_check(env)) != NULL) {
		errno = EINVAL;
		errfmt(err, errsize, "queue: %s", why);
		return NULL;
	}
	w = xmalloc(sizeof(*w));
	w->fd = -1;
	w->fsync = fsync;
	w->in_new = false;
	w->error = 0;
	w->id[0] = '\0';
	w->len = 0;
	w->own_dirfd = false;
	w->new_dirfd = -1;
	if (*new_dirfd == -1 &&
	    (*new_dirfd = queue_open_dir(queue_dir, "new", fsync, err, errsize)) == -1)
		goto fail;
	w->new_dirfd = *new_dirfd;
	w->fsync_dir = fsync && !queue_fsync_names_file(queue_dir, w->new_dirfd);

	/* O_EXCL makes the name ours alone: a queued message is never replaced. */
	for (tries = 0; tries < QUEUE_ID_TRIES; tries++) {
		queue_next_id(w->id);
		if (queue_create(w) == 0)
			break;
		/* new/ gone since the caller opened it: open (and make) it afresh, once. */
		if (errno == ENOENT && !reopened) {
			reopened = true;
			close(*new_dirfd);
			if ((*new_dirfd = queue_open_dir(queue_dir, "new", fsync, err, errsize)) == -1)
				goto fail;
			w->new_dirfd = *new_dirfd;
			continue;
		}
		if (errno != EEXIST && errno != EAGAIN)
			break;
	}
	if (w->fd == -1) {
		if (tries == QUEUE_ID_TRIES)
			errno = EEXIST;
		errfmt(err, errsize, "%s/new/%s: %s", queue_dir, w->id, strerror(errno));
		goto fail;
	}
	if (queue_put_envelope(w, env) == -1) {
		errfmt(err, errsize, "%s/new/%s: write: %s", queue_dir, w->id, strerror(errno));
		goto fail;
	}
	return w;

fail:
	saved = errno;
	queue_remove_file(w);
	queue_writer_free(w);
	errno = saved;
	return NULL;
}

int
queue_write(struct queue_writer *w, const void *data, size_t len, char *err, size_t errsize)
{
	if (queue_put(w, data, len) == -1)
		return errfmt(err, errsize, "queue file %s: write: %s", w->id, strerror(errno));
	return 0;
}

/*
 * Write the data out and wait for it before the mark is set: on ext4 the
 * blocks of a new file are allocated (and its size on disk set) only at
 * write-back, so a journal commit that someone else's fsync starts
 * between our fchmod and our fsync could otherwise carry the mark ahead
 * of the data.  This is an ordering, not a commit: durability is the
 * fsync's.  File systems without it (EINVAL, ENOSYS) lose only the order.
 */
static int
queue_write_out(int fd)
{
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) == -1 && errno != EINVAL && errno != ENOSYS)
		return -1;
	return 0;
}

int
queue_commit(struct queue_writer *w, char id_r[QUEUE_ID_MAX + 1], char *err, size_t errsize)
{
	const char *step = "write";
	int fd, saved;

	id_r[0] = '\0';
	if (queue_flush(w) == -1)
		goto fail;
	step = "write-out";
	if (w->fsync && queue_write_out(w->fd) == -1)
		goto fail;
	step = "mark complete (fchmod)";
	if (fchmod(w->fd, QUEUE_MODE_DONE) == -1)
		goto fail;
	/* The one commit: data, mark and (ext4, XFS) the name in new/. */
	step = "fsync";
	if (w->fsync && fsync(w->fd) == -1)
		goto fail;
	step = "fsync of new/";
	if (w->fsync_dir && fsync(w->new_dirfd) == -1 && errno != EINVAL)
		goto fail;
	step = "close";
	fd = w->fd;
	w->fd = -1;
	/*
	 * A failed close can mean lost data (NFS, quota).  EINTR: Linux has
	 * closed the fd and fsync is done.  A failure here removes a file the
	 * queue manager may have taken already (it is marked): a duplicate
	 * at worst, never a loss, as the client sends it again.
	 */
	if (close(fd) == -1 && errno != EINTR)
		goto fail;
	w->in_new = false;
	memcpy(id_r, w->id, strlen(w->id) + 1);
	queue_writer_free(w);
	return 0;

fail:
	saved = errno;
	queue_remove_file(w);
	errfmt(err, errsize, "queue file %s: %s: %s", w->id, step, strerror(saved));
	queue_writer_free(w);
	errno = saved;
	return -1;
}

void
queue_abort(struct queue_writer *w)
{
	if (w == NULL)
		return;
	queue_remove_file(w);
	queue_writer_free(w);
}

bool
queue_file_complete(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_mode & S_IWUSR) != 0;
}

int
queue_clean_debris(int dirfd, const char *name)
{
	struct stat st;
	int fd, saved, r = 0;

	/* Read-only: closing it is no IN_CLOSE_WRITE for the manager's own watch. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		r = errno == EWOULDBLOCK ? 0 : -1;
		goto out;
	}
	/* Under the lock nothing changes: a writer marks before it lets go. */
	if (fstat(fd, &st) == -1) {
		r = -1;
		goto out;
	}
	if (S_ISREG(st.st_mode) && !queue_file_complete(&st) && st.st_nlink > 0) {
		if (unlinkat(dirfd, name, 0) == 0)
			r = 1;
		else
			r = errno == ENOENT ? 0 : -1;
	}
out:
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Decimal seconds, canonical (no sign, no leading zero), within time_t. */
static int
queue_parse_time(const char *s, time_t *t_r)
{
	const unsigned long long max = sizeof(time_t) >= 8 ? (unsigned long long)INT64_MAX :
				       (unsigned long long)INT32_MAX;
	uint64_t v;

	if ((s[0] == '0' && s[1] != '\0') || decimal_parse(s, strlen(s), max, &v) == -1)
		return -1;
	*t_r = (time_t)v;
	return 0;
}

int
queue_envelope_parse(char *data, size_t len, struct queue_envelope_read *env,
		     char *err, size_t errsize)
{
	size_t pos = 0, lineno = 0, cap = 0;
	bool have_received = false;
	char *line, *nl, *sp, *key, *value, **slot;

	memset(env, 0, sizeof(*env));
	for (;;) {
		if (pos >= len) {
			errfmt(err, errsize, "envelope: truncated after line %zu (no empty line)", lineno);
			goto fail;
		}
		line = data + pos;
		nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			errfmt(err, errsize, "envelope: line %zu: truncated (no end of line)", lineno + 1);
			goto fail;
		}
		lineno++;
		if (!queue_value_ok(line, (size_t)(nl - line))) {
			errfmt(err, errsize, "envelope: line %zu: control character", lineno);
			goto fail;
		}
		*nl = '\0';
		pos = (size_t)(nl - data) + 1;
		if (lineno == 1) {
			if (strcmp(line, QUEUE_VERSION_LINE) != 0) {
				errfmt(err, errsize, "envelope: not an \"%s\" queue file", QUEUE_VERSION_LINE);
				goto fail;
			}
			continue;
		}
		if (*line == '\0')
			break;
		if ((sp = strchr(line, ' ')) == NULL) {
			errfmt(err, errsize, "envelope: line %zu: no value", lineno);
			goto fail;
		}
		*sp = '\0';
		key = line;
		value = sp + 1;
		if (strcmp(key, "to") == 0) {
			if (*value == '\0') {
				errfmt(err, errsize, "envelope: line %zu: empty recipient", lineno);
				goto fail;
			}
			if (env->nrcpts == QUEUE_RCPTS_MAX) {
				errfmt(err, errsize, "envelope: more than %d recipients", QUEUE_RCPTS_MAX);
				goto fail;
			}
			if (env->nrcpts == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				env->rcpts = xreallocarray(env->rcpts, cap, sizeof(*env->rcpts));
			}
			env->rcpts[env->nrcpts++] = value;
			continue;
		}
		if (strcmp(key, "received") == 0) {
			if (have_received)
				goto repeated;
			if (queue_parse_time(value, &env->received) == -1) {
				errfmt(err, errsize, "envelope: line %zu: bad received time", lineno);
				goto fail;
			}
			have_received = true;
			continue;
		}
		if (strcmp(key, "client") == 0) {
			slot = &env->client;
		} else if (strcmp(key, "helo") == 0) {
			slot = &env->helo;
		} else if (strcmp(key, "from") == 0) {
			slot = &env->sender;
		} else if (strcmp(key, "auth") == 0) {
			if (*value == '\0') {
				errfmt(err, errsize, "envelope: line %zu: empty auth", lineno);
				goto fail;
			}
			slot = &env->auth_user;
		} else {
			errfmt(err, errsize, "envelope: line %zu: unknown field \"%.32s\"", lineno, key);
			goto fail;
		}
		if (*slot != NULL)
			goto repeated;
		*slot = value;
	}
	if (!have_received || env->client == NULL || env->helo == NULL ||
	    env->sender == NULL || env->nrcpts == 0) {
		errfmt(err, errsize, "envelope: missing field \"%s\"",
		       !have_received ? "received" : env->client == NULL ? "client" :
		       env->helo == NULL ? "helo" : env->sender == NULL ? "from" : "to");
		goto fail;
	}
	env->body_offset = pos;
	return 0;

repeated:
	errfmt(err, errsize, "envelope: line %zu: repeated field \"%s\"", lineno, key);
fail:
	queue_envelope_read_free(env);
	return -1;
}

void
queue_envelope_read_free(struct queue_envelope_read *env)
{
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}
