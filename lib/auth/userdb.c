/* userdb.c - virtual users: vpopmail's users_dir/DOMAIN/vpasswd, crypt(3) hashes, Maildir homes. */
#include "userdb.h"
#include "userdb_int.h"

#include "errfmt.h"

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

#include "ascii.h"
#include "atomicfile.h"
#include "buf.h"
#include "decimal.h"
#include "log.h"
#include "path.h"
#include "xmalloc.h"

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

/* Can text be written as one vpasswd field (no ':', no control characters)? */
bool
udb_field_ok(const char *text, size_t max)
{
	size_t len = strlen(text);

	return len <= max && memchr(text, ':', len) == NULL && !ascii_has_ctl(text, len);
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
int
udb_check_user(const char *user, size_t len, char *err, size_t errsize)
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
int
udb_check_domain_len(const char *domain, size_t len, char *out, size_t size, char *err,
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
		unsigned char c = (unsigned char)ascii_lower(domain[i]);

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
	return udb_check_domain_len(domain, strlen(domain), out, size, err, errsize);
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
	if (udb_check_user(login, ulen, err, errsize) == -1)
		return -1;
	if (udb_check_domain_len(domain, strlen(domain), name_r->domain, sizeof(name_r->domain), err,
			     errsize) == -1) {
		memset(name_r, 0, sizeof(*name_r));
		return -1;
	}
	memcpy(name_r->user, login, ulen);
	name_r->user[ulen] = '\0';
	return 0;
}

void
userdb_login_key(const char *login, const char *default_domain, char *out, size_t size)
{
	struct userdb_name name;
	char why[128];

	if (size == 0)
		return;
	out[0] = '\0';
	if (userdb_split_login(login, default_domain, &name, why, sizeof(why)) == -1)
		return;
	/* Both parts fit (USERDB_LOGIN_KEY_MAX); a short out gives "", never a cut name. */
	if (snprintf(out, size, "%s@%s", name.user, name.domain) >= (int)size)
		out[0] = '\0';
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
	if (decimal_parse(s, len, UINT64_MAX, &v) == -1 || v > UINT64_MAX / mult)
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
	if (f[0].len == 0 || ascii_has_ctl(f[0].p, f[0].len) ||
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
	} else if (decimal_parse(f[3].p, f[3].len, UINT64_MAX, &gid) == -1 || gid > 0xffffffffu) {
		errfmt(err, errsize, "gid (flags) field is not a number");
		return -1;
	}
	user_r->flags = (unsigned long)gid;
	if (copy_field(user_r->gecos, sizeof(user_r->gecos), f[4].p, f[4].len) == -1) {
		errfmt(err, errsize, "gecos field too long");
		return -1;
	}
	if (f[5].len == 0 || f[5].p[0] != '/' || ascii_has_ctl(f[5].p, f[5].len) ||
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

/* Is the first ':'-field of [line, line+len) exactly user? */
bool
udb_first_field_is(const char *line, size_t len, const char *user)
{
	const char *colon = memchr(line, ':', len);
	size_t flen = colon != NULL ? (size_t)(colon - line) : len, ulen = strlen(user);

	return flen == ulen && memcmp(line, user, ulen) == 0;
}
