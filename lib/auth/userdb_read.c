/* userdb_read.c - reading vpasswd: one user, every user, and checking passwords with crypt(3) (libxcrypt). */
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
#include "hashgate.h"
#include "log.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

/*
 * What a failed lookup is checked against, so it costs as much as a real
 * check: a yescrypt hash with the parameters crypt_gensalt_rn("$y$", 0)
 * chooses for new hashes.  The password behind it is irrelevant.
 */
static const char userdb_dummy_hash[] =
	"$y$j9T$V85BWewaADvr0lDwDPifw/$qNxkvhg.FdZfwEybeP8vGSsyKfqxcVlYnaMaA0oHTR/";

/* Reading vpasswd a bounded line at a time, without holding the whole file. */
struct line_reader {
	int fd;
	size_t start, end;
	unsigned long lineno;
	bool eof, skipping;
	char buf[2 * USERDB_LINE_MAX + 2];
};

enum line_result { LR_LINE, LR_TOO_LONG, LR_EOF, LR_ERROR };

static enum line_result
lr_next(struct line_reader *lr, const char **line_r, size_t *len_r)
{
	for (;;) {
		char *p = lr->buf + lr->start, *nl = memchr(p, '\n', lr->end - lr->start);
		size_t len;
		ssize_t n;

		if (nl != NULL || (lr->eof && (lr->end > lr->start || lr->skipping))) {
			/* A last line without its newline is still a line. */
			len = nl != NULL ? (size_t)(nl - p) : lr->end - lr->start;
			lr->start += len + (nl != NULL);
			lr->lineno++;
			if (lr->skipping || len > USERDB_LINE_MAX) {
				lr->skipping = false;
				return LR_TOO_LONG;
			}
			*line_r = p;
			*len_r = len;
			return LR_LINE;
		}
		if (lr->eof)
			return LR_EOF;
		if (lr->end - lr->start > USERDB_LINE_MAX) {
			/* Too long already: drop it and read on to its newline. */
			lr->skipping = true;
			lr->start = lr->end = 0;
		} else if (lr->start > 0) {
			memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
			lr->end -= lr->start;
			lr->start = 0;
		}
		n = read(lr->fd, lr->buf + lr->end, sizeof(lr->buf) - lr->end);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return LR_ERROR;
		}
		if (n == 0)
			lr->eof = true;
		lr->end += (size_t)n;
	}
}

/* Pass a "FILE:LINE: why" problem to warn, or to the log. */
static void __attribute__((format(printf, 3, 4)))
report(userdb_warn_fn *warn, void *ctx, const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (warn != NULL)
		warn(msg, ctx);
	else
		log_warnx("%s", msg);
}

/* Open users_dir/domain/vpasswd for reading into a fresh line reader. */
static int
open_vpasswd(const char *users_dir, const char *domain, char *path, size_t pathsize,
	     struct line_reader *lr, char *err, size_t errsize)
{
	if (userdb_vpasswd_path(users_dir, domain, path, pathsize) == -1) {
		errfmt(err, errsize, "%s/%s: path too long", users_dir, domain);
		return -1;
	}
	/* Not open(2): a FIFO swapped in for vpasswd would hang every login in it. */
	lr->fd = regfile_open(path, O_RDONLY, 0, NULL);
	if (lr->fd == -1) {
		int saved = errno;

		errfmt(err, errsize, "%s: %s", path, regfile_strerror(saved));
		errno = saved;
		return -1;
	}
	lr->start = lr->end = 0;
	lr->lineno = 0;
	lr->eof = lr->skipping = false;
	return 0;
}

/*
 * The next well-formed line of the open vpasswd (only those of user when
 * user is not NULL) parsed into *u: 1, 0 at the end, or -1 with err and
 * errno on a read error.  Overlong and malformed lines are reported
 * through warn (or the log) and skipped.
 */
static int
next_user(struct line_reader *lr, const char *path, const char *user, struct userdb_user *u,
	  userdb_warn_fn *warn, void *ctx, char *err, size_t errsize)
{
	char why[256];
	const char *line;
	size_t len;

	for (;;) {
		enum line_result lres = lr_next(lr, &line, &len);

		if (lres == LR_EOF)
			return 0;
		if (lres == LR_ERROR) {
			int saved = errno;

			errfmt(err, errsize, "%s: %s", path, strerror(saved));
			errno = saved;
			return -1;
		}
		if (lres == LR_TOO_LONG) {
			/* It might be the looked-up user's line: say why the login will fail. */
			report(warn, ctx, "%s:%lu: line too long (max %d bytes)", path, lr->lineno,
			       USERDB_LINE_MAX);
			continue;
		}
		if (user != NULL && !udb_first_field_is(line, len, user))
			continue;
		switch (userdb_parse_line(line, len, u, why, sizeof(why))) {
		case -1:
			report(warn, ctx, "%s:%lu: %s", path, lr->lineno, why);
			continue;
		case 0:
			continue;
		}
		return 1;
	}
}

int
userdb_foreach(const char *users_dir, const char *domain, userdb_user_fn *fn,
	       userdb_warn_fn *warn, void *ctx, char *err, size_t errsize)
{
	struct line_reader *lr = xmalloc(sizeof(*lr));
	struct userdb_user *u = xmalloc(sizeof(*u));
	char path[PATH_MAX];
	int r = 0, saved;

	if (open_vpasswd(users_dir, domain, path, sizeof(path), lr, err, errsize) == -1) {
		r = -1;
		goto out;
	}
	while ((r = next_user(lr, path, NULL, u, warn, ctx, err, errsize)) == 1) {
		snprintf(u->domain, sizeof(u->domain), "%s", domain);
		if (fn(u, ctx) != 0) {
			r = 1;
			break;
		}
	}
	(void)close_keep_errno(lr->fd);
out:
	saved = errno;
	explicit_bzero(u, sizeof(*u));
	free(u);
	explicit_bzero(lr, sizeof(*lr));
	free(lr);
	errno = saved;
	return r;
}

int
userdb_lookup(const char *users_dir, const struct userdb_name *name, struct userdb_user *user_r,
	      char *err, size_t errsize)
{
	struct line_reader *lr;
	char path[PATH_MAX];
	int r;

	memset(user_r, 0, sizeof(*user_r));
	lr = xmalloc(sizeof(*lr));
	if (open_vpasswd(users_dir, name->domain, path, sizeof(path), lr, err, errsize) == -1) {
		/* No such domain (folder or vpasswd): no such user. */
		r = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
		free(lr);
		return r;
	}
	r = next_user(lr, path, name->user, user_r, NULL, NULL, err, errsize);
	if (r == 1)
		snprintf(user_r->domain, sizeof(user_r->domain), "%s", name->domain);
	close(lr->fd);
	explicit_bzero(lr, sizeof(*lr));
	free(lr);
	if (r != 1)
		memset(user_r, 0, sizeof(*user_r));
	return r;
}

bool
const_time_equal(const void *a, const void *b, size_t len)
{
	/* volatile: the compiler may not turn this into an early-exit memcmp. */
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}

void
userdb_verify_dummy(const char *password)
{
	(void)userdb_verify_password(password, userdb_dummy_hash);
}

bool
userdb_verify_password(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out = NULL;
	size_t hlen = hash != NULL ? strlen(hash) : 0;
	bool ok = false, entered;

	if (password == NULL)
		password = "";
	/* One of a bounded number of hashes at once across the daemon's sessions (16 MB each). */
	entered = hashgate_enter();
	/* "*..." and "!..." are crypt's and shadow's markers for "no login". */
	if (password[0] != '\0' && hlen > 0 && hash[0] != '*' && hash[0] != '!')
		out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	if (out == NULL || out[0] == '*') {
		/* Take the time a real check takes, so this case does not show. */
		(void)crypt_rn(password[0] != '\0' ? password : "-", userdb_dummy_hash, cd,
			       (int)sizeof(*cd));
	} else {
		/* The hash lengths are public (the scheme fixes them); the bytes are not. */
		ok = strlen(out) == hlen && const_time_equal(out, hash, hlen);
	}
	if (entered)
		hashgate_leave();
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
userdb_authenticate(const char *users_dir, const char *default_domain, const char *login,
		    const char *password, struct userdb_user *user_r, char *err, size_t errsize)
{
	struct userdb_name name;
	char why[256];
	int r;

	memset(user_r, 0, sizeof(*user_r));
	if (userdb_split_login(login, default_domain, &name, why, sizeof(why)) == -1) {
		userdb_verify_dummy(password);
		errfmt(err, errsize, "bad login name: %s", why);
		return 0;
	}
	r = userdb_lookup(users_dir, &name, user_r, err, errsize);
	if (r != 1) {
		userdb_verify_dummy(password);
		if (r == 0)
			errfmt(err, errsize, "unknown user");
		return r;
	}
	if (!userdb_verify_password(password, user_r->hash)) {
		errfmt(err, errsize, "wrong password");
		memset(user_r, 0, sizeof(*user_r));
		return 0;
	}
	return 1;
}

int
userdb_hash_password(const char *password, char *out, size_t size, char *err, size_t errsize)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *res;
	size_t len;
	int r = -1;

	/* NULL random bytes: libxcrypt takes them from the system (getrandom). */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, (int)sizeof(setting)) == NULL) {
		errfmt(err, errsize, "cannot make a yescrypt salt: %s", strerror(errno));
		return -1;
	}
	cd = xcalloc(1, sizeof(*cd));
	res = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (res == NULL || res[0] == '*') {
		errfmt(err, errsize, "yescrypt failed: %s", strerror(errno));
	} else if ((len = strlen(res)) >= size || len > USERDB_HASH_MAX) {
		errfmt(err, errsize, "hash too long");
	} else {
		memcpy(out, res, len + 1);
		r = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}
