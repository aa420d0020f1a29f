/* regfile.c - opening a file that must be a regular one, without hanging on a FIFO put in its place. */
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fdclose.h"

int
regfile_openat(int dirfd, const char *path, int flags, mode_t mode, struct stat *st_r)
{
	struct stat st;
	int fd, fl;

	/*
	 * O_NONBLOCK: open(2) of a FIFO for reading waits for a writer, with
	 * no timeout and no signal of ours to break it.  Non-blocking, it
	 * returns at once and the fstat below refuses it.
	 */
	fd = openat(dirfd, path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (!(flags & O_NONBLOCK) &&
	    ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1))
		goto fail;
	if (st_r != NULL)
		*st_r = st;
	return fd;
fail:
	return close_keep_errno(fd);
}

int
regfile_open(const char *path, int flags, mode_t mode, struct stat *st_r)
{
	return regfile_openat(AT_FDCWD, path, flags, mode, st_r);
}

const char *
regfile_strerror(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}
