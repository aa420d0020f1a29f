/* runas.c - the user a daemon runs as, and handing it the folders and files it writes before root is dropped. */
#include "runas.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "errfmt.h"
#include "log.h"
#include "path.h"
#include "privdrop.h"
#include "xmalloc.h"

const char *
runas_user(const struct osd_conf *conf)
{
	return conf->user[0] != '\0' ? conf->user : conf->mail_user;
}

int
runas_init(struct runas *ra, const struct osd_conf *conf, char *err, size_t errsize)
{
	memset(ra, 0, sizeof(*ra));
	snprintf(ra->user, sizeof(ra->user), "%s", runas_user(conf));
	snprintf(ra->group, sizeof(ra->group), "%s", conf->group);
	ra->uid = geteuid();
	ra->gid = getegid();
	/* Not root: privdrop changes nothing, so the files stay with whoever we are. */
	if (geteuid() != 0 || ra->user[0] == '\0')
		return 0;
	if (privdrop_ids(ra->user, ra->group, &ra->uid, &ra->gid, err, errsize) == -1)
		return -1;
	ra->handover = true;
	return 0;
}

/* Remember path for the check after the drop. */
static void
remember(struct runas *ra, const char *path, bool dir, enum runas_use use)
{
	if (ra->npaths == RUNAS_PATHS_MAX)
		fatalx("runas: more than %d paths to prepare", RUNAS_PATHS_MAX);
	ra->paths[ra->npaths].path = xstrdup(path);
	ra->paths[ra->npaths].dir = dir;
	ra->paths[ra->npaths].use = use;
	ra->npaths++;
}

/*
 * The owner and mode of the open file or folder fd: handed over when
 * started as root with a user; the bits of need added and those of forbid
 * removed when it is ours (or we are root).
 */
static int
settle(const struct runas *ra, int fd, const char *shown, unsigned need, unsigned forbid,
       char *err, size_t errsize)
{
	struct stat st;
	mode_t mode, want;

	if (fstat(fd, &st) == -1)
		return errfmt(err, errsize, "%s: %s", shown, strerror(errno));
	if (ra->handover && (st.st_uid != ra->uid || st.st_gid != ra->gid)) {
		if (fchown(fd, ra->uid, ra->gid) == -1)
			return errfmt(err, errsize, "%s: cannot hand it over to %s: %s", shown,
				      ra->user, strerror(errno));
		/* chown may have cleared set-id bits: take the mode afresh. */
		if (fstat(fd, &st) == -1)
			return errfmt(err, errsize, "%s: %s", shown, strerror(errno));
	}
	if (geteuid() != 0 && st.st_uid != geteuid())
		return 0;       /* not ours to change: the check after the drop says whether it will do */
	mode = st.st_mode & 07777;
	want = (mode | (mode_t)need) & ~(mode_t)forbid;
	if (want != mode && fchmod(fd, want) == -1)
		return errfmt(err, errsize, "%s: chmod %04o: %s", shown, (unsigned)want,
			      strerror(errno));
	return 0;
}

/* Open base, creating it and its missing parents (0755) first when needed. */
static int
open_base(const char *base, char *err, size_t errsize)
{
	int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 && errno == ENOENT && path_mkdirs(base, 0755) == 0)
		fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		errfmt(err, errsize, "%s: %s", base, strerror(errno));
	return fd;
}

/* Why openat(dirfd, name) of a prepared name failed (errno saved), in words. */
static int
open_failed(int dirfd, const char *name, const char *shown, int saved, char *err,
	    size_t errsize)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return errfmt(err, errsize, "%s: is a symbolic link; osd hands over only the real "
			      "folder or file (name that in the configuration)", shown);
	if (saved == ENOTDIR)
		return errfmt(err, errsize, "%s: not a folder", shown);
	return errfmt(err, errsize, "%s: %s", shown, strerror(saved));
}

static void whoami(const struct runas *ra, char *out, size_t size);

/*
 * The folder name in dirfd, created with mode when missing, opened
 * without following a link, handed over and settled.  Its descriptor, or
 * -1 with err.
 */
static int
prepare_dir_at(const struct runas *ra, int dirfd, const char *name, const char *shown,
	       unsigned mode, unsigned forbid, char *err, size_t errsize)
{
	struct stat st;
	char who[96];
	int fd, saved;

	/* mkdir may say EACCES or EROFS before EEXIST: what is there decides. */
	if (mkdirat(dirfd, name, (mode_t)mode) == -1 && (saved = errno) != EEXIST &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (saved != EACCES)
			return errfmt(err, errsize, "%s: cannot create it: %s", shown,
				      strerror(saved));
		whoami(ra, who, sizeof(who));
		return errfmt(err, errsize, "%s: %s cannot create it: %s; start osd as root to have "
			      "it made, or make it and chown it to %s", shown, who, strerror(saved),
			      who);
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return open_failed(dirfd, name, shown, errno, err, errsize);
	if (settle(ra, fd, shown, 0700, forbid, err, errsize) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Walk to the folder holding the last name of base/rel, preparing each
 * folder of rel on the way (mode, forbid).  Returns its descriptor and
 * leaves the last name in last (and the whole path in shown), or -1.
 */
static int
open_parent(const struct runas *ra, const char *base, const char *rel, unsigned mode,
	    unsigned forbid, char *last, size_t lastsize, char *shown, size_t shownsize,
	    char *err, size_t errsize)
{
	char copy[PATH_MAX], parent[PATH_MAX];
	char *name, *save = NULL, *next;
	size_t len;
	int fd, nfd;

	if (rel[0] == '\0') {
		/* base itself: its parent is the administrator's. */
		len = strlen(base);
		while (len > 1 && base[len - 1] == '/')
			len--;
		if (len >= sizeof(copy))
			return errfmt(err, errsize, "%s: path too long", base);
		memcpy(copy, base, len);
		copy[len] = '\0';
		name = strrchr(copy, '/');
		if (name == NULL || name[1] == '\0' || strcmp(name + 1, ".") == 0 ||
		    strcmp(name + 1, "..") == 0)
			return errfmt(err, errsize, "%s: not a folder osd can hand over", base);
		if (path_dirname(parent, sizeof(parent), copy) == -1 ||
		    snprintf(last, lastsize, "%s", name + 1) >= (int)lastsize ||
		    snprintf(shown, shownsize, "%s", copy) >= (int)shownsize)
			return errfmt(err, errsize, "%s: path too long", base);
		return open_base(parent, err, errsize);
	}
	if (snprintf(copy, sizeof(copy), "%s", rel) >= (int)sizeof(copy) ||
	    snprintf(shown, shownsize, "%s", base) >= (int)shownsize)
		return errfmt(err, errsize, "%s/%s: path too long", base, rel);
	if ((fd = open_base(base, err, errsize)) == -1)
		return -1;
	name = strtok_r(copy, "/", &save);
	while (name != NULL && (next = strtok_r(NULL, "/", &save)) != NULL) {
		if (path_join(shown, shownsize, shown, name) == -1) {
			close(fd);
			return errfmt(err, errsize, "%s/%s: path too long", base, rel);
		}
		nfd = prepare_dir_at(ra, fd, name, shown, mode, forbid, err, errsize);
		close(fd);
		if (nfd == -1)
			return -1;
		fd = nfd;
		name = next;
	}
	if (name == NULL || snprintf(last, lastsize, "%s", name) >= (int)lastsize ||
	    path_join(shown, shownsize, shown, name) == -1) {
		close(fd);
		return errfmt(err, errsize, "%s/%s: bad path", base, rel);
	}
	return fd;
}

int
runas_dir(struct runas *ra, const char *base, const char *rel, unsigned mode, unsigned forbid,
	  enum runas_use use, char *err, size_t errsize)
{
	char last[NAME_MAX + 1], shown[PATH_MAX];
	int pfd, fd;

	pfd = open_parent(ra, base, rel, mode, forbid, last, sizeof(last), shown, sizeof(shown),
			  err, errsize);
	if (pfd == -1)
		return -1;
	fd = prepare_dir_at(ra, pfd, last, shown, mode, forbid, err, errsize);
	close(pfd);
	if (fd == -1)
		return -1;
	close(fd);
	remember(ra, shown, true, use);
	return 0;
}

/*
 * Open the regular file name in dirfd for a change of hands: never through
 * a link, never a file with a second name somewhere else (a hard link the
 * user made to a file that is not ours to give).  O_NONBLOCK: a FIFO put
 * there does not hang us.  Its descriptor; -1 with errno ENOENT when there
 * is none; else -1 with err.
 */
static int
open_file_at(int dirfd, const char *name, const char *shown, char *err, size_t errsize)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return -1;
		open_failed(dirfd, name, shown, errno, err, errsize);
		errno = EPERM;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		errfmt(err, errsize, "%s: %s", shown, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		errfmt(err, errsize, "%s: not a regular file", shown);
	else if (st.st_nlink != 1)
		errfmt(err, errsize, "%s: has %lu names (hard links); refusing to hand it over",
		       shown, (unsigned long)st.st_nlink);
	else
		return fd;
	close(fd);
	errno = EPERM;
	return -1;
}

int
runas_file(struct runas *ra, const char *base, const char *rel, unsigned forbid,
	   enum runas_use use, char *err, size_t errsize)
{
	char last[NAME_MAX + 1], shown[PATH_MAX];
	int pfd, fd, r;

	/* Folders on the way are only walked: their caller prepared them. */
	pfd = open_parent(ra, base, rel, 0700, 0, last, sizeof(last), shown, sizeof(shown),
			  err, errsize);
	if (pfd == -1)
		return -1;
	fd = open_file_at(pfd, last, shown, err, errsize);
	close(pfd);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	r = settle(ra, fd, shown, use == RUNAS_WRITE ? 0600 : 0, forbid, err, errsize);
	close(fd);
	if (r == 0)
		remember(ra, shown, false, use);
	return r;
}

/* Hand over the entries of the open folder fd, down to depth levels of folders. */
static int
handover_tree(const struct runas *ra, int fd, const char *shown, int depth, unsigned forbid,
	      char *err, size_t errsize)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, cfd, r = 0;

	if ((dfd = dup(fd)) == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return errfmt(err, errsize, "%s: %s", shown, strerror(errno));
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;       /* gone meanwhile */
		if (path_join(path, sizeof(path), shown, de->d_name) == -1) {
			r = errfmt(err, errsize, "%s/%s: path too long", shown, de->d_name);
			break;
		}
		if (S_ISDIR(st.st_mode) && depth > 0) {
			cfd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd == -1)
				continue;
			r = settle(ra, cfd, path, 0700, forbid, err, errsize);
			if (r == 0)
				r = handover_tree(ra, cfd, path, depth - 1, forbid, err, errsize);
			close(cfd);
		} else if (S_ISREG(st.st_mode) && (st.st_uid != ra->uid || st.st_gid != ra->gid)) {
			cfd = open_file_at(fd, de->d_name, path, err, errsize);
			if (cfd == -1) {
				/* Left as it is: the program reports it if it ever needs it. */
				if (errno != ENOENT)
					log_warnx("%s", err);
				continue;
			}
			if (fchown(cfd, ra->uid, ra->gid) == -1)
				r = errfmt(err, errsize, "%s: cannot hand it over to %s: %s", path,
					   ra->user, strerror(errno));
			close(cfd);
		}
	}
	if (r == 0 && errno != 0)
		r = errfmt(err, errsize, "%s: %s", shown, strerror(errno));
	closedir(d);
	return r;
}

int
runas_contents(const struct runas *ra, const char *base, const char *rel, int depth,
	       char *err, size_t errsize)
{
	char last[NAME_MAX + 1], shown[PATH_MAX];
	int pfd, fd, r;

	if (!ra->handover)
		return 0;
	pfd = open_parent(ra, base, rel, 0700, 0, last, sizeof(last), shown, sizeof(shown),
			  err, errsize);
	if (pfd == -1)
		return -1;
	fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		open_failed(pfd, last, shown, errno, err, errsize);
	close(pfd);
	if (fd == -1)
		return -1;
	/* Below the folder, what is there is only given away, never opened up. */
	r = handover_tree(ra, fd, shown, depth, 0, err, errsize);
	close(fd);
	return r;
}

/*
 * The modes of the relay state.  open-smtp/ and state_dir are read by
 * every daemon and by osd check, so they stay searchable, but nobody else
 * may write them: a world-writable open-smtp/ would let any local user
 * open relaying, a writable relay.cdb or state_dir would let one rewrite
 * the table.
 */
#define STATE_DIR_MODE 0755
#define STATE_DIR_FORBID 0002
#define RELAY_CDB_FORBID 0022

int
runas_opensmtp(struct runas *ra, const struct osd_conf *conf, enum runas_use use, char *err,
	       size_t errsize)
{
	return runas_dir(ra, conf->state_dir, "open-smtp", STATE_DIR_MODE, STATE_DIR_FORBID, use,
			 err, errsize);
}

int
runas_relay_state(struct runas *ra, const struct osd_conf *conf, char *err, size_t errsize)
{
	if (runas_dir(ra, conf->state_dir, "", STATE_DIR_MODE, STATE_DIR_FORBID, RUNAS_WRITE, err,
		      errsize) == -1 ||
	    runas_opensmtp(ra, conf, RUNAS_WRITE, err, errsize) == -1 ||
	    runas_contents(ra, conf->state_dir, "open-smtp", 0, err, errsize) == -1)
		return -1;
	return runas_file(ra, conf->state_dir, "relay.cdb", RELAY_CDB_FORBID, RUNAS_REPLACE, err,
			  errsize);
}

/* Who we are now, for a message: the user's name, or the uid. */
static void
whoami(const struct runas *ra, char *out, size_t size)
{
	struct passwd *pw;

	if (ra->user[0] != '\0' && geteuid() == ra->uid)
		snprintf(out, size, "%s", ra->user);
	else if ((pw = getpwuid(geteuid())) != NULL)
		snprintf(out, size, "%s", pw->pw_name);
	else
		snprintf(out, size, "uid %lu", (unsigned long)geteuid());
}

/* Can we, as who we are now, use path as declared? 0, or -1 with err. */
static int
check_path(const struct runas *ra, const char *path, bool dir, enum runas_use use, char *err,
	   size_t errsize)
{
	char who[96], owner[96];
	struct passwd *pw;
	struct stat st;
	int amode;

	if (use == RUNAS_REPLACE)
		return 0;       /* what counts is its folder, checked on its own */
	amode = use == RUNAS_READ ? R_OK : W_OK;
	if (dir)
		amode |= X_OK;
	if (faccessat(AT_FDCWD, path, amode, AT_EACCESS) == 0)
		return 0;
	if (errno == ENOENT && !dir)
		return 0;       /* made anew by us, in a folder we can write */
	whoami(ra, who, sizeof(who));
	if (stat(path, &st) == -1)
		return errfmt(err, errsize, "%s: %s cannot reach it: %s (is every folder above it "
			      "searchable?)", path, who, strerror(errno));
	if ((pw = getpwuid(st.st_uid)) != NULL)
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	else
		snprintf(owner, sizeof(owner), "uid %lu", (unsigned long)st.st_uid);
	if (ra->handover)
		return errfmt(err, errsize, "%s: %s cannot %s it (owner %s, mode %04o)", path, who,
			      use == RUNAS_READ ? "read" : "write", owner,
			      (unsigned)(st.st_mode & 07777));
	return errfmt(err, errsize, "%s: %s cannot %s it (owner %s, mode %04o); start osd as root "
		      "to hand it over, or chown it to %s", path, who,
		      use == RUNAS_READ ? "read" : "write", owner, (unsigned)(st.st_mode & 07777),
		      who);
}

int
runas_drop(struct runas *ra, char *err, size_t errsize)
{
	int r = 0;

	if (ra->user[0] != '\0' && geteuid() == 0 &&
	    privdrop(ra->user, ra->group, err, errsize) == -1)
		r = -1;
	for (size_t i = 0; r == 0 && i < ra->npaths; i++)
		r = check_path(ra, ra->paths[i].path, ra->paths[i].dir, ra->paths[i].use, err,
			       errsize);
	runas_free(ra);
	return r;
}

void
runas_free(struct runas *ra)
{
	for (size_t i = 0; i < ra->npaths; i++)
		free(ra->paths[i].path);
	ra->npaths = 0;
}

noreturn void
runas_refuse(const char *what, const char *err)
{
	cli_error(what, "%s", err);
	exit(111);
}
