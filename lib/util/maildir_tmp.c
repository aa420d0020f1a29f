/* maildir_tmp.c - removing what interrupted deliveries left in a Maildir's tmp/ (qmail's 36-hour rule). */
#include "maildir_tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "log.h"
#include "path.h"

/* Is t more than max_age seconds before now? */
static int
older(time_t t, time_t now, long max_age)
{
	return t < now && now - t > max_age;
}

int
maildir_tmp_clean(const char *maildir, long max_age, time_t now)
{
	char path[PATH_MAX];
	struct dirent *e;
	int removed = 0, fd;
	DIR *d;

	if (max_age <= 0 || path_join(path, sizeof(path), maildir, "tmp") == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char name[NAME_MAX + 1];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (!older(st.st_atime, now, max_age) || !older(st.st_mtime, now, max_age) ||
		    !older(st.st_ctime, now, max_age))
			continue;
		/* Whoever can write tmp/ chose the name: no control characters into the log. */
		(void)ascii_sanitize(name, sizeof(name), e->d_name, strlen(e->d_name),
				     ASCII_KEEP_PRINTABLE, '?');
		if (unlinkat(fd, e->d_name, 0) == 0) {
			removed++;
			log_info("maildir: removed %s/%s: left unfinished in tmp/, untouched for over "
				 "%ld s", path, name, max_age);
		} else if (errno != ENOENT) {
			log_warn("maildir: %s/%s", path, name);
		}
	}
	closedir(d);
	return removed;
}
