/* path.h - building file paths that fail loudly instead of truncating. */
#ifndef OSD_PATH_H
#define OSD_PATH_H

#include <stddef.h>

/*
 * Write "dir/name" into out (size bytes).  Returns 0, or -1 with
 * errno = ENAMETOOLONG when it does not fit.
 */
int path_join(char *out, size_t size, const char *dir, const char *name);

/* Formatted variant of path_join; same contract. */
int path_fmt(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The directory part of path ("." when there is none) into out. */
int path_dirname(char *out, size_t size, const char *path);

/* Create dir and its missing parents with mode; 0 or -1 with errno. */
int path_mkdirs(const char *dir, unsigned mode);

/*
 * The folder of the running executable (from /proc/self/exe): osd's
 * programs find each other there.  0, or -1 with errno.
 */
int path_self_dir(char *out, size_t size);

#endif
