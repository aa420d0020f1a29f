/* userdb.c - virtual users: vpopmail's users_dir/DOMAIN/vpasswd, crypt(3) hashes, Maildir homes. */
#include "errfmt.h"
#include "userdb.h"

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
#include "log.h"
#include "path.h"
#include "xmalloc.h"

/* vpopmail's names in a domain folder: the lock is shared with its tools. */
#define VPASSWD_FILE "vpasswd"
#define VPASSWD_LOCK_FILE ".vpasswd.lock"

/* Fields of a vpasswd line; the 8th (cleartext) is optional. */
#define VPASSWD_FIELDS_MIN 7
#define VPASSWD_FIELDS_MAX 8

/* vpopmail's uid field for a new user: 1 = POP login (2 would be APOP). */
#define VPASSWD_NEW_UID "1"

/*
 * What a failed lookup is checked against, so it costs as much as a real
 * check: a yescrypt hash with the parameters crypt_gensalt_rn("$y$", 0)
 * chooses for new hashes.  The password behind it is irrelevant.
 */
static const char userdb_dummy_hash[] =
	"$y$j9T$V85BWewaADvr0lDwDPifw/$qNxkvhg.FdZfwEybeP8vGSsyKfqxcVlYnaMaA0oHTR/";

/* Names in a domain folder that are vpopmail's files, never a user's home. */
static const char *const userdb_reserved[] = {
	"vpasswd", "vpasswd.cdb", "vpasswd.bak", "cdb.tmp",
};

/* Copy [s, s+len) into a fixed field; -1 when it does not fit. */
static int
copy_field(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Does [s, s+len) hold a control character (NUL included)? */
static bool
has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (is_ctl((unsigned char)s[i]))
			return true;
	return false;
}

/* Can text be written as one vpasswd field (no ':', no control characters)? */
static bool
field_ok(const char *text, size_t max)
{
	size_t len = strlen(text);

	return len <= max && memchr(text, ':', len) == NULL && !has_ctl(text, len);
}

/*
 * RFC 5322 atext, without '/' (a path separator) and '%' (our other
 * user/domain separator), plus '.' between atoms.  ASCII only.
 */
static bool
user_char_ok(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$&'*+-=?^_`{|}~.", c) != NULL;
}

/* Describe a refused byte without echoing control characters. */
static void
bad_char_err(char *err, size_t errsize, const char *what, unsigned char c)
{
	if (c > 0x20 && c < 0x7f)
		errfmt(err, errsize, "'%c' is not allowed in a %s", c, what);
	else if (c == ' ')
		errfmt(err, errsize, "a space is not allowed in a %s", what);
	else
		errfmt(err, errsize, "a control character or non-ASCII byte is not allowed in a %s",
			what);
}

/* Is [user, user+len) a user name that is safe as a file name in the domain folder? */
static int
check_user(const char *user, size_t len, char *err, size_t errsize)
{
	size_t i;

	if (len == 0) {
		errfmt(err, errsize, "empty user name");
		return -1;
	}
	if (len > USERDB_USER_MAX) {
		errfmt(err, errsize, "user name too long (max %d bytes)", USERDB_USER_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!user_char_ok((unsigned char)user[i])) {
			bad_char_err(err, errsize, "user name", (unsigned char)user[i]);
			return -1;
		}
	}
	/* No ".", "..", hidden files (the lock is .vpasswd.lock), no "a..b". */
	if (user[0] == '.' || user[len - 1] == '.' || memmem(user, len, "..", 2) != NULL) {
		errfmt(err, errsize, "a user name may not start or end with '.' or hold '..'");
		return -1;
	}
	/* A vpasswd line that starts with '#' is a comment. */
	if (user[0] == '#') {
		errfmt(err, errsize, "a user name may not start with '#'");
		return -1;
	}
	for (i = 0; i < sizeof(userdb_reserved) / sizeof(userdb_reserved[0]); i++) {
		if (strlen(userdb_reserved[i]) == len &&
		    strncasecmp(user, userdb_reserved[i], len) == 0) {
			errfmt(err, errsize, "'%s' is a file of the domain folder, not a user name",
				userdb_reserved[i]);
			return -1;
		}
	}
	return 0;
}

/* Check [domain, domain+len) (letters, digits, '-', dot-separated labels) into out, lower-cased. */
static int
check_domain_len(const char *domain, size_t len, char *out, size_t size, char *err,
		 size_t errsize)
{
	size_t i, label = 0;

	if (len == 0) {
		errfmt(err, errsize, "empty domain name");
		return -1;
	}
	if (len > USERDB_DOMAIN_MAX) {
		errfmt(err, errsize, "domain name too long (max %d bytes)", USERDB_DOMAIN_MAX);
		return -1;
	}
	if (len >= size) {
		errfmt(err, errsize, "domain name too long");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c == '.') {
			/* An empty label also rules out ".", ".." and hidden names. */
			if (label == 0) {
				errfmt(err, errsize, "a domain name may not start with '.' or hold '..'");
				return -1;
			}
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63) {
				errfmt(err, errsize, "a domain name label is longer than 63 bytes");
				return -1;
			}
		} else {
			bad_char_err(err, errsize, "domain name", c);
			return -1;
		}
		out[i] = (char)c;
	}
	if (label == 0) {
		errfmt(err, errsize, "a domain name may not end with '.'");
		return -1;
	}
	out[len] = '\0';
	return 0;
}

int
userdb_check_domain(const char *domain, char *out, size_t size, char *err, size_t errsize)
{
	return check_domain_len(domain, strlen(domain), out, size, err, errsize);
}

int
userdb_split_login(const char *login, const char *default_domain, struct userdb_name *name_r,
		   char *err, size_t errsize)
{
	const char *sep, *domain;
	size_t len = strlen(login), ulen;

	memset(name_r, 0, sizeof(*name_r));
	if (len == 0) {
		errfmt(err, errsize, "empty login name");
		return -1;
	}
	if (len > USERDB_USER_MAX + 1 + USERDB_DOMAIN_MAX) {
		errfmt(err, errsize, "login name too long");
		return -1;
	}
	/* "user@domain"; "user%domain" for clients that cannot send '@'. */
	sep = strchr(login, '@');
	if (sep == NULL)
		sep = strchr(login, '%');
	if (sep != NULL) {
		ulen = (size_t)(sep - login);
		domain = sep + 1;
	} else {
		if (default_domain == NULL || default_domain[0] == '\0') {
			errfmt(err, errsize, "no domain in the login name and no default_domain");
			return -1;
		}
		ulen = len;
		domain = default_domain;
	}
	if (check_user(login, ulen, err, errsize) == -1)
		return -1;
	if (check_domain_len(domain, strlen(domain), name_r->domain, sizeof(name_r->domain), err,
			     errsize) == -1) {
		memset(name_r, 0, sizeof(*name_r));
		return -1;
	}
	memcpy(name_r->user, login, ulen);
	name_r->user[ulen] = '\0';
	return 0;
}

/* Parse a decimal number into *value_r; -1 when empty, not all digits, or too big. */
static int
parse_u64(const char *s, size_t len, uint64_t *value_r)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

/*
 * One quota item: "<n>S" bytes, "<n>C" messages, or "<n>" bytes; with
 * allow_units also "<n>K", "<n>M", "<n>G" (binary, as vpopmail reads them).
 */
static int
parse_quota_item(const char *s, size_t len, bool allow_units, struct userdb_quota *q)
{
	uint64_t v, mult = 1;
	bool count = false;
	char last;

	if (len == 0)
		return -1;
	last = s[len - 1];
	if (last < '0' || last > '9') {
		switch (last) {
		case 'S': case 's': break;
		case 'C': case 'c': count = true; break;
		case 'K': case 'k': mult = 1024; break;
		case 'M': case 'm': mult = 1024 * 1024; break;
		case 'G': case 'g': mult = 1024 * 1024 * 1024; break;
		default: return -1;
		}
		if (mult != 1 && !allow_units)
			return -1;
		len--;
	}
	if (parse_u64(s, len, &v) == -1 || v > UINT64_MAX / mult)
		return -1;
	if (count)
		q->count = v;
	else
		q->bytes = v * mult;
	return 0;
}

static int
parse_quota(const char *text, bool allow_units, struct userdb_quota *quota_r)
{
	struct userdb_quota q = { 0, 0 };
	const char *p = text;

	if (text[0] == '\0' || strcasecmp(text, "NOQUOTA") == 0) {
		*quota_r = q;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		if (parse_quota_item(p, len, allow_units, &q) == -1)
			return -1;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*quota_r = q;
	return 0;
}

int
userdb_parse_quota(const char *text, struct userdb_quota *quota_r)
{
	/* Tolerate "50M" here too: hand-edited files have it. */
	return parse_quota(text, true, quota_r);
}

int
userdb_format_quota(const char *text, char *out, size_t size)
{
	struct userdb_quota q;
	int n;

	if (parse_quota(text, true, &q) == -1)
		return -1;
	if (q.bytes == 0 && q.count == 0)
		n = snprintf(out, size, "NOQUOTA");
	else if (q.count == 0)
		n = snprintf(out, size, "%" PRIu64 "S", q.bytes);
	else if (q.bytes == 0)
		n = snprintf(out, size, "%" PRIu64 "C", q.count);
	else
		n = snprintf(out, size, "%" PRIu64 "S,%" PRIu64 "C", q.bytes, q.count);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

void
userdb_format_flags(unsigned long flags, char *out, size_t size)
{
	static const struct {
		unsigned long bit;
		const char *name;
	} names[] = {
		{ USERDB_NO_POP, "no-pop" },
		{ USERDB_NO_IMAP, "no-imap" },
		{ USERDB_NO_RELAY, "no-relay" },
		{ USERDB_NO_SMTP, "no-smtp" },
	};
	struct buf b;
	unsigned long known = 0;

	buf_init(&b, 256);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		known |= names[i].bit;
		if (flags & names[i].bit)
			(void)buf_printf(&b, "%s%s", b.len > 0 ? "," : "", names[i].name);
	}
	/* vpopmail has more flags; show those we do not name as a number. */
	if (flags & ~known)
		(void)buf_printf(&b, "%s0x%lx", b.len > 0 ? "," : "", flags & ~known);
	snprintf(out, size, "%s", b.len > 0 ? b.data : "-");
	buf_free(&b);
}

int
userdb_parse_line(const char *line, size_t len, struct userdb_user *user_r, char *err,
		  size_t errsize)
{
	struct {
		const char *p;
		size_t len;
	} f[VPASSWD_FIELDS_MAX];
	size_t nf = 0, i, start = 0;
	uint64_t gid;

	memset(user_r, 0, sizeof(*user_r));
	/* A file edited on Windows: CRLF. */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len) != NULL) {
		errfmt(err, errsize, "NUL byte in line");
		return -1;
	}
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len || line[i] == '#')
		return 0;

	/* Split at ':'; fields after the 8th are kept in the file but not read. */
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ':')
			continue;
		if (nf < VPASSWD_FIELDS_MAX) {
			f[nf].p = line + start;
			f[nf].len = i - start;
		}
		nf++;
		start = i + 1;
	}
	if (nf < VPASSWD_FIELDS_MIN) {
		errfmt(err, errsize, "%zu fields, expected user:hash:uid:gid:gecos:home:quota", nf);
		return -1;
	}
	if (f[0].len == 0 || has_ctl(f[0].p, f[0].len) ||
	    copy_field(user_r->user, sizeof(user_r->user), f[0].p, f[0].len) == -1) {
		errfmt(err, errsize, "bad user name field");
		return -1;
	}
	if (copy_field(user_r->hash, sizeof(user_r->hash), f[1].p, f[1].len) == -1) {
		errfmt(err, errsize, "password hash too long");
		return -1;
	}
	if (copy_field(user_r->uid, sizeof(user_r->uid), f[2].p, f[2].len) == -1) {
		errfmt(err, errsize, "uid field too long");
		return -1;
	}
	/* vpopmail writes the flags with %d; atoi reads an empty field as 0. */
	if (f[3].len == 0) {
		gid = 0;
	} else if (parse_u64(f[3].p, f[3].len, &gid) == -1 || gid > 0xffffffffu) {
		errfmt(err, errsize, "gid (flags) field is not a number");
		return -1;
	}
	user_r->flags = (unsigned long)gid;
	if (copy_field(user_r->gecos, sizeof(user_r->gecos), f[4].p, f[4].len) == -1) {
		errfmt(err, errsize, "gecos field too long");
		return -1;
	}
	if (f[5].len == 0 || f[5].p[0] != '/' || has_ctl(f[5].p, f[5].len) ||
	    copy_field(user_r->home, sizeof(user_r->home), f[5].p, f[5].len) == -1) {
		errfmt(err, errsize, "home field is not an absolute path");
		return -1;
	}
	if (copy_field(user_r->quota_text, sizeof(user_r->quota_text), f[6].p, f[6].len) == -1 ||
	    userdb_parse_quota(user_r->quota_text, &user_r->quota) == -1) {
		errfmt(err, errsize, "quota field is not NOQUOTA or <bytes>S[,<count>C]");
		return -1;
	}
	if (nf > 7 && copy_field(user_r->cleartext, sizeof(user_r->cleartext), f[7].p,
				 f[7].len) == -1) {
		errfmt(err, errsize, "cleartext field too long");
		return -1;
	}
	return 1;
}

int
userdb_vpasswd_path(const char *users_dir, const char *domain, char *out, size_t size)
{
	return path_fmt(out, size, "%s%s%s/" VPASSWD_FILE, users_dir,
			users_dir[0] != '\0' && users_dir[strlen(users_dir) - 1] != '/' ? "/" : "",
			domain);
}

bool
userdb_domain_exists(const char *users_dir, const char *domain)
{
	char lower[USERDB_DOMAIN_MAX + 1], path[PATH_MAX], why[128];
	struct stat st;

	if (userdb_check_domain(domain, lower, sizeof(lower), why, sizeof(why)) == -1 ||
	    userdb_vpasswd_path(users_dir, lower, path, sizeof(path)) == -1)
		return false;
	return stat(path, &st) == 0;
}

int
userdb_default_home(const char *users_dir, const struct userdb_name *name, char *out,
		    size_t size)
{
	char cwd[PATH_MAX];

	/* vpasswd holds absolute homes, whatever folder osd user runs in. */
	if (users_dir[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return -1;
		return path_fmt(out, size, "%s/%s/%s/%s", cwd, users_dir, name->domain, name->user);
	}
	return path_fmt(out, size, "%s%s%s/%s", users_dir,
			users_dir[strlen(users_dir) - 1] != '/' ? "/" : "", name->domain,
			name->user);
}

int
userdb_maildir(const struct userdb_user *user, char *out, size_t size)
{
	return path_join(out, size, user->home, "Maildir");
}

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
	lr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (lr->fd == -1) {
		int saved = errno;

		errfmt(err, errsize, "%s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	lr->start = lr->end = 0;
	lr->lineno = 0;
	lr->eof = lr->skipping = false;
	return 0;
}

int
userdb_foreach(const char *users_dir, const char *domain, userdb_user_fn *fn,
	       userdb_warn_fn *warn, void *ctx, char *err, size_t errsize)
{
	struct line_reader *lr = xmalloc(sizeof(*lr));
	struct userdb_user *u = xmalloc(sizeof(*u));
	char path[PATH_MAX], why[256];
	const char *line;
	size_t len;
	int r = 0, saved;

	if (open_vpasswd(users_dir, domain, path, sizeof(path), lr, err, errsize) == -1) {
		r = -1;
		goto out;
	}
	for (;;) {
		enum line_result lres = lr_next(lr, &line, &len);

		if (lres == LR_EOF)
			break;
		if (lres == LR_ERROR) {
			saved = errno;
			errfmt(err, errsize, "%s: %s", path, strerror(saved));
			errno = saved;
			r = -1;
			break;
		}
		if (lres == LR_TOO_LONG) {
			report(warn, ctx, "%s:%lu: line too long (max %d bytes)", path, lr->lineno,
			       USERDB_LINE_MAX);
			continue;
		}
		switch (userdb_parse_line(line, len, u, why, sizeof(why))) {
		case -1:
			report(warn, ctx, "%s:%lu: %s", path, lr->lineno, why);
			continue;
		case 0:
			continue;
		}
		snprintf(u->domain, sizeof(u->domain), "%s", domain);
		if (fn(u, ctx) != 0) {
			r = 1;
			break;
		}
	}
	saved = errno;
	close(lr->fd);
	errno = saved;
out:
	saved = errno;
	explicit_bzero(u, sizeof(*u));
	free(u);
	explicit_bzero(lr, sizeof(*lr));
	free(lr);
	errno = saved;
	return r;
}

/* Is the first ':'-field of [line, line+len) exactly user? */
static bool
first_field_is(const char *line, size_t len, const char *user)
{
	const char *colon = memchr(line, ':', len);
	size_t flen = colon != NULL ? (size_t)(colon - line) : len, ulen = strlen(user);

	return flen == ulen && memcmp(line, user, ulen) == 0;
}

int
userdb_lookup(const char *users_dir, const struct userdb_name *name, struct userdb_user *user_r,
	      char *err, size_t errsize)
{
	struct line_reader *lr;
	char path[PATH_MAX], why[256];
	const char *line;
	size_t len;
	int r = 0, saved;

	memset(user_r, 0, sizeof(*user_r));
	lr = xmalloc(sizeof(*lr));
	if (open_vpasswd(users_dir, name->domain, path, sizeof(path), lr, err, errsize) == -1) {
		/* No such domain (folder or vpasswd): no such user. */
		r = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
		free(lr);
		return r;
	}
	for (;;) {
		enum line_result lres = lr_next(lr, &line, &len);

		if (lres == LR_EOF)
			break;
		if (lres == LR_ERROR) {
			saved = errno;
			errfmt(err, errsize, "%s: %s", path, strerror(saved));
			r = -1;
			break;
		}
		if (lres == LR_TOO_LONG) {
			/* It might be this user's line: say why the login will fail. */
			log_warnx("%s:%lu: line too long (max %d bytes)", path, lr->lineno,
				  USERDB_LINE_MAX);
			continue;
		}
		if (!first_field_is(line, len, name->user))
			continue;
		switch (userdb_parse_line(line, len, user_r, why, sizeof(why))) {
		case -1:
			log_warnx("%s:%lu: %s", path, lr->lineno, why);
			continue;
		case 0:
			continue;
		}
		snprintf(user_r->domain, sizeof(user_r->domain), "%s", name->domain);
		r = 1;
		break;
	}
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
	bool ok = false;

	if (password == NULL)
		password = "";
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

/* Exclusive lock on dir/.vpasswd.lock; the descriptor, or -1 with err. */
static int
lock_domain(const char *dir, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	struct flock fl;
	char path[PATH_MAX];
	int fd, saved;

	if (path_join(path, sizeof(path), dir, VPASSWD_LOCK_FILE) == -1) {
		errfmt(err, errsize, "%s: path too long", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	saved = errno;
	errfmt(err, errsize, "%s: %s", path, strerror(saved));
	if (fd != -1)
		close(fd);
	errno = saved;
	return -1;
}

/* Read all of path into b; *exists_r false (and 0) when there is no such file. */
static int
read_whole(const char *path, struct buf *b, struct stat *st_r, bool *exists_r, char *err,
	   size_t errsize)
{
	char chunk[65536];
	ssize_t n;
	int fd, saved;

	*exists_r = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		goto fail;
	}
	if (fstat(fd, st_r) == -1)
		goto fail;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (n > 0 && buf_append(b, chunk, (size_t)n) == -1))
			goto fail;
		if (n == 0)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	*exists_r = true;
	return 0;

fail:
	saved = errno;
	errfmt(err, errsize, "%s: %s", path, strerror(saved));
	if (fd != -1)
		close(fd);
	errno = saved;
	return -1;
}

/* Can text go into the cleartext field? */
static bool
cleartext_ok(const char *text)
{
	return text != NULL && text[0] != '\0' && field_ok(text, USERDB_CLEARTEXT_MAX);
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
		if (!first_field_is(line, len, ch->user)) {
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

	if (!field_ok(u->hash, USERDB_HASH_MAX))
		bad = "password hash";
	else if (uid[strspn(uid, "0123456789")] != '\0')
		bad = "uid";
	else if (!field_ok(u->gecos, USERDB_GECOS_MAX))
		bad = "gecos (no ':' or control characters)";
	else if (u->home[0] != '/' || !field_ok(u->home, PATH_MAX - 1))
		bad = "home";
	else if (!field_ok(quota, USERDB_QUOTA_MAX) || userdb_parse_quota(quota, &q) == -1)
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
	if (write_all(af.fd, out.data != NULL ? out.data : "", out.len) == -1) {
		saved = errno;
		atomicfile_abort(&af);
		errfmt(err, errsize, "%s: %s", path, strerror(saved));
		errno = saved;
		goto out;
	}
	if (atomicfile_commit(&af, do_fsync) == -1) {
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

	if (check_user(user, strlen(user), err, errsize) == -1 ||
	    check_domain_len(domain, strlen(domain), lower, sizeof(lower), err, errsize) == -1) {
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
	memset(&ch, 0, sizeof(ch));
	ch.kind = EDIT_ADD;
	ch.user = user->user;
	ch.domain = domain;
	ch.uid = uid;
	ch.gid = gid;
	ch.add = user;
	return userdb_rewrite(users_dir, &ch, do_fsync, err, errsize);
}

int
userdb_passwd(const char *users_dir, const struct userdb_name *name, const char *hash,
	      const char *cleartext, bool do_fsync, char *err, size_t errsize)
{
	struct userdb_change ch;

	if (check_name(name->user, name->domain, err, errsize) == -1)
		return -1;
	if (hash[0] == '\0' || !field_ok(hash, USERDB_HASH_MAX)) {
		errfmt(err, errsize, "password hash cannot be written to vpasswd");
		errno = EINVAL;
		return -1;
	}
	memset(&ch, 0, sizeof(ch));
	ch.kind = EDIT_PASSWD;
	ch.user = name->user;
	ch.domain = name->domain;
	ch.uid = (uid_t)-1;
	ch.gid = (gid_t)-1;
	ch.hash = hash;
	ch.cleartext = cleartext;
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
	memset(&ch, 0, sizeof(ch));
	ch.kind = EDIT_DEL;
	ch.user = name->user;
	ch.domain = name->domain;
	ch.uid = (uid_t)-1;
	ch.gid = (gid_t)-1;
	ch.old_r = old_r;
	return userdb_rewrite(users_dir, &ch, do_fsync, err, errsize);
}
