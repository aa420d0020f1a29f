/* atomicfile.c - write temp, fsync, rename: readers see the old file or the new one, never a mix. */
#include "atomicfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdclose.h"
#include "path.h"

/* Tries before giving up when leftover temporaries collide with our names. */
#define ATOMICFILE_TRIES 100

/* Makes temp names unique within one process (the pid covers the rest). */
static unsigned atomicfile_counter;

int
atomicfile_open(struct atomicfile *af, const char *path, unsigned mode)
{
	const char *slash, *base;
	size_t dirlen;
	int tries, fd;

	af->fd = -1;
	af->path[0] = '\0';
	af->tmp[0] = '\0';
	if (strlen(path) >= sizeof(af->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	slash = strrchr(path, '/');
	base = slash != NULL ? slash + 1 : path;
	if (*base == '\0') {
		/* "dir/" names a folder, not a file to replace. */
		errno = EISDIR;
		return -1;
	}
	/* The folder part, with its '/', so the temp lands beside the target. */
	dirlen = (size_t)(base - path);

	for (tries = 0; tries < ATOMICFILE_TRIES; tries++) {
		if (path_fmt(af->tmp, sizeof(af->tmp), "%.*s.%s.tmp.%ld.%u",
			     (int)dirlen, path, base, (long)getpid(),
			     atomicfile_counter++) == -1)
			return -1;
		fd = open(af->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, (mode_t)mode);
		if (fd != -1)
			break;
		if (errno != EEXIST) {
			af->tmp[0] = '\0';
			return -1;
		}
	}
	if (fd == -1) {
		af->tmp[0] = '\0';
		return -1;
	}
	/*
	 * The caller's mode is what the file must have (relay.cdb is read by
	 * other users): do not let a tight umask silently narrow it.  Only
	 * when it did: fchmod is a journaled step on ext4, and a watcher
	 * rewrites relay.cdb many times a second.
	 */
	struct stat st;

	if ((fstat(fd, &st) == -1 || (st.st_mode & 07777) != ((mode_t)mode & 07777)) &&
	    fchmod(fd, (mode_t)mode) == -1) {
		int saved = errno;

		close(fd);
		unlink(af->tmp);
		af->tmp[0] = '\0';
		errno = saved;
		return -1;
	}
	memcpy(af->path, path, strlen(path) + 1);
	af->fd = fd;
	return 0;
}

int
atomicfile_commit(struct atomicfile *af, bool do_fsync)
{
	return atomicfile_commit_how(af, do_fsync ? ATOMICFILE_SYNC_ALL : 0);
}

int
atomicfile_commit_how(struct atomicfile *af, int how)
{
	int fd = af->fd, saved;

	if (fd < 0 || af->tmp[0] == '\0') {
		errno = EBADF;
		return -1;
	}
	af->fd = -1;
	if ((how & ATOMICFILE_SYNC_DATA) && fsync(fd) == -1) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) == -1) {
		/* A failed close can mean lost data (NFS, quota): do not publish. */
		saved = errno;
		goto fail;
	}
	if ((how & ATOMICFILE_SWAP) && renameat2(AT_FDCWD, af->tmp, AT_FDCWD, af->path, RENAME_EXCHANGE) == 0) {
		/* af->tmp now names the old file (left to atomicfile_clean_stale if this fails). */
		(void)unlink(af->tmp);
	} else if (rename(af->tmp, af->path) == -1) {
		/* (No old file to exchange with, or a file system without RENAME_EXCHANGE.) */
		saved = errno;
		goto fail;
	}
	af->tmp[0] = '\0';
	/* The rename is only durable once the folder itself is on disk. */
	if ((how & ATOMICFILE_SYNC_NAME) && fsync_parent_dir(af->path) == -1)
		return -1;
	return 0;

fail:
	unlink(af->tmp);
	af->tmp[0] = '\0';
	errno = saved;
	return -1;
}

void
atomicfile_abort(struct atomicfile *af)
{
	int saved = errno;

	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0] != '\0')
		unlink(af->tmp);
	af->tmp[0] = '\0';
	errno = saved;
}

int
atomicfile_write_commit(struct atomicfile *af, const void *data, size_t len, bool do_fsync)
{
	return atomicfile_write_commit_how(af, data, len, do_fsync ? ATOMICFILE_SYNC_ALL : 0);
}

int
atomicfile_write_commit_how(struct atomicfile *af, const void *data, size_t len, int how)
{
	if (write_all(af->fd, data, len) == -1) {
		atomicfile_abort(af);   /* keeps errno */
		return -1;
	}
	return atomicfile_commit_how(af, how);
}

int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* No progress and no error: do not spin forever. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fsync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	if (path_dirname(dir, sizeof(dir), path) == -1)
		return -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	/* Some file systems cannot fsync a folder (EINVAL); nothing more to do there. */
	if (fsync(fd) == -1 && errno != EINVAL) {
		return close_keep_errno(fd);
	}
	close(fd);
	return 0;
}

/*
 * The writer's pid of a temporary named ".NAME.tmp.PID.N" (NAME from
 * atomicfile_open: any file name), or 0 when name is not one.
 */
static long
tmp_writer(const char *name)
{
	const char *p = name + strlen(name), *n_start, *pid_end;
	long pid = 0;

	if (name[0] != '.')
		return 0;
	/* N: digits after the last dot. */
	for (n_start = p; n_start > name && isdigit((unsigned char)n_start[-1]); n_start--)
		;
	if (n_start == p || n_start == name || n_start[-1] != '.')
		return 0;
	pid_end = n_start - 1;
	for (p = pid_end; p > name && isdigit((unsigned char)p[-1]); p--)
		;
	if (p == pid_end || pid_end - p > 9 || p - name < 6 || strncmp(p - 5, ".tmp.", 5) != 0)
		return 0;
	for (; p < pid_end; p++)
		pid = pid * 10 + (*p - '0');
	return pid;
}

/* Remove dir's temporaries whose names start with prefix ("" for all) and whose writer is gone. */
static int
clean_stale(const char *dir, const char *prefix, bool ours_too)
{
	size_t plen = strlen(prefix);
	struct dirent *e;
	int removed = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		long pid;

		if (strncmp(e->d_name, prefix, plen) != 0 || (pid = tmp_writer(e->d_name)) <= 0)
			continue;
		/* EPERM: it runs, as another user. */
		if (!(ours_too && pid == (long)getpid()) && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int
atomicfile_clean_stale(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8];
	const char *slash = strrchr(path, '/'), *base = slash != NULL ? slash + 1 : path;

	/* The folder: "." without a slash, "/" for a file right under it. */
	if (path_fmt(dir, sizeof(dir), "%.*s", slash == NULL || slash == path ? 1 : (int)(slash - path),
		     slash != NULL ? path : ".") == -1 ||
	    path_fmt(prefix, sizeof(prefix), ".%s.tmp.", base) == -1)
		return 0;
	return clean_stale(dir, prefix, false);
}

int
atomicfile_clean_stale_dir(const char *dir, bool ours_too)
{
	return clean_stale(dir, "", ours_too);
}
