/* opensmtp.c - record, read and expire the per-address files of open-smtp/. */
#include "opensmtp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Renamed-aside entries: OPENSMTP_TMP_PREFIX "expire." <address> */
#define EXPIRE_PREFIX OPENSMTP_TMP_PREFIX "expire."

int opensmtp_record_at(int dirfd, const struct ipaddr *addr)
{
	char name[IPADDR_TEXT_MAX];
	int fd;

	ipaddr_format(addr, name);
	/* The common case, a returning user: one system call.  NOFOLLOW so a
	 * planted symlink cannot make us touch another file. */
	if (utimensat(dirfd, name, NULL, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0)
		return close(fd);
	if (errno != EEXIST)
		return -1;
	/* Another login created it between our two calls. */
	return utimensat(dirfd, name, NULL, AT_SYMLINK_NOFOLLOW);
}

int opensmtp_record(const char *dir, const struct ipaddr *addr)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r, saved;

	if (dirfd < 0)
		return -1;
	r = opensmtp_record_at(dirfd, addr);
	saved = errno;
	close(dirfd);
	errno = saved;
	return r;
}

int opensmtp_record_time_at(int dirfd, const struct ipaddr *addr, time_t when)
{
	char name[IPADDR_TEXT_MAX];
	struct timespec times[2] = { { .tv_sec = when }, { .tv_sec = when } };
	struct stat st;
	int fd, saved;

	ipaddr_format(addr, name);
	/* An entry with a later mtime is a newer login: importing must not age it. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime > when)
		return 0;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (futimens(fd, times) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 1;
}

bool opensmtp_name_to_addr(const char *name, struct ipaddr *addr_r)
{
	char canon[IPADDR_TEXT_MAX];

	if (ipaddr_parse(name, addr_r) < 0)
		return false;
	/* Only the canonical spelling names an entry, so one address can
	 * never have two files. */
	ipaddr_format(addr_r, canon);
	return strcmp(canon, name) == 0;
}

/* Put a renamed-aside entry back, unless a newer login already made one. */
static void put_back(int dirfd, const char *aside, const char *name)
{
	if (renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) == 0)
		return;
	if (errno != EEXIST)
		log_warn("open-smtp: cannot restore %s", name);
	unlinkat(dirfd, aside, 0);
}

enum opensmtp_expire_result opensmtp_expire_at(int dirfd, const char *name, long expire,
					       struct timespec *mtime_r)
{
	char aside[IPADDR_TEXT_MAX + sizeof EXPIRE_PREFIX];
	struct timespec now;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? OPENSMTP_GONE : OPENSMTP_ERROR;
	clock_gettime(CLOCK_REALTIME, &now);
	if (!opensmtp_is_expired(&st.st_mtim, expire, &now)) {
		*mtime_r = st.st_mtim;
		return OPENSMTP_REFRESHED;
	}
	if ((size_t)snprintf(aside, sizeof aside, "%s%s", EXPIRE_PREFIX, name) >= sizeof aside) {
		errno = ENAMETOOLONG;
		return OPENSMTP_ERROR;
	}
	/* After this rename a login finds no file and creates a new one, so
	 * no login can be lost between our check and the unlink. */
	if (renameat(dirfd, name, dirfd, aside) < 0)
		return errno == ENOENT ? OPENSMTP_GONE : OPENSMTP_ERROR;
	if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !opensmtp_is_expired(&st.st_mtim, expire, &now)) {
		/* A login touched it between the check and the rename. */
		put_back(dirfd, aside, name);
		*mtime_r = st.st_mtim;
		return OPENSMTP_REFRESHED;
	}
	if (unlinkat(dirfd, aside, 0) < 0 && errno != ENOENT)
		return OPENSMTP_ERROR;
	return OPENSMTP_REMOVED;
}

void opensmtp_printable(const char *name, char *out, size_t size)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	out[i] = '\0';
}

/* An expiry interrupted by a crash left OPENSMTP_TMP_PREFIX "expire.<addr>". */
static void finish_interrupted_expiry(int dirfd, const char *aside, long expire)
{
	const char *name = aside + strlen(EXPIRE_PREFIX);
	struct ipaddr addr;
	struct timespec now;
	struct stat st;

	if (!opensmtp_name_to_addr(name, &addr) ||
	    fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (opensmtp_is_expired(&st.st_mtim, expire, &now))
		unlinkat(dirfd, aside, 0);
	else
		put_back(dirfd, aside, name);
}

static void scan_one(int dirfd, const char *name, unsigned char d_type, long expire,
		     struct opensmtp_scan_stats *stats, opensmtp_entry_fn *fn, void *ctx, int *stop)
{
	struct ipaddr addr;
	struct timespec mtime;
	struct stat st;
	char shown[64];

	if (!opensmtp_name_to_addr(name, &addr) ||
	    (d_type != DT_REG && d_type != DT_UNKNOWN)) {
		opensmtp_printable(name, shown, sizeof shown);
		log_warnx("open-smtp: ignoring '%s': not an address file in canonical form", shown);
		stats->ignored++;
		return;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			log_warn("open-smtp: %s", name);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("open-smtp: ignoring '%s': not a regular file", name);
		stats->ignored++;
		return;
	}
	mtime = st.st_mtim;
	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (opensmtp_is_expired(&mtime, expire, &now)) {
			switch (opensmtp_expire_at(dirfd, name, expire, &mtime)) {
			case OPENSMTP_REMOVED:
				stats->expired++;
				return;
			case OPENSMTP_GONE:
				return;
			case OPENSMTP_ERROR:
				log_warn("open-smtp: cannot expire %s", name);
				return;
			case OPENSMTP_REFRESHED:
				break;
			}
		}
	}
	stats->live++;
	if (fn != NULL && fn(ctx, &addr, &mtime) < 0)
		*stop = 1;
}

int opensmtp_scan(int dirfd, long expire, opensmtp_entry_fn *fn, void *ctx,
		  struct opensmtp_scan_stats *stats_r)
{
	struct opensmtp_scan_stats stats = { 0 };
	struct dirent *de;
	int fd, stop = 0, saved;
	DIR *dir;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	errno = 0;
	while (!stop && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.') {
			if (strncmp(de->d_name, EXPIRE_PREFIX, strlen(EXPIRE_PREFIX)) == 0)
				finish_interrupted_expiry(dirfd, de->d_name, expire);
			/* ".", "..", and our own temporary names */
			errno = 0;
			continue;
		}
		scan_one(dirfd, de->d_name, de->d_type, expire, &stats, fn, ctx, &stop);
		errno = 0;
	}
	saved = errno;
	closedir(dir);
	if (stats_r != NULL)
		*stats_r = stats;
	if (stop) {
		errno = ECANCELED;
		return -1;
	}
	errno = saved;
	return saved == 0 ? 0 : -1;
}
