/* opensmtp_user.c - the login name behind an open-smtp/ entry: xattr user.osd.login, or a sidecar by inode. */
#include "opensmtp_user.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fdclose.h"
#include "opensmtp.h"

#define SIDE_TMP ".tmp."
#define SIDE_GC ".gc."
/* "<entry name> <user>\n" */
#define SIDE_MAX (IPADDR_TEXT_MAX + 1 + OPENSMTP_USER_MAX + 1)
/* A temporary sidecar lives for the microseconds between its write and
 * its rename; one this old was left by a crash. */
#define SIDE_TMP_STALE 600

bool
opensmtp_user_valid(const char *user)
{
	size_t i;

	for (i = 0; user[i] != '\0'; i++)
		if (i >= OPENSMTP_USER_MAX || (unsigned char)user[i] <= ' ' ||
		    (unsigned char)user[i] >= 0x7f)
			return false;
	return i > 0;
}

/* OSD_USER_STORE=file: the sidecar even where xattrs work (see the header). */
static bool
sidecar_forced(void)
{
	const char *e = getenv("OSD_USER_STORE");

	return e != NULL && strcmp(e, "file") == 0;
}

/* OPENSMTP_USER_DIR "/" <inode>, the sidecar of st's inode. */
static void
side_path(const struct stat *st, bool in_dir, char *out, size_t size)
{
	snprintf(out, size, "%s%llu", in_dir ? "" : OPENSMTP_USER_DIR "/",
		 (unsigned long long)st->st_ino);
}

static int
sidecar_write(int dirfd, const char *name, const struct stat *st, const char *user)
{
	static _Atomic unsigned long counter;
	char tmp[96], path[64], text[SIDE_MAX + 1];
	int fd, len;

	len = snprintf(text, sizeof text, "%s %s\n", name, user);
	if (len < 0 || (size_t)len >= sizeof text) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdirat(dirfd, OPENSMTP_USER_DIR, 0755) < 0 && errno != EEXIST)
		return -1;
	snprintf(tmp, sizeof tmp, "%s/%s%ld.%lu", OPENSMTP_USER_DIR, SIDE_TMP, (long)getpid(),
		 ++counter);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)len) != len) {
		if (errno == 0)
			errno = EIO;
		(void)close_keep_errno(fd);
		goto fail;
	}
	if (close(fd) < 0)
		goto fail;
	/* Replaced whole: a reader sees the old name or the new, never half. */
	side_path(st, false, path, sizeof path);
	if (renameat(dirfd, tmp, dirfd, path) < 0)
		goto fail;
	return 0;
fail:
	{
		int saved = errno;
		(void)unlinkat(dirfd, tmp, 0);
		errno = saved;
	}
	return -1;
}

int
opensmtp_user_forget(int dirfd, const struct stat *st)
{
	char path[64];

	side_path(st, false, path, sizeof path);
	if (unlinkat(dirfd, path, 0) < 0 && errno != ENOENT && errno != ENOTDIR)
		return -1;
	return 0;
}

int
opensmtp_user_set(int dirfd, const char *name, int fd, const struct stat *st, const char *user)
{
	bool known = user != NULL && opensmtp_user_valid(user);

	if (!sidecar_forced()) {
		int r = known ? fsetxattr(fd, OPENSMTP_USER_XATTR, user, strlen(user), 0)
			      : fremovexattr(fd, OPENSMTP_USER_XATTR);

		if (known && r == 0)
			return 0;
		/* Forgetting: a sidecar left from OSD_USER_STORE=file goes too. */
		if (!known && (r == 0 || errno == ENODATA))
			return opensmtp_user_forget(dirfd, st);
		if (errno != ENOTSUP)
			return -1;
	} else {
		/* A name stored before the switch would hide the sidecar's. */
		(void)fremovexattr(fd, OPENSMTP_USER_XATTR);
	}
	/* No user xattrs here: the sidecar. */
	return known ? sidecar_write(dirfd, name, st, user) : opensmtp_user_forget(dirfd, st);
}

int
opensmtp_user_open_dir(int dirfd)
{
	return openat(dirfd, OPENSMTP_USER_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* The sidecar of st's inode, if it names this entry: 1, 0, or -1. */
static int
sidecar_read(int dirfd, const char *name, const struct stat *st, int sidefd, char *out, size_t size)
{
	char path[64], text[SIDE_MAX + 1];
	size_t namelen = strlen(name);
	ssize_t n;
	int fd;

	side_path(st, sidefd >= 0, path, sizeof path);
	fd = openat(sidefd >= 0 ? sidefd : dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	n = read(fd, text, sizeof text - 1);
	(void)close_keep_errno(fd);
	if (n < 0)
		return -1;
	text[n] = '\0';
	/* A reused inode number's leftover names another address: not ours. */
	if ((size_t)n < namelen + 3 || memcmp(text, name, namelen) != 0 || text[namelen] != ' ' ||
	    text[n - 1] != '\n')
		return 0;
	text[n - 1] = '\0';
	if (!opensmtp_user_valid(text + namelen + 1) || size < (size_t)n - namelen - 1)
		return 0;
	memcpy(out, text + namelen + 1, (size_t)n - namelen - 1);
	return 1;
}

/* After reading the xattr into out (n bytes, or -1 with errno): the name, or the sidecar's. */
static int
got_xattr(ssize_t n, int dirfd, const char *name, const struct stat *st, int sidefd, char *out,
	  size_t size)
{
	if (n >= 0) {
		out[n] = '\0';
		/* Not something osd wrote (set by hand?): shown as no name. */
		return opensmtp_user_valid(out) ? 1 : 0;
	}
	if (errno == ERANGE)
		return 0;
	if (errno != ENODATA && errno != ENOTSUP)
		return -1;
	return sidecar_read(dirfd, name, st, sidefd, out, size);
}

/*
 * Remove the sidecar name of sidefd if it is still old at now: renamed
 * aside first, looked at again, and put back (never over a newer one) if a
 * login rewrote it meanwhile: the expiry's discipline of opensmtp.c.
 */
static void
gc_one(int sidefd, const char *name, long expire, const struct timespec *now)
{
	static _Atomic unsigned long counter;
	char aside[64];
	struct stat st;

	if (fstatat(sidefd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !opensmtp_is_expired(&st.st_mtim, expire, now))
		return;
	snprintf(aside, sizeof aside, "%s%ld.%lu", SIDE_GC, (long)getpid(), ++counter);
	if (renameat(sidefd, name, sidefd, aside) < 0)
		return;
	if (fstatat(sidefd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !opensmtp_is_expired(&st.st_mtim, expire, now) &&
	    renameat2(sidefd, aside, sidefd, name, RENAME_NOREPLACE) == 0)
		return;
	(void)unlinkat(sidefd, aside, 0);
}

int
opensmtp_user_gc(int dirfd, long expire)
{
	struct timespec now;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd = opensmtp_user_open_dir(dirfd);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(fd);
	if (d == NULL)
		return close_keep_errno(fd);
	clock_gettime(CLOCK_REALTIME, &now);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (n[0] != '.') {
			gc_one(fd, n, expire, &now);
			continue;
		}
		/* A crash between write and rename, or in the middle of gc_one. */
		if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.tv_sec - st.st_mtim.tv_sec > SIDE_TMP_STALE &&
		    (strncmp(n, SIDE_TMP, strlen(SIDE_TMP)) == 0 || strncmp(n, SIDE_GC, strlen(SIDE_GC)) == 0))
			(void)unlinkat(fd, n, 0);
	}
	closedir(d);
	return 0;
}

int
opensmtp_user_get(int dirfd, const char *name, const struct stat *st, int sidefd, char *out,
		  size_t size)
{
	struct stat now;
	ssize_t n;
	int fd;

	if (size < 2) {
		errno = EINVAL;
		return -1;
	}
	if (dirfd == AT_FDCWD)
		return got_xattr(lgetxattr(name, OPENSMTP_USER_XATTR, out, size - 1), dirfd, name, st,
				 sidefd, out, size);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* Only the file the caller looked at: a newer entry has its own name. */
	if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		close(fd);
		return 0;
	}
	n = fgetxattr(fd, OPENSMTP_USER_XATTR, out, size - 1);
	(void)close_keep_errno(fd);
	return got_xattr(n, dirfd, name, st, sidefd, out, size);
}

int
opensmtp_user_get_fd(int dirfd, const char *name, int fd, const struct stat *st, char *out,
		     size_t size)
{
	if (size < 2) {
		errno = EINVAL;
		return -1;
	}
	return got_xattr(fgetxattr(fd, OPENSMTP_USER_XATTR, out, size - 1), dirfd, name, st, -1, out,
			 size);
}
