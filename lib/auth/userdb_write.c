/* userdb_write.c - changing vpasswd: add, passwd and del under vpopmail's lock, rewritten atomically; user homes. */
#include "userdb.h"
#include "userdb_int.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "errfmt.h"
#include "fdclose.h"
#include "log.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

/*
 * mkdir dir with mode; chown it when we made it and uid is set.  An
 * existing folder is fine (a home kept by "del --keep-mail" is reused).
 */
static int
make_dir(const char *dir, unsigned mode, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	struct stat st;
	int fd, saved;

	if (mkdir(dir, (mode_t)mode) == -1) {
		saved = errno;
		if (saved == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		if (saved == EEXIST)
			saved = ENOTDIR;
		errfmt(err, errsize, "%s: %s", dir, strerror(saved));
		errno = saved;
		return -1;
	}
	if (uid == (uid_t)-1)
		return 0;
	/* Through a descriptor: never chown what a symlink swapped in points to. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fchown(fd, uid, gid) == -1) {
		saved = errno;
		errfmt(err, errsize, "%s: chown: %s", dir, strerror(saved));
		if (fd != -1)
			close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int
userdb_make_home(const char *home, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	/* Maildir (Bernstein): tmp/ for delivery in progress, new/ and cur/. */
	static const char *const sub[] = { "", "Maildir", "Maildir/tmp", "Maildir/new",
					   "Maildir/cur" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((sub[i][0] == '\0' ? path_join(path, sizeof(path), "", home)
				       : path_join(path, sizeof(path), home, sub[i])) == -1) {
			errfmt(err, errsize, "%s: path too long", home);
			return -1;
		}
		if (make_dir(path, 0700, uid, gid, err, errsize) == -1)
			return -1;
	}
	return 0;
}

/* What a rewrite of vpasswd does to it. */
enum userdb_edit { EDIT_ADD, EDIT_PASSWD, EDIT_DEL };

struct userdb_change {
	enum userdb_edit kind;
	const char *user;                       /* the lines this is about */
	const char *domain;
	uid_t uid;                              /* owner of what add creates */
	gid_t gid;
	const struct userdb_user *add;          /* EDIT_ADD */
	const char *hash, *cleartext;           /* EDIT_PASSWD */
	struct userdb_user *old_r;              /* EDIT_DEL */
	unsigned long found;                    /* lines of user seen */
	unsigned long changed;                  /* lines of user rewritten */
};

/* A step on path failed: err says why, fd (when open) is closed, errno is kept.  -1. */
static int
fail_on(const char *path, int fd, char *err, size_t errsize)
{
	errfmt(err, errsize, "%s: %s", path, strerror(errno));
	return close_keep_errno(fd);
}

/* Exclusive lock on dir/.vpasswd.lock; the descriptor, or -1 with err. */
static int
lock_domain(const char *dir, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	struct flock fl;
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), dir, VPASSWD_LOCK_FILE) == -1) {
		errfmt(err, errsize, "%s: path too long", dir);
		return -1;
	}
	fd = regfile_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, NULL);
	if (fd == -1)
		goto fail;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) == -1)
		goto fail;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto fail;
	/* vpopmail's tools lock the same file with fcntl; flock does not see those. */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) == -1)
		if (errno != EINTR)
			goto fail;
	return fd;

fail:
	return fail_on(path, fd, err, errsize);
}

/* Read all of path into b; *exists_r false (and 0) when there is no such file. */
static int
read_whole(const char *path, struct buf *b, struct stat *st_r, bool *exists_r, char *err,
	   size_t errsize)
{
	int fd;

	*exists_r = false;
	fd = regfile_open(path, O_RDONLY, 0, st_r);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		goto fail;
	}
	if (buf_read_fd(b, fd) == -1)
		goto fail;
	close(fd);
	*exists_r = true;
	return 0;

fail:
	return fail_on(path, fd, err, errsize);
}

/* Can text go into the cleartext field? */
static bool
cleartext_ok(const char *text)
{
	return text != NULL && text[0] != '\0' && udb_field_ok(text, USERDB_CLEARTEXT_MAX);
}

/*
 * The line [line, line+len) (no '\n') with its hash replaced, and its
 * cleartext field when it has one; every other byte as it was.
 */
static int
passwd_line(struct buf *out, const char *line, size_t len, const struct userdb_change *ch)
{
	bool cr = len > 0 && line[len - 1] == '\r';
	size_t i, start = 0, field = 0;
	int r = 0;

	if (cr)
		len--;
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ':')
			continue;
		if (field > 0)
			r |= buf_append_char(out, ':');
		if (field == 1)
			r |= buf_append_str(out, ch->hash);
		else if (field == 7 && i > start)
			r |= buf_append_str(out, cleartext_ok(ch->cleartext) ? ch->cleartext : "");
		else
			r |= buf_append(out, line + start, i - start);
		field++;
		start = i + 1;
	}
	if (cr)
		r |= buf_append_char(out, '\r');
	return r == 0 ? 0 : -1;
}

/* Copy in to out, applying ch to the lines of ch->user. */
static int
edit_lines(const struct buf *in, struct buf *out, struct userdb_change *ch, const char *path,
	   char *err, size_t errsize)
{
	struct userdb_user *u = xmalloc(sizeof(*u));
	unsigned long lineno = 0;
	size_t pos = 0;
	char why[256];
	int r = -1;

	while (pos < in->len) {
		const char *line = in->data + pos;
		const char *nl = memchr(line, '\n', in->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : in->len - pos;
		size_t full = len + (nl != NULL);
		bool parsed;

		lineno++;
		pos += full;
		if (!udb_first_field_is(line, len, ch->user)) {
			if (buf_append(out, line, full) == -1)
				goto fail_errno;
			continue;
		}
		ch->found++;
		parsed = len <= USERDB_LINE_MAX &&
			 userdb_parse_line(line, len, u, why, sizeof(why)) == 1;
		switch (ch->kind) {
		case EDIT_ADD:
			errfmt(err, errsize, "%s:%lu: user %s exists", path, lineno, ch->user);
			errno = EEXIST;
			goto out;
		case EDIT_DEL:
			/* Every line of the user goes, well-formed or not. */
			if (ch->found == 1 && ch->old_r != NULL) {
				if (parsed) {
					*ch->old_r = *u;
					snprintf(ch->old_r->domain, sizeof(ch->old_r->domain), "%s",
						 ch->domain);
				} else {
					memset(ch->old_r, 0, sizeof(*ch->old_r));
				}
			}
			continue;
		case EDIT_PASSWD:
			/* Lookups skip malformed lines; so does this. */
			if (!parsed) {
				if (buf_append(out, line, full) == -1)
					goto fail_errno;
				continue;
			}
			if (passwd_line(out, line, len, ch) == -1 ||
			    (nl != NULL && buf_append_char(out, '\n') == -1))
				goto fail_errno;
			ch->changed++;
			continue;
		}
	}
	r = 0;
	goto out;

fail_errno:
	errfmt(err, errsize, "%s: %s", path, strerror(errno));
out:
	explicit_bzero(u, sizeof(*u));
	free(u);
	return r;
}

/* The new line for ch->add, checked field by field; -1 with EINVAL and err. */
static int
add_line(struct buf *out, const struct userdb_user *u, char *err, size_t errsize)
{
	const char *uid = u->uid[0] != '\0' ? u->uid : VPASSWD_NEW_UID;
	const char *quota = u->quota_text[0] != '\0' ? u->quota_text : "NOQUOTA";
	struct userdb_quota q;
	const char *bad = NULL;

	if (!udb_field_ok(u->hash, USERDB_HASH_MAX))
		bad = "password hash";
	else if (uid[strspn(uid, "0123456789")] != '\0')
		bad = "uid";
	else if (!udb_field_ok(u->gecos, USERDB_GECOS_MAX))
		bad = "gecos (no ':' or control characters)";
	else if (u->home[0] != '/' || !udb_field_ok(u->home, PATH_MAX - 1))
		bad = "home";
	else if (!udb_field_ok(quota, USERDB_QUOTA_MAX) || userdb_parse_quota(quota, &q) == -1)
		bad = "quota";
	else if (u->cleartext[0] != '\0' && !cleartext_ok(u->cleartext))
		bad = "cleartext password";
	if (bad != NULL) {
		errfmt(err, errsize, "%s cannot be written to vpasswd", bad);
		errno = EINVAL;
		return -1;
	}
	if (buf_printf(out, "%s:%s:%s:%lu:%s:%s:%s", u->user, u->hash, uid, u->flags, u->gecos,
		       u->home, quota) == -1 ||
	    (u->cleartext[0] != '\0' && buf_printf(out, ":%s", u->cleartext) == -1) ||
	    buf_append_char(out, '\n') == -1) {
		errfmt(err, errsize, "vpasswd too big");
		return -1;
	}
	return 0;
}

/* Lock the domain, apply ch to a fresh read of vpasswd, replace it atomically. */
static int
userdb_rewrite(const char *users_dir, struct userdb_change *ch, bool do_fsync, char *err,
	       size_t errsize)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct atomicfile af;
	struct buf in, out;
	struct stat st;
	bool exists;
	int lockfd, r = -1, saved;

	if (path_join(dir, sizeof(dir), users_dir, ch->domain) == -1 ||
	    path_join(path, sizeof(path), dir, VPASSWD_FILE) == -1) {
		errfmt(err, errsize, "%s: path too long", users_dir);
		return -1;
	}
	if ((lockfd = lock_domain(dir, ch->uid, ch->gid, err, errsize)) == -1) {
		if (errno == ENOENT && ch->kind != EDIT_ADD)
			errfmt(err, errsize, "no such user: %s@%s", ch->user, ch->domain);
		return -1;
	}
	buf_init(&in, 0);
	buf_init(&out, 0);
	memset(&st, 0, sizeof(st));
	if (read_whole(path, &in, &st, &exists, err, errsize) == -1 ||
	    edit_lines(&in, &out, ch, path, err, errsize) == -1)
		goto out;
	if (ch->kind != EDIT_ADD && ch->found == 0) {
		errfmt(err, errsize, "no such user: %s@%s", ch->user, ch->domain);
		errno = ENOENT;
		goto out;
	}
	if (ch->kind == EDIT_PASSWD && ch->changed == 0) {
		errfmt(err, errsize, "%s: the line of %s is malformed; fix it first", path,
			ch->user);
		errno = EINVAL;
		goto out;
	}
	if (ch->kind == EDIT_ADD) {
		/* Never join the new line to a last line that lacks its newline. */
		if (out.len > 0 && out.data[out.len - 1] != '\n' && buf_append_char(&out, '\n') == -1) {
			errfmt(err, errsize, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (add_line(&out, ch->add, err, errsize) == -1 ||
		    userdb_make_home(ch->add->home, ch->uid, ch->gid, err, errsize) == -1)
			goto out;
	}
	if (atomicfile_open(&af, path, exists ? (unsigned)(st.st_mode & 07777) : 0600) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* The new file keeps the old one's owner; a first one gets the mail user. */
	if (geteuid() == 0 && (exists || ch->uid != (uid_t)-1) &&
	    fchown(af.fd, exists ? st.st_uid : ch->uid, exists ? st.st_gid : ch->gid) == -1) {
		saved = errno;
		atomicfile_abort(&af);
		errfmt(err, errsize, "%s: chown: %s", path, strerror(saved));
		errno = saved;
		goto out;
	}
	if (atomicfile_write_commit(&af, out.data != NULL ? out.data : "", out.len, do_fsync) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	saved = errno;
	/* The file may hold cleartext passwords: leave no copies in freed memory. */
	if (in.data != NULL)
		explicit_bzero(in.data, in.cap);
	if (out.data != NULL)
		explicit_bzero(out.data, out.cap);
	buf_free(&in);
	buf_free(&out);
	close(lockfd);
	errno = saved;
	return r;
}

/* Recheck a name given to a writer: both parts become path names. */
static int
check_name(const char *user, const char *domain, char *err, size_t errsize)
{
	char lower[USERDB_DOMAIN_MAX + 1];

	if (udb_check_user(user, strlen(user), err, errsize) == -1 ||
	    udb_check_domain_len(domain, strlen(domain), lower, sizeof(lower), err, errsize) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (strcmp(lower, domain) != 0) {
		errfmt(err, errsize, "domain name not in lower case");
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
userdb_add(const char *users_dir, const char *domain, const struct userdb_user *user,
	   uid_t uid, gid_t gid, bool do_fsync, char *err, size_t errsize)
{
	struct userdb_change ch;
	char dir[PATH_MAX];

	if (check_name(user->user, domain, err, errsize) == -1)
		return -1;
	if (path_join(dir, sizeof(dir), users_dir, domain) == -1) {
		errfmt(err, errsize, "%s: path too long", users_dir);
		return -1;
	}
	/* The domain folder is made on first use; the lock file lives in it. */
	if (path_mkdirs(users_dir, 0755) == -1) {
		errfmt(err, errsize, "%s: %s", users_dir, strerror(errno));
		return -1;
	}
	if (make_dir(dir, 0700, uid, gid, err, errsize) == -1)
		return -1;
	ch = (struct userdb_change){ .kind = EDIT_ADD, .user = user->user, .domain = domain,
				     .uid = uid, .gid = gid, .add = user };
	return userdb_rewrite(users_dir, &ch, do_fsync, err, errsize);
}

int
userdb_passwd(const char *users_dir, const struct userdb_name *name, const char *hash,
	      const char *cleartext, bool do_fsync, char *err, size_t errsize)
{
	struct userdb_change ch;

	if (check_name(name->user, name->domain, err, errsize) == -1)
		return -1;
	if (hash[0] == '\0' || !udb_field_ok(hash, USERDB_HASH_MAX)) {
		errfmt(err, errsize, "password hash cannot be written to vpasswd");
		errno = EINVAL;
		return -1;
	}
	/* uid and gid -1: the domain folder exists already, nothing is made. */
	ch = (struct userdb_change){ .kind = EDIT_PASSWD, .user = name->user,
				     .domain = name->domain, .uid = (uid_t)-1, .gid = (gid_t)-1,
				     .hash = hash, .cleartext = cleartext };
	return userdb_rewrite(users_dir, &ch, do_fsync, err, errsize);
}

int
userdb_del(const char *users_dir, const struct userdb_name *name, struct userdb_user *old_r,
	   bool do_fsync, char *err, size_t errsize)
{
	struct userdb_change ch;

	if (old_r != NULL)
		memset(old_r, 0, sizeof(*old_r));
	if (check_name(name->user, name->domain, err, errsize) == -1)
		return -1;
	ch = (struct userdb_change){ .kind = EDIT_DEL, .user = name->user, .domain = name->domain,
				     .uid = (uid_t)-1, .gid = (gid_t)-1, .old_r = old_r };
	return userdb_rewrite(users_dir, &ch, do_fsync, err, errsize);
}
