/* fdclose.h - closing a descriptor on an error path without losing the error that got us there. */
#ifndef OSD_FDCLOSE_H
#define OSD_FDCLOSE_H

#include <errno.h>
#include <unistd.h>

/*
 * Close fd (when >= 0) keeping errno as it was: close(2) may set it, and
 * the caller reports the failure before.  Returns -1, so that "return
 * close_keep_errno(fd);" ends a failing open.
 */
static inline int
close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
	return -1;
}

#endif
