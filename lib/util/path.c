/* path.c - building file paths that fail with ENAMETOOLONG instead of truncating. */
#include "path.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * "dir/name".  A trailing '/' on dir is not doubled ("/" + "x" is "/x"),
 * and an empty dir gives name itself.  On failure out is left empty so a
 * cut path can never be used by mistake.
 */
int
path_join(char *out, size_t size, const char *dir, const char *name)
{
	size_t dlen = strlen(dir), nlen = strlen(name), sep, total;

	sep = (dlen > 0 && dir[dlen - 1] != '/') ? 1 : 0;
	total = dlen + sep + nlen;
	if (size == 0 || total >= size) {
		if (size > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	/* memmove: callers may pass out == dir to append a component. */
	memmove(out, dir, dlen);
	if (sep)
		out[dlen] = '/';
	memmove(out + dlen + sep, name, nlen);
	out[total] = '\0';
	return 0;
}

int
path_fmt(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (size == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		errno = n < 0 ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* As dirname(3), without modifying path: "/a/b/" -> "/a", "a" -> ".", "/" -> "/". */
int
path_dirname(char *out, size_t size, const char *path)
{
	size_t len = strlen(path);
	const char *res = path;

	/* Drop trailing slashes, then the last component, then the slashes before it. */
	while (len > 1 && path[len - 1] == '/')
		len--;
	while (len > 0 && path[len - 1] != '/')
		len--;
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0) {
		res = path[0] == '/' ? "/" : ".";
		len = 1;
	}
	if (len >= size) {
		if (size > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(out, res, len);
	out[len] = '\0';
	return 0;
}

/*
 * mkdir one level.  Any failure is checked against what is there: an
 * existing folder is success (mkdir can say EACCES or EROFS before EEXIST),
 * an existing non-folder is ENOTDIR.
 */
static int
mkdir_one(const char *dir, unsigned mode)
{
	struct stat st;
	int saved;

	if (mkdir(dir, (mode_t)mode) == 0)
		return 0;
	saved = errno;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return -1;
	}
	errno = saved;
	return -1;
}

int
path_mkdirs(const char *dir, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(dir), i;

	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, dir, len + 1);
	/* Each '/' after a name ends a parent: create it, then go on. */
	for (i = 1; i < len; i++) {
		if (tmp[i] != '/' || tmp[i - 1] == '/')
			continue;
		tmp[i] = '\0';
		if (mkdir_one(tmp, mode) == -1)
			return -1;
		tmp[i] = '/';
	}
	return mkdir_one(tmp, mode);
}

int
path_self_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	char *slash;

	if (n < 0)
		return -1;
	if ((size_t)n >= size - 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) == NULL) {
		errno = ENOENT;
		return -1;
	}
	*slash = '\0';
	return 0;
}
