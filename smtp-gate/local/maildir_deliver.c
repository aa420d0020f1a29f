/* maildir_deliver.c - one message into a Maildir the crash-safe way (tmp, fsync, link into new), and Maildir++ quota use. */
#include "maildir_deliver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "errfmt.h"
#include "maildir_name.h"
#include "xmalloc.h"

/* The host part of a unique name stops here: the name must stay well under NAME_MAX. */
#define MAILDIR_HOST_MAX 64
/* Names tried in tmp/ before giving up (each try moves the microsecond on). */
#define MAILDIR_NAME_TRIES 100

int
maildir_unique_name(char *out, size_t size, long long sec, long usec, long pid, const char *host,
		    uint64_t msg_size)
{
	char h[MAILDIR_HOST_MAX + 1];
	size_t n = 0;
	int r;

	for (const unsigned char *p = (const unsigned char *)host; *p != '\0'; p++) {
		/* Maildir: "replace / with \057 and : with \072"; ',' would end the host early. */
		bool plain = *p > 0x20 && *p < 0x7f && *p != '/' && *p != ':' && *p != ',' &&
			     *p != '\\';

		if (n + (plain ? 1 : 4) > MAILDIR_HOST_MAX)
			break;
		if (plain)
			h[n++] = (char)*p;
		else
			n += (size_t)snprintf(h + n, sizeof(h) - n, "\\%03o", *p);
	}
	h[n] = '\0';
	if (n == 0)
		snprintf(h, sizeof(h), "localhost");
	r = snprintf(out, size, "%lld.M%06ldP%ld.%s,S=%" PRIu64, sec, usec, pid, h, msg_size);
	if (r < 0 || (size_t)r >= size) {
		if (size > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* Add the messages of parent/sub (a new/ or cur/ folder) to use; a missing folder adds nothing. */
static int
usage_of_folder(int parent, const char *sub, struct maildir_usage *use)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(parent, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		uint64_t size;

		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (!maildir_name_size(de->d_name, strlen(de->d_name), &size)) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
				/* Moved to cur/ or expunged by a reader meanwhile. */
				if (errno == ENOENT)
					continue;
				break;
			}
			if (!S_ISREG(st.st_mode))
				continue;
			size = (uint64_t)st.st_size;
		}
		use->bytes += size;
		use->count++;
	}
	if (errno != 0) {
		int saved = errno;

		closedir(d);
		errno = saved;
		return -1;
	}
	closedir(d);
	return 0;
}

/* INBOX's new/ and cur/ under dirfd, or those of one Maildir++ folder. */
static int
usage_of_mailbox(int dirfd, const char *mailbox, struct maildir_usage *use)
{
	int fd, r = 0;

	if ((fd = openat(dirfd, mailbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -1;
	if (usage_of_folder(fd, "new", use) == -1 || usage_of_folder(fd, "cur", use) == -1)
		r = -1;
	close(fd);
	return r;
}

int
maildir_usage(const char *maildir, struct maildir_usage *use_r, char *err, size_t errsize)
{
	struct dirent *de;
	DIR *d;

	use_r->bytes = 0;
	use_r->count = 0;
	if ((d = opendir(maildir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return errfmt(err, errsize, "%s: %s", maildir, strerror(errno));
	}
	if (usage_of_mailbox(dirfd(d), ".", use_r) == -1)
		goto fail;
	/* Maildir++ folders (".Sent", ".Trash"): the quota is for the whole mailbox. */
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (usage_of_mailbox(dirfd(d), de->d_name, use_r) == -1)
			goto fail;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	return 0;
fail:
	errfmt(err, errsize, "%s: %s", maildir, strerror(errno));
	closedir(d);
	return -1;
}

bool
maildir_over_quota(const struct userdb_quota *quota, const struct maildir_usage *use,
		   uint64_t msg_size)
{
	if (quota->bytes != 0 &&
	    (use->bytes > quota->bytes || msg_size > quota->bytes - use->bytes))
		return true;
	return quota->count != 0 && use->count >= quota->count;
}

int
deliver_copy(int fd, off_t offset, uint64_t len, deliver_sink_fn *sink, void *ctx)
{
	char *chunk = xmalloc(DELIVER_CHUNK);
	int saved;

	while (len > 0) {
		size_t want = len < DELIVER_CHUNK ? (size_t)len : DELIVER_CHUNK;
		ssize_t n = pread(fd, chunk, want, offset);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The queue file is immutable: ending early means something broke. */
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		if (sink(ctx, chunk, (size_t)n) == -1)
			goto fail;
		offset += n;
		len -= (uint64_t)n;
	}
	free(chunk);
	return 0;
fail:
	saved = errno;
	free(chunk);
	errno = saved;
	return -1;
}

static int
write_sink(void *ctx, const void *data, size_t len)
{
	return write_all(*(int *)ctx, data, len);
}

/* Put tmp/name into new/: link, or rename where this file system cannot link. */
static int
move_to_new(int tmp_fd, int new_fd, const char *name, bool *linked_r)
{
	*linked_r = false;
	if (linkat(tmp_fd, name, new_fd, name, 0) == 0) {
		*linked_r = true;
		return 0;
	}
	if (errno != EXDEV && errno != EPERM && errno != ENOTSUP && errno != ENOSYS &&
	    errno != EMLINK)
		return -1;
	/* Never replace a message already in new/ (link would have said EEXIST too). */
	if (renameat2(tmp_fd, name, new_fd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (faccessat(new_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(tmp_fd, name, new_fd, name);
}

/* Create tmp/UNIQUE[,Q=key] exclusively; the name also must not be taken in new/. */
static int
create_tmp(int tmp_fd, int new_fd, uint64_t msg_size, const char *key,
	   char name[MAILDIR_NAME_MAX + 1])
{
	char host[256];
	struct timeval tv;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	gettimeofday(&tv, NULL);
	for (int i = 0; i < MAILDIR_NAME_TRIES; i++) {
		int fd;

		if (maildir_unique_name(name, MAILDIR_NAME_MAX + 1, (long long)tv.tv_sec,
					(long)tv.tv_usec, (long)getpid(), host, msg_size) == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (key != NULL) {
			size_t n = strlen(name);
			int r = snprintf(name + n, MAILDIR_NAME_MAX + 1 - n, ",Q=%s", key);

			if (r < 0 || (size_t)r >= MAILDIR_NAME_MAX + 1 - n) {
				errno = ENAMETOOLONG;
				return -1;
			}
		}
		if (faccessat(new_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == -1) {
			fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0600);
			if (fd != -1 || errno != EEXIST)
				return fd;
		}
		if (++tv.tv_usec == 1000000) {
			tv.tv_usec = 0;
			tv.tv_sec++;
		}
	}
	errno = EEXIST;
	return -1;
}

/*
 * Test hook: with OSD_LOCAL_TEST_STOP=point in the environment the
 * delivery stops itself (SIGSTOP) at that point ("tmp": written, not yet
 * in new/; "new": in new/, verdict not yet told), so that an integration
 * test can kill the queue manager at a known moment (tests/integration/
 * test_queue_kill_delivery.py).  Nothing else reads it.
 */
static void
test_stop(const char *point)
{
	const char *e = getenv("OSD_LOCAL_TEST_STOP");

	if (e != NULL && strcmp(e, point) == 0)
		(void)raise(SIGSTOP);
}

int
maildir_deliver(const char *maildir, const char *head, size_t head_len, int fd, off_t offset,
		uint64_t body_len, bool do_fsync, char name_r[MAILDIR_NAME_MAX + 1], char *err,
		size_t errsize)
{
	return maildir_deliver_keyed(maildir, NULL, head, head_len, fd, offset, body_len, do_fsync,
				     name_r, err, errsize);
}

/* Does the base name carry ",Q=key" as a whole field (ended by ',' or ':' or its end)? */
static bool
name_has_key(const char *name, const char *key, size_t klen)
{
	const char *p = name;

	while ((p = strstr(p, ",Q=")) != NULL) {
		p += 3;
		if (strncmp(p, key, klen) == 0 && (p[klen] == '\0' || p[klen] == ',' || p[klen] == ':'))
			return true;
	}
	return false;
}

int
maildir_find_key(const char *maildir, const char *key, char name_r[MAILDIR_NAME_MAX + 1],
		 char *err, size_t errsize)
{
	static const char *const subs[] = { "new", "cur" };
	size_t klen = strlen(key);

	name_r[0] = '\0';
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char dir[PATH_MAX];
		struct dirent *de;
		DIR *d;

		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", maildir, subs[i]) >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return errfmt(err, errsize, "%s: %s", maildir, strerror(errno));
		}
		if ((d = opendir(dir)) == NULL) {
			if (errno == ENOENT)
				continue;
			return errfmt(err, errsize, "%s: %s", dir, strerror(errno));
		}
		while ((errno = 0, de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || !name_has_key(de->d_name, key, klen))
				continue;
			snprintf(name_r, MAILDIR_NAME_MAX + 1, "%s", de->d_name);
			closedir(d);
			return 1;
		}
		if (errno != 0) {
			int saved = errno;

			closedir(d);
			return errfmt(err, errsize, "%s: %s", dir, strerror(saved));
		}
		closedir(d);
	}
	return 0;
}

int
maildir_deliver_keyed(const char *maildir, const char *key, const char *head, size_t head_len,
		      int fd, off_t offset, uint64_t body_len, bool do_fsync,
		      char name_r[MAILDIR_NAME_MAX + 1], char *err, size_t errsize)
{
	int dir_fd, tmp_fd = -1, new_fd = -1, out = -1, saved;
	const char *step = "open";
	bool in_tmp = false, in_new = false, linked;

	name_r[0] = '\0';
	if ((dir_fd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (tmp_fd = openat(dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (new_fd = openat(dir_fd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	step = "create tmp file";
	if ((out = create_tmp(tmp_fd, new_fd, head_len + body_len, key, name_r)) == -1)
		goto fail;
	in_tmp = true;
	step = "write";
	if (write_all(out, head, head_len) == -1 ||
	    deliver_copy(fd, offset, body_len, write_sink, &out) == -1)
		goto fail;
	step = "fsync";
	if (do_fsync && fsync(out) == -1)
		goto fail;
	step = "close";
	/* close's error counts: NFS and quotas report there. */
	if (close(out) == -1) {
		out = -1;
		goto fail;
	}
	out = -1;
	test_stop("tmp");
	step = "move into new/";
	if (move_to_new(tmp_fd, new_fd, name_r, &linked) == -1)
		goto fail;
	in_new = true;
	in_tmp = linked;
	step = "fsync new/";
	if (do_fsync && fsync(new_fd) == -1)
		goto fail;
	/* Delivered: the tmp name is only a leftover now; a failure here loses nothing. */
	if (linked)
		(void)unlinkat(tmp_fd, name_r, 0);
	test_stop("new");
	close(new_fd);
	close(tmp_fd);
	close(dir_fd);
	return 0;
fail:
	saved = errno;
	if (out != -1)
		close(out);
	/* Not durable, so not delivered: the retry must not find a second copy. */
	if (in_new)
		(void)unlinkat(new_fd, name_r, 0);
	if (in_tmp)
		(void)unlinkat(tmp_fd, name_r, 0);
	if (new_fd != -1)
		close(new_fd);
	if (tmp_fd != -1)
		close(tmp_fd);
	if (dir_fd != -1)
		close(dir_fd);
	errno = saved;
	return errfmt(err, errsize, "%s: %s: %s", maildir, step, strerror(saved));
}
