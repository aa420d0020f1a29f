/* userdb.h - virtual users: vpopmail's users_dir/DOMAIN/vpasswd, crypt(3) hashes, Maildir homes. */
#ifndef OSD_USERDB_H
#define OSD_USERDB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest user (local part) and domain we accept; both become path names. */
#define USERDB_USER_MAX 64
#define USERDB_DOMAIN_MAX 253
/* Longest vpasswd line we parse, without its newline; longer ones are malformed. */
#define USERDB_LINE_MAX 8192
/* Longest field values kept in struct userdb_user. */
#define USERDB_HASH_MAX 383             /* CRYPT_OUTPUT_SIZE - 1 */
#define USERDB_GECOS_MAX 255
#define USERDB_QUOTA_MAX 63
#define USERDB_CLEARTEXT_MAX 255
/* Longest password osd user accepts on a prompt or stdin. */
#define USERDB_PASSWORD_MAX 1024

/*
 * The vpasswd "gid" field is not a Unix group but vpopmail's per-user flag
 * mask (vpopmail.h); these are the flags osd honours.
 */
#define USERDB_NO_POP   0x02ul  /* POP3 login refused */
#define USERDB_NO_IMAP  0x08ul  /* IMAP login refused */
#define USERDB_NO_RELAY 0x20ul  /* logins authenticate but never open relay */
#define USERDB_NO_SMTP  0x800ul /* SMTP AUTH refused */

/* A login name taken apart: both parts checked to be safe as path names. */
struct userdb_name {
	char user[USERDB_USER_MAX + 1];
	char domain[USERDB_DOMAIN_MAX + 1];     /* lower case */
};

/* A vpopmail quota: 0 in a part means no limit on it. */
struct userdb_quota {
	uint64_t bytes;
	uint64_t count;
};

/* One vpasswd line: user:crypt-hash:uid:gid:gecos:home:quota[:cleartext]. */
struct userdb_user {
	char user[USERDB_USER_MAX + 1];
	char domain[USERDB_DOMAIN_MAX + 1];     /* filled by lookup and foreach */
	char hash[USERDB_HASH_MAX + 1];         /* empty: no password can match */
	char uid[24];                           /* vpopmail's POP/APOP mode; not a Unix uid */
	unsigned long flags;                    /* the gid field: USERDB_NO_* bits */
	char gecos[USERDB_GECOS_MAX + 1];
	char home[PATH_MAX];                    /* absolute; mail is in home/Maildir */
	char quota_text[USERDB_QUOTA_MAX + 1];  /* as written: "NOQUOTA", "52428800S" */
	struct userdb_quota quota;
	char cleartext[USERDB_CLEARTEXT_MAX + 1]; /* optional 8th field; "" when absent */
};

/*
 * Take a login name apart: "user@domain", "user%domain", or a bare "user"
 * in default_domain (NULL or "" for none).  The domain is lower-cased.
 * Refused (-1, reason in err): empty parts, names too long, '/', ':',
 * control characters, a leading or doubled '.', and anything else that is
 * not a plain mail name, since both parts become file names.
 */
int userdb_split_login(const char *login, const char *default_domain,
		       struct userdb_name *name_r, char *err, size_t errsize);

/*
 * The one spelling of a login name, for counting failed logins per
 * target: "user@domain" as userdb_split_login takes it apart (the domain
 * lower-cased, default_domain for a bare user, '%' as '@'), so that "bob",
 * "bob@EXAMPLE.org" and "bob%example.org" count as one login.  A name
 * userdb_split_login refuses, which can never log in, gives "".  out must
 * hold USERDB_LOGIN_KEY_MAX + 1 bytes.
 */
#define USERDB_LOGIN_KEY_MAX (USERDB_USER_MAX + 1 + USERDB_DOMAIN_MAX)
void userdb_login_key(const char *login, const char *default_domain, char *out, size_t size);

/* Check a domain name as userdb_split_login does and lower-case it into out. */
int userdb_check_domain(const char *domain, char *out, size_t size, char *err, size_t errsize);

/*
 * Parse one vpasswd line (len bytes, no '\n'; a trailing '\r' is ignored).
 * Returns 1 with *user_r filled (domain left empty), 0 for a blank or '#'
 * comment line, -1 for a malformed one with the reason in err.
 */
int userdb_parse_line(const char *line, size_t len, struct userdb_user *user_r,
		      char *err, size_t errsize);

/*
 * Parse a vpasswd quota field: "NOQUOTA" or "" (no limit), vpopmail's
 * "<bytes>S[,<count>C]", or a bare number of bytes.  0 or -1.
 */
int userdb_parse_quota(const char *text, struct userdb_quota *quota_r);

/*
 * Turn what an administrator types ("50M", "2G", "1048576", "NOQUOTA",
 * "50M,1000C") into the vpasswd form ("52428800S", "NOQUOTA",
 * "52428800S,1000C").  0, or -1 when text is not a quota or out is short.
 */
int userdb_format_quota(const char *text, char *out, size_t size);

/* Flags as words ("no-pop,no-relay"), or "-" for none, into out. */
void userdb_format_flags(unsigned long flags, char *out, size_t size);

/* users_dir/domain/vpasswd into out; 0 or -1 with errno = ENAMETOOLONG. */
int userdb_vpasswd_path(const char *users_dir, const char *domain, char *out, size_t size);

/*
 * Is domain (any case) a virtual domain here, i.e. has users_dir/DOMAIN/vpasswd?
 * A name userdb_check_domain refuses (a literal, "..", a slash) never is.
 */
bool userdb_domain_exists(const char *users_dir, const char *domain);

/* The home a new user gets: users_dir/domain/user, made absolute. */
int userdb_default_home(const char *users_dir, const struct userdb_name *name,
			char *out, size_t size);

/* home/Maildir into out; 0 or -1 with errno = ENAMETOOLONG. */
int userdb_maildir(const struct userdb_user *user, char *out, size_t size);

/* Called for each user of a vpasswd file; return non-zero to stop. */
typedef int userdb_user_fn(const struct userdb_user *user, void *ctx);
/* Called with "FILE:LINE: why" for each line that cannot be used. */
typedef void userdb_warn_fn(const char *msg, void *ctx);

/*
 * Call fn for every well-formed line of users_dir/domain/vpasswd, in file
 * order, and warn (log_warnx when NULL) for each malformed line, then go
 * on.  Returns 0 at the end, 1 when fn stopped early, -1 on a system error
 * (errno kept; ENOENT when the file does not exist) with err filled.
 */
int userdb_foreach(const char *users_dir, const char *domain, userdb_user_fn *fn,
		   userdb_warn_fn *warn, void *ctx, char *err, size_t errsize);

/*
 * Find name in its domain's vpasswd (the first line for the user wins;
 * malformed lines for it are logged and skipped).  Returns 1 found, 0 no
 * such user or domain, -1 on a system error with err filled.
 */
int userdb_lookup(const char *users_dir, const struct userdb_name *name,
		  struct userdb_user *user_r, char *err, size_t errsize);

/*
 * Does password match hash?  Any scheme libxcrypt knows ($y$, $2b$, $6$,
 * $5$, $1$, DES); the result is compared in constant time.  An empty
 * password or hash, or a hash crypt cannot use ("*", "!..."), never
 * matches, and costs as long as a real check.
 */
bool userdb_verify_password(const char *password, const char *hash);

/* Spend the time of one password check, for logins that fail before one. */
void userdb_verify_dummy(const char *password);

/*
 * The whole login check: split login, look it up, verify password.  A
 * bad name or an unknown user costs the same time as a wrong password, so
 * timing does not tell whether a user exists.  Returns 1 and *user_r on
 * success; 0 when refused (err says why, for the log: never the password);
 * -1 on a system error.  Flags (USERDB_NO_POP...) are the caller's to check.
 */
int userdb_authenticate(const char *users_dir, const char *default_domain,
			const char *login, const char *password,
			struct userdb_user *user_r, char *err, size_t errsize);

/*
 * A new yescrypt hash of password (fresh salt from the system) into out.
 * 0, or -1 with err filled.
 */
int userdb_hash_password(const char *password, char *out, size_t size, char *err, size_t errsize);

/* Compare len bytes in time that depends only on len.  True when equal. */
bool const_time_equal(const void *a, const void *b, size_t len);

/*
 * Create home, home/Maildir and Maildir/{tmp,new,cur} (mode 0700) where
 * missing; when uid is not (uid_t)-1, chown what was created to uid:gid.
 * 0, or -1 with errno and err filled.
 */
int userdb_make_home(const char *home, uid_t uid, gid_t gid, char *err, size_t errsize);

/*
 * The writers.  Each takes an exclusive lock on users_dir/DOMAIN/.vpasswd.lock
 * (flock, and a POSIX lock as vpopmail's own tools take), reads vpasswd
 * afresh under it and replaces it atomically (temp, fsync, rename, fsync
 * folder when do_fsync), so concurrent writers never lose each other's
 * changes.  Every other line is copied byte for byte.  On failure -1 with
 * errno and err: EEXIST (add: user exists), ENOENT (passwd/del: no such
 * user), EINVAL (a field that cannot be written), others are system errors.
 */

/*
 * Add user->user to domain with user's hash, flags, gecos, home and
 * quota_text ("" = NOQUOTA), and create its home and Maildir.  A new
 * vpasswd is mode 0600; files and folders created are chowned to uid:gid
 * unless uid is (uid_t)-1.
 */
int userdb_add(const char *users_dir, const char *domain, const struct userdb_user *user,
	       uid_t uid, gid_t gid, bool do_fsync, char *err, size_t errsize);

/*
 * Set name's hash.  A cleartext 8th field, when the line has a non-empty
 * one, becomes cleartext (or is emptied when cleartext is NULL or cannot
 * be stored in the line).  Every other field stays as it was.
 */
int userdb_passwd(const char *users_dir, const struct userdb_name *name, const char *hash,
		  const char *cleartext, bool do_fsync, char *err, size_t errsize);

/*
 * Remove name's line(s).  The first one, when well-formed, is returned in
 * *old_r (may be NULL) so the caller can remove the home; old_r->home is
 * "" when the line could not be parsed.
 */
int userdb_del(const char *users_dir, const struct userdb_name *name,
	       struct userdb_user *old_r, bool do_fsync, char *err, size_t errsize);

#endif
