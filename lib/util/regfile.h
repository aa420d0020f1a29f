/* regfile.h - opening a file that must be a regular one, without hanging on a FIFO put in its place. */
#ifndef OSD_REGFILE_H
#define OSD_REGFILE_H

#include <sys/stat.h>

/*
 * openat(dirfd, path, flags) for a file that must be a regular file (a
 * message, a vpasswd, an aliases file, a queue file).  The open itself
 * is non-blocking, so a FIFO swapped in under the name cannot hang the
 * caller in open(2) where no timeout reaches it; anything but a regular
 * file (FIFO, device, socket, folder) is then refused, and O_NONBLOCK is
 * cleared again unless flags asked for it.  O_NOCTTY and O_CLOEXEC are
 * always added; mode is for O_CREAT.  st_r (may be NULL) receives the
 * fstat of the file.  Returns the descriptor, or -1 with errno: EINVAL
 * for a file that is not a regular file (open(2) never gives EINVAL for
 * the flags osd uses), else open's or fstat's.
 */
int regfile_openat(int dirfd, const char *path, int flags, mode_t mode, struct stat *st_r);

/* regfile_openat(AT_FDCWD, ...): path absolute or from the working folder. */
int regfile_open(const char *path, int flags, mode_t mode, struct stat *st_r);

/* strerror(e), but "not a regular file" for the EINVAL of regfile_openat. */
const char *regfile_strerror(int e);

#endif
