/* test_userdb.c - unit tests for the vpasswd user database and crypt checks (lib/auth/userdb.c). */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "path.h"
#include "userdb.h"
#include "testutil.h"

/* A yescrypt hash to write into test lines (what it hashes does not matter here). */
#define SOME_HASH "$y$j9T$V85BWewaADvr0lDwDPifw/$qNxkvhg.FdZfwEybeP8vGSsyKfqxcVlYnaMaA0oHTR/"

static void
write_bytes(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
}

/* Read a whole (small) file; returns its length, contents NUL-terminated in out. */
static size_t
read_bytes(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;

	assert_true(fd >= 0);
	while ((n = read(fd, out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	assert_true(n == 0);
	out[len] = '\0';
	close(fd);
	return len;
}

/* users_dir/domain/vpasswd with the given contents; the domain folder is made. */
static void
write_vpasswd(const char *users_dir, const char *domain, const char *data, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];

	assert_int_equal(path_join(dir, sizeof(dir), users_dir, domain), 0);
	assert_int_equal(path_mkdirs(dir, 0700), 0);
	assert_int_equal(userdb_vpasswd_path(users_dir, domain, path, sizeof(path)), 0);
	write_bytes(path, data, len);
}

static void
test_userdb_split_login_accepts_at_percent_and_default_domain(void **state)
{
	struct userdb_name n;
	char err[256];

	(void)state;
	assert_int_equal(userdb_split_login("bob@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_string_equal(n.user, "bob");
	assert_string_equal(n.domain, "example.com");

	assert_int_equal(userdb_split_login("bob%example.com", NULL, &n, err, sizeof(err)), 0);
	assert_string_equal(n.user, "bob");
	assert_string_equal(n.domain, "example.com");

	assert_int_equal(userdb_split_login("bob", "Example.ORG", &n, err, sizeof(err)), 0);
	assert_string_equal(n.user, "bob");
	assert_string_equal(n.domain, "example.org");

	/* The domain is lower-cased, the user is kept as given. */
	assert_int_equal(userdb_split_login("Bob.Smith+tag@MAIL.Example.COM", NULL, &n, err,
					    sizeof(err)), 0);
	assert_string_equal(n.user, "Bob.Smith+tag");
	assert_string_equal(n.domain, "mail.example.com");

	/* An explicit domain wins over default_domain. */
	assert_int_equal(userdb_split_login("a@b.c", "other.org", &n, err, sizeof(err)), 0);
	assert_string_equal(n.domain, "b.c");
}

/* One spelling per login for the failed-login throttle; a name that can never log in gives "". */
static void
test_userdb_login_key_is_one_spelling_per_login(void **state)
{
	char key[USERDB_LOGIN_KEY_MAX + 1], small[8];

	(void)state;
	userdb_login_key("bob", "Example.ORG", key, sizeof(key));
	assert_string_equal(key, "bob@example.org");
	userdb_login_key("bob@EXAMPLE.org", NULL, key, sizeof(key));
	assert_string_equal(key, "bob@example.org");
	userdb_login_key("bob%example.org", "other.test", key, sizeof(key));
	assert_string_equal(key, "bob@example.org");
	/* The local part keeps its case, as the vpasswd lookup does. */
	userdb_login_key("Bob@example.org", NULL, key, sizeof(key));
	assert_string_equal(key, "Bob@example.org");
	userdb_login_key("../etc@example.org", NULL, key, sizeof(key));
	assert_string_equal(key, "");
	userdb_login_key("bob", NULL, key, sizeof(key));
	assert_string_equal(key, "");
	userdb_login_key("(invalid)x y", "example.org", key, sizeof(key));
	assert_string_equal(key, "");
	/* Too small for the name: "", never a cut name that could be another login's. */
	userdb_login_key("bob@example.org", NULL, small, sizeof(small));
	assert_string_equal(small, "");
}

static void
test_userdb_split_login_refuses_hostile_names(void **state)
{
	static const char *const bad[] = {
		"", "@d", "a@", "@", "../x@d", "a@../d", "a@d/e", "a/b@d", "a:b@d", "a@d:e",
		".@d", "..@d", ".a@d", "a.@d", "a..b@d", "a@.d", "a@d.", "a@d..e", "a@.",
		"a@..", "a b@d", "a\tb@d", "a\x01@d", "a@d\x7f", "a\n@d", "a@d\r", "a@b@d",
		"a@b%d", "a@d_e", "#a@d", "vpasswd@d", "VPASSWD.cdb@d", "a\xc3\xa9@d",
		"a@\xc3\xa9.com", "a\\b@d", "a\"b@d", "a,b@d", "a;b@d", "a<b@d",
	};
	struct userdb_name n;
	char err[256], longname[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (userdb_split_login(bad[i], "default.org", &n, err, sizeof(err)) != -1)
			fail_msg("accepted hostile name #%zu", i);
		assert_true(err[0] != '\0');
		/* The reason never echoes control characters. */
		for (const char *p = err; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
		assert_string_equal(n.user, "");
		assert_string_equal(n.domain, "");
	}

	/* 300 characters: too long as a user, as a domain, and as a whole. */
	memset(longname, 'a', 300);
	longname[300] = '\0';
	assert_int_equal(userdb_split_login(longname, "d.org", &n, err, sizeof(err)), -1);
	longname[5] = '@';
	assert_int_equal(userdb_split_login(longname, NULL, &n, err, sizeof(err)), -1);
	memset(longname, 'a', 64);
	longname[64] = '@';
	memcpy(longname + 65, "d.org", 6);
	assert_int_equal(userdb_split_login(longname, NULL, &n, err, sizeof(err)), 0);
	longname[64] = 'a';
	longname[65] = '@';
	memcpy(longname + 66, "d.org", 6);
	assert_int_equal(userdb_split_login(longname, NULL, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));

	/* A bare name without a default domain has nowhere to go. */
	assert_int_equal(userdb_split_login("bob", NULL, &n, err, sizeof(err)), -1);
	assert_int_equal(userdb_split_login("bob", "", &n, err, sizeof(err)), -1);
	/* ... nor with a hostile default domain. */
	assert_int_equal(userdb_split_login("bob", "../etc", &n, err, sizeof(err)), -1);
}

static void
test_userdb_check_domain_lowers_and_refuses(void **state)
{
	char out[USERDB_DOMAIN_MAX + 1], err[256], big[300];

	(void)state;
	assert_int_equal(userdb_check_domain("Ex-Ample.COM", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "ex-ample.com");
	assert_int_equal(userdb_check_domain("localhost", out, sizeof(out), err, sizeof(err)), 0);
	assert_int_equal(userdb_check_domain("", out, sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(userdb_check_domain(".", out, sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(userdb_check_domain("..", out, sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(userdb_check_domain("a/b", out, sizeof(out), err, sizeof(err)), -1);
	memset(big, 'a', 70);
	big[70] = '\0';
	assert_int_equal(userdb_check_domain(big, out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "63"));
	/* Short enough labels, too long a name. */
	for (int i = 0; i < 299; i++)
		big[i] = i % 10 == 9 ? '.' : 'a';
	big[299] = '\0';
	assert_int_equal(userdb_check_domain(big, out, sizeof(out), err, sizeof(err)), -1);
}

static void
test_userdb_parse_line_reads_good_lines(void **state)
{
	struct userdb_user u;
	char err[256];
	const char *line;

	(void)state;
	line = "bob:" SOME_HASH ":1:0:Bob Smith:/var/lib/osd/domains/example.com/bob:NOQUOTA";
	assert_int_equal(userdb_parse_line(line, strlen(line), &u, err, sizeof(err)), 1);
	assert_string_equal(u.user, "bob");
	assert_string_equal(u.hash, SOME_HASH);
	assert_string_equal(u.uid, "1");
	assert_int_equal(u.flags, 0);
	assert_string_equal(u.gecos, "Bob Smith");
	assert_string_equal(u.home, "/var/lib/osd/domains/example.com/bob");
	assert_string_equal(u.quota_text, "NOQUOTA");
	assert_int_equal(u.quota.bytes, 0);
	assert_int_equal(u.quota.count, 0);
	assert_string_equal(u.cleartext, "");
	assert_string_equal(u.domain, "");

	/* The cleartext 8th field, flags, a quota with a count; CRLF. */
	line = "amy:$1$abc$def:2:34:Amy:/h/amy:52428800S,1000C:sekrit\r";
	assert_int_equal(userdb_parse_line(line, strlen(line), &u, err, sizeof(err)), 1);
	assert_int_equal(u.flags, USERDB_NO_POP | USERDB_NO_RELAY);
	assert_int_equal(u.quota.bytes, 52428800);
	assert_int_equal(u.quota.count, 1000);
	assert_string_equal(u.cleartext, "sekrit");
	assert_string_equal(u.uid, "2");

	/* Fields past the 8th are tolerated (and kept by rewrites). */
	line = "cy:x:1:2048::/h/cy::clear:future:fields";
	assert_int_equal(userdb_parse_line(line, strlen(line), &u, err, sizeof(err)), 1);
	assert_int_equal(u.flags, USERDB_NO_SMTP);
	assert_string_equal(u.cleartext, "clear");
	assert_string_equal(u.quota_text, "");

	/* An empty flags field reads as 0, as vpopmail's atoi does. */
	line = "dd:x:1::g:/h/dd:NOQUOTA";
	assert_int_equal(userdb_parse_line(line, strlen(line), &u, err, sizeof(err)), 1);
	assert_int_equal(u.flags, 0);

	/* Blank and comment lines are no users and no errors. */
	assert_int_equal(userdb_parse_line("", 0, &u, err, sizeof(err)), 0);
	assert_int_equal(userdb_parse_line(" \t\r", 3, &u, err, sizeof(err)), 0);
	assert_int_equal(userdb_parse_line("# bob:x:1:0::/h:NOQUOTA", 23, &u, err, sizeof(err)), 0);
	assert_int_equal(userdb_parse_line("\r", 1, &u, err, sizeof(err)), 0);

	/* len is honoured: what follows is not part of the line. */
	line = "ee:x:1:0:g:/h/ee:NOQUOTA:garbage";
	assert_int_equal(userdb_parse_line(line, 24, &u, err, sizeof(err)), 1);
	assert_string_equal(u.cleartext, "");
}

static void
test_userdb_parse_line_reports_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"bob",                                  /* one field */
		"bob:x:1:0:g:/h/bob",                   /* six fields */
		":x:1:0:g:/h/bob:NOQUOTA",              /* no user */
		"bob:x:1:zero:g:/h/bob:NOQUOTA",        /* flags not a number */
		"bob:x:1:-2:g:/h/bob:NOQUOTA",
		"bob:x:1:99999999999:g:/h/bob:NOQUOTA", /* flags too big */
		"bob:x:1:0:g:relative/bob:NOQUOTA",     /* home not absolute */
		"bob:x:1:0:g::NOQUOTA",                 /* no home */
		"bob:x:1:0:g:/h/bob:lots",              /* quota */
		"bob:x:1:0:g:/h/bob:5X",
		"bob:x:1:0:g:/h/bob:5S,",
		"b\x01ob:x:1:0:g:/h/bob:NOQUOTA",       /* control character in the user */
		"bob:x:1:0:g:/h/b\x02ob:NOQUOTA",       /* ... in the home */
	};
	char line[USERDB_LINE_MAX], err[256];
	struct userdb_user u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (userdb_parse_line(bad[i], strlen(bad[i]), &u, err, sizeof(err)) != -1)
			fail_msg("accepted malformed line #%zu", i);
		assert_true(err[0] != '\0');
	}
	/* A NUL byte inside the line. */
	memcpy(line, "bob:x:1:0:g\0x:/h/bob:NOQUOTA", 28);
	assert_int_equal(userdb_parse_line(line, 28, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	/* A field too long for its place. */
	memset(line, 'g', sizeof(line));
	memcpy(line, "bob:x:1:0:", 10);
	memcpy(line + 10 + 400, ":/h/bob:NOQUOTA", 15);
	assert_int_equal(userdb_parse_line(line, 10 + 400 + 15, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gecos"));
}

static void
test_userdb_quota_parse_and_format(void **state)
{
	struct userdb_quota q;
	char out[64];

	(void)state;
	assert_int_equal(userdb_parse_quota("NOQUOTA", &q), 0);
	assert_true(q.bytes == 0 && q.count == 0);
	assert_int_equal(userdb_parse_quota("noquota", &q), 0);
	assert_int_equal(userdb_parse_quota("", &q), 0);
	assert_int_equal(userdb_parse_quota("1048576S", &q), 0);
	assert_true(q.bytes == 1048576 && q.count == 0);
	assert_int_equal(userdb_parse_quota("1000C,2048S", &q), 0);
	assert_true(q.bytes == 2048 && q.count == 1000);
	assert_int_equal(userdb_parse_quota("5000000", &q), 0);
	assert_true(q.bytes == 5000000);
	assert_int_equal(userdb_parse_quota("18446744073709551615S", &q), 0);
	assert_true(q.bytes == UINT64_MAX);
	assert_int_equal(userdb_parse_quota("18446744073709551616S", &q), -1);
	assert_int_equal(userdb_parse_quota("S", &q), -1);
	assert_int_equal(userdb_parse_quota("-5S", &q), -1);
	assert_int_equal(userdb_parse_quota("5 S", &q), -1);
	assert_int_equal(userdb_parse_quota(",", &q), -1);

	assert_int_equal(userdb_format_quota("50M", out, sizeof(out)), 0);
	assert_string_equal(out, "52428800S");
	assert_int_equal(userdb_format_quota("2g", out, sizeof(out)), 0);
	assert_string_equal(out, "2147483648S");
	assert_int_equal(userdb_format_quota("10K", out, sizeof(out)), 0);
	assert_string_equal(out, "10240S");
	assert_int_equal(userdb_format_quota("1048576", out, sizeof(out)), 0);
	assert_string_equal(out, "1048576S");
	assert_int_equal(userdb_format_quota("NOQUOTA", out, sizeof(out)), 0);
	assert_string_equal(out, "NOQUOTA");
	assert_int_equal(userdb_format_quota("0", out, sizeof(out)), 0);
	assert_string_equal(out, "NOQUOTA");
	assert_int_equal(userdb_format_quota("50M,1000C", out, sizeof(out)), 0);
	assert_string_equal(out, "52428800S,1000C");
	assert_int_equal(userdb_format_quota("100C", out, sizeof(out)), 0);
	assert_string_equal(out, "100C");
	assert_int_equal(userdb_format_quota("fifty", out, sizeof(out)), -1);
	assert_int_equal(userdb_format_quota("50T", out, sizeof(out)), -1);
	assert_int_equal(userdb_format_quota("99999999999999999999G", out, sizeof(out)), -1);
	assert_int_equal(userdb_format_quota("50M", out, 5), -1);
}

static void
test_userdb_format_flags_names_known_bits(void **state)
{
	char out[128];

	(void)state;
	userdb_format_flags(0, out, sizeof(out));
	assert_string_equal(out, "-");
	userdb_format_flags(USERDB_NO_POP | USERDB_NO_RELAY, out, sizeof(out));
	assert_string_equal(out, "no-pop,no-relay");
	userdb_format_flags(USERDB_NO_IMAP | USERDB_NO_SMTP | 0x1, out, sizeof(out));
	assert_string_equal(out, "no-imap,no-smtp,0x1");
	assert_int_equal(USERDB_NO_POP, 0x02);
	assert_int_equal(USERDB_NO_IMAP, 0x08);
	assert_int_equal(USERDB_NO_RELAY, 0x20);
	assert_int_equal(USERDB_NO_SMTP, 0x800);
}

/* Collects what foreach reports. */
struct seen {
	char users[16][USERDB_USER_MAX + USERDB_DOMAIN_MAX + 2];
	size_t nusers;
	char warnings[16][PATH_MAX + 512];
	size_t nwarnings;
	size_t stop_after;
};

static int
collect_user(const struct userdb_user *u, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->nusers < 16);
	snprintf(s->users[s->nusers++], sizeof(s->users[0]), "%s@%s", u->user, u->domain);
	return s->stop_after != 0 && s->nusers >= s->stop_after;
}

static void
collect_warning(const char *msg, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->nwarnings < 16);
	snprintf(s->warnings[s->nwarnings++], sizeof(s->warnings[0]), "%s", msg);
}

static void
test_userdb_foreach_reports_bad_lines_and_reads_on(void **state)
{
	const char *dir = *state;
	struct buf_like {
		char data[3 * USERDB_LINE_MAX];
		size_t len;
	} *f = calloc(1, sizeof(*f));
	struct seen *s = calloc(1, sizeof(*s));
	char err[PATH_MAX + 256], path[PATH_MAX], want[PATH_MAX + 64];

	assert_non_null(f);
	assert_non_null(s);
#define ADD(str) do { memcpy(f->data + f->len, str, sizeof(str) - 1); f->len += sizeof(str) - 1; } while (0)
	ADD("# vpasswd written by hand\n");                         /* 1 */
	ADD("ann:x:1:0:Ann:/h/ann:NOQUOTA\n");                       /* 2 */
	ADD("\n");                                                  /* 3 */
	ADD("broken line\n");                                       /* 4 */
	ADD("ben:x:1:0:Ben:/h/ben:NOQUOTA\r\n");                     /* 5: CRLF */
	memset(f->data + f->len, 'z', USERDB_LINE_MAX + 10);        /* 6: too long */
	f->len += USERDB_LINE_MAX + 10;
	ADD("\n");
	ADD("nul:x:1:0:N\0L:/h/nul:NOQUOTA\n");                     /* 7: NUL byte */
	ADD("cat:x:1:0:Cat:/h/cat:NOQUOTA");                        /* 8: no newline */
#undef ADD
	write_vpasswd(dir, "example.com", f->data, f->len);
	assert_int_equal(userdb_vpasswd_path(dir, "example.com", path, sizeof(path)), 0);

	assert_int_equal(userdb_foreach(dir, "example.com", collect_user, collect_warning, s, err,
					sizeof(err)), 0);
	assert_int_equal(s->nusers, 3);
	assert_string_equal(s->users[0], "ann@example.com");
	assert_string_equal(s->users[1], "ben@example.com");
	assert_string_equal(s->users[2], "cat@example.com");
	assert_int_equal(s->nwarnings, 3);
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_memory_equal(s->warnings[0], want, strlen(want));
	snprintf(want, sizeof(want), "%s:6: line too long", path);
	assert_memory_equal(s->warnings[1], want, strlen(want));
	snprintf(want, sizeof(want), "%s:7: NUL byte", path);
	assert_memory_equal(s->warnings[2], want, strlen(want));

	/* The callback can stop the walk. */
	memset(s, 0, sizeof(*s));
	s->stop_after = 1;
	assert_int_equal(userdb_foreach(dir, "example.com", collect_user, collect_warning, s, err,
					sizeof(err)), 1);
	assert_int_equal(s->nusers, 1);

	/* A domain without vpasswd is ENOENT. */
	errno = 0;
	assert_int_equal(userdb_foreach(dir, "nowhere.com", collect_user, collect_warning, s, err,
					sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	free(f);
	free(s);
}

static void
test_userdb_lookup_finds_first_good_line(void **state)
{
	const char *dir = *state;
	static const char data[] =
		"ann:x:1:0:first:/h/ann1:NOQUOTA\n"
		"bob:x:1:0:g:relative:NOQUOTA\n"          /* malformed: skipped */
		"bob:y:1:32:second:/h/bob:1000S\n"
		"ann:z:1:0:duplicate:/h/ann2:NOQUOTA\n"
		"bobby:q:1:0:g:/h/bobby:NOQUOTA\n";
	struct userdb_name n;
	struct userdb_user u;
	char err[PATH_MAX + 256];

	write_vpasswd(dir, "example.com", data, sizeof(data) - 1);
	assert_int_equal(userdb_split_login("ann@Example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), 1);
	assert_string_equal(u.gecos, "first");
	assert_string_equal(u.domain, "example.com");
	assert_int_equal(userdb_split_login("bob@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), 1);
	assert_string_equal(u.hash, "y");
	assert_int_equal(u.flags, USERDB_NO_RELAY);
	assert_int_equal(u.quota.bytes, 1000);
	/* A prefix of a user is not that user. */
	assert_int_equal(userdb_split_login("bo@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), 0);
	assert_string_equal(u.user, "");
	/* An unknown domain is an unknown user, not an error. */
	assert_int_equal(userdb_split_login("ann@other.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), 0);
	/* Users are case-sensitive, as vpasswd stores them. */
	assert_int_equal(userdb_split_login("ANN@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), 0);
}

/*
 * A FIFO in place of vpasswd (local delivery and every login read it): an
 * error at once, not a process waiting in open(2) for a writer.  alarm()
 * makes a regression fail instead of hang.
 */
static void
test_userdb_lookup_vpasswd_fifo_is_an_error_at_once(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], domdir[PATH_MAX], err[PATH_MAX + 256];
	struct userdb_name n;
	struct userdb_user u;

	alarm(20);
	assert_int_equal(path_join(domdir, sizeof(domdir), dir, "example.com"), 0);
	assert_int_equal(path_mkdirs(domdir, 0700), 0);
	assert_int_equal(userdb_vpasswd_path(dir, "example.com", path, sizeof(path)), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(userdb_split_login("ann@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(dir, &n, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	alarm(0);
}

/* Hash password with a fresh salt of the given scheme, as the test's reference. */
static void
make_hash(const char *prefix, const char *password, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *res;

	assert_non_null(cd);
	if (strcmp(prefix, "DES") == 0)
		snprintf(setting, sizeof(setting), "ab");
	else
		assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	res = crypt_rn(password, setting, cd, sizeof(*cd));
	assert_non_null(res);
	assert_true(res[0] != '*');
	snprintf(out, size, "%s", res);
	free(cd);
}

static void
test_userdb_verify_password_each_hash_kind(void **state)
{
	static const char *const kinds[] = { "$y$", "$2b$", "$6$", "$5$", "$1$", "DES" };
	char hash[CRYPT_OUTPUT_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		make_hash(kinds[i], "Tr0ub4dor&3", hash, sizeof(hash));
		if (strcmp(kinds[i], "DES") == 0)
			assert_memory_equal(hash, "ab", 2);
		else
			assert_memory_equal(hash, kinds[i], strlen(kinds[i]));
		if (!userdb_verify_password("Tr0ub4dor&3", hash))
			fail_msg("%s hash does not verify", kinds[i]);
		/* Differs early: DES reads only the first 8 bytes of a password. */
		if (userdb_verify_password("tr0ub4dor&3", hash))
			fail_msg("%s hash verifies a wrong password", kinds[i]);
		if (userdb_verify_password("", hash))
			fail_msg("%s hash verifies an empty password", kinds[i]);
	}
}

static void
test_userdb_verify_password_refuses_unusable_hashes(void **state)
{
	char hash[CRYPT_OUTPUT_SIZE], longer[CRYPT_OUTPUT_SIZE + 2];

	(void)state;
	assert_false(userdb_verify_password("x", ""));
	assert_false(userdb_verify_password("x", "*"));
	assert_false(userdb_verify_password("x", "*LK*"));
	assert_false(userdb_verify_password("x", "x"));
	assert_false(userdb_verify_password("x", "$9$nonsense"));
	make_hash("$6$", "pw", hash, sizeof(hash));
	/* A locked ("!") copy of a good hash never matches. */
	snprintf(longer, sizeof(longer), "!%s", hash);
	assert_false(userdb_verify_password("pw", longer));
	/* Trailing bytes after a good hash: not the same hash. */
	snprintf(longer, sizeof(longer), "%sx", hash);
	assert_false(userdb_verify_password("pw", longer));
	/* DES looks at two salt characters; a 13-byte result is not "abc". */
	assert_false(userdb_verify_password("pw", "abc"));
	assert_false(userdb_verify_password(NULL, hash));
}

static void
test_userdb_hash_password_makes_yescrypt(void **state)
{
	char hash[USERDB_HASH_MAX + 1], hash2[USERDB_HASH_MAX + 1], err[256], tiny[8];

	(void)state;
	assert_int_equal(userdb_hash_password("correct horse", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_null(strchr(hash, ':'));
	assert_true(userdb_verify_password("correct horse", hash));
	assert_false(userdb_verify_password("correct horsE", hash));
	/* Fresh salt each time. */
	assert_int_equal(userdb_hash_password("correct horse", hash2, sizeof(hash2), err, sizeof(err)), 0);
	assert_string_not_equal(hash, hash2);
	assert_int_equal(userdb_hash_password("x", tiny, sizeof(tiny), err, sizeof(err)), -1);
}

static void
test_userdb_const_time_equal(void **state)
{
	(void)state;
	assert_true(const_time_equal("abcdef", "abcdef", 6));
	assert_false(const_time_equal("abcdef", "abcdeg", 6));
	assert_false(const_time_equal("xbcdef", "abcdef", 6));
	assert_true(const_time_equal("a", "b", 0));
}

/*
 * CPU time of this thread, not wall time: what is compared below is the
 * work a check does (a yescrypt run or not), which other load on a shared
 * machine does not change, as it changes elapsed time.
 */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The smallest of a few runs. */
static double
time_auth(const char *users_dir, const char *login, const char *password, int want)
{
	struct userdb_user u;
	char err[PATH_MAX + 256];
	double best = 1e9;

	for (int i = 0; i < 5; i++) {
		double t0 = now_seconds(), t;

		assert_int_equal(userdb_authenticate(users_dir, NULL, login, password, &u, err,
						     sizeof(err)), want);
		t = now_seconds() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static void
test_userdb_authenticate_results_and_timing(void **state)
{
	const char *dir = *state;
	char hash[USERDB_HASH_MAX + 1], line[1024], err[PATH_MAX + 256];
	struct userdb_user u;
	double wrong, unknown, badname, nodomain;

	assert_int_equal(userdb_hash_password("s3cret", hash, sizeof(hash), err, sizeof(err)), 0);
	snprintf(line, sizeof(line), "amy:%s:1:2:Amy:/h/amy:NOQUOTA\nlocked:!%s:1:0::/h/l:NOQUOTA\n",
		 hash, hash);
	write_vpasswd(dir, "example.com", line, strlen(line));

	assert_int_equal(userdb_authenticate(dir, NULL, "amy@EXAMPLE.com", "s3cret", &u, err,
					     sizeof(err)), 1);
	assert_string_equal(u.user, "amy");
	assert_string_equal(u.domain, "example.com");
	assert_true(u.flags & USERDB_NO_POP);
	assert_int_equal(userdb_authenticate(dir, "example.com", "amy", "s3cret", &u, err,
					     sizeof(err)), 1);
	assert_int_equal(userdb_authenticate(dir, NULL, "amy@example.com", "s3creT", &u, err,
					     sizeof(err)), 0);
	assert_string_equal(err, "wrong password");
	assert_string_equal(u.hash, "");
	assert_int_equal(userdb_authenticate(dir, NULL, "zed@example.com", "s3cret", &u, err,
					     sizeof(err)), 0);
	assert_string_equal(err, "unknown user");
	assert_int_equal(userdb_authenticate(dir, NULL, "../amy@example.com", "s3cret", &u, err,
					     sizeof(err)), 0);
	assert_non_null(strstr(err, "bad login name"));
	assert_int_equal(userdb_authenticate(dir, NULL, "locked@example.com", "s3cret", &u, err,
					     sizeof(err)), 0);
	assert_int_equal(userdb_authenticate(dir, NULL, "amy@example.com", "", &u, err,
					     sizeof(err)), 0);

	/*
	 * A failed lookup costs a yescrypt check like a wrong password does:
	 * without the dummy check it would be a hundred times faster.
	 */
	wrong = time_auth(dir, "amy@example.com", "wrong", 0);
	unknown = time_auth(dir, "nobody@example.com", "wrong", 0);
	badname = time_auth(dir, "a/b@example.com", "wrong", 0);
	nodomain = time_auth(dir, "amy@nowhere.com", "wrong", 0);
	print_message("wrong password %.4fs, unknown user %.4fs, bad name %.4fs, no domain %.4fs\n",
		      wrong, unknown, badname, nodomain);
	assert_true(unknown > wrong * 0.5);
	assert_true(badname > wrong * 0.5);
	assert_true(nodomain > wrong * 0.5);
}

static void
new_user(struct userdb_user *u, const char *users_dir, const char *login)
{
	struct userdb_name n;
	char err[256];

	memset(u, 0, sizeof(*u));
	assert_int_equal(userdb_split_login(login, NULL, &n, err, sizeof(err)), 0);
	snprintf(u->user, sizeof(u->user), "%s", n.user);
	snprintf(u->hash, sizeof(u->hash), "%s", SOME_HASH);
	snprintf(u->gecos, sizeof(u->gecos), "%s", n.user);
	snprintf(u->quota_text, sizeof(u->quota_text), "NOQUOTA");
	assert_int_equal(userdb_default_home(users_dir, &n, u->home, sizeof(u->home)), 0);
}

static void
test_userdb_add_creates_domain_home_and_maildir(void **state)
{
	const char *dir = *state;
	char users[PATH_MAX], path[PATH_MAX], err[PATH_MAX + 256], data[4096], want[4096];
	struct userdb_user u, got;
	struct userdb_name n;
	struct stat st;

	/* users_dir itself is made when missing. */
	assert_int_equal(path_join(users, sizeof(users), dir, "domains"), 0);
	new_user(&u, users, "bob@example.com");
	u.flags = USERDB_NO_RELAY;
	snprintf(u.quota_text, sizeof(u.quota_text), "52428800S");
	assert_int_equal(userdb_add(users, "example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), 0);
	assert_int_equal(path_fmt(path, sizeof(path), "%s/example.com/bob", users), 0);
	assert_string_equal(u.home, path);
	for (const char *sub = "\0Maildir\0Maildir/tmp\0Maildir/new\0Maildir/cur\0"; ;
	     sub += strlen(sub) + 1) {
		assert_int_equal(path_fmt(path, sizeof(path), "%s/example.com/bob%s%s", users,
					  *sub ? "/" : "", sub), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
		if (strcmp(sub, "Maildir/cur") == 0)
			break;
	}
	assert_int_equal(path_fmt(path, sizeof(path), "%s/example.com/.vpasswd.lock", users), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(userdb_vpasswd_path(users, "example.com", path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	read_bytes(path, data, sizeof(data));
	assert_int_equal(path_fmt(want, sizeof(want), "bob:%s:1:32:bob:%s/example.com/bob:52428800S\n",
				  SOME_HASH, users), 0);
	assert_string_equal(data, want);

	assert_int_equal(userdb_split_login("bob@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_lookup(users, &n, &got, err, sizeof(err)), 1);
	assert_int_equal(got.flags, USERDB_NO_RELAY);

	/* Twice: EEXIST, and the file is unchanged. */
	errno = 0;
	assert_int_equal(userdb_add(users, "example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	read_bytes(path, data, sizeof(data));
	assert_string_equal(data, want);

	/* Fields that would break the line are refused. */
	new_user(&u, users, "eve@example.com");
	snprintf(u.gecos, sizeof(u.gecos), "a:b");
	errno = 0;
	assert_int_equal(userdb_add(users, "example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	new_user(&u, users, "eve@example.com");
	snprintf(u.quota_text, sizeof(u.quota_text), "lots");
	assert_int_equal(userdb_add(users, "example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	new_user(&u, users, "eve@example.com");
	snprintf(u.user, sizeof(u.user), "../eve");
	assert_int_equal(userdb_add(users, "example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	new_user(&u, users, "eve@example.com");
	assert_int_equal(userdb_add(users, "../example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	assert_int_equal(userdb_add(users, "Example.com", &u, (uid_t)-1, (gid_t)-1, true, err,
				    sizeof(err)), -1);
	read_bytes(path, data, sizeof(data));
	assert_string_equal(data, want);
}

/* A vpasswd with everything a rewrite must leave alone. */
static const char messy[] =
	"# hand-written header\n"
	"ann:$1$aa$bb:1:0:Ann:/h/ann:NOQUOTA:annclear:extra:fields\n"
	"\n"
	"this line is broken\n"
	"ben:$6$cc$dd:1:0:Ben:/h/ben:NOQUOTA\r\n"
	"  # indented comment\n"
	"cy:$5$ee$ff:2:8:Cy Z:/h/cy:100S,10C::future\n"
	"dee:x:1:0:Dee:/h/dee:NOQUOTA";           /* no trailing newline */

static void
test_userdb_rewrites_keep_other_lines_byte_identical(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], err[PATH_MAX + 256], data[8192], want[8192];
	struct userdb_user u, old;
	struct userdb_name n;
	size_t len;

	write_vpasswd(dir, "example.com", messy, sizeof(messy) - 1);
	assert_int_equal(userdb_vpasswd_path(dir, "example.com", path, sizeof(path)), 0);
	assert_int_equal(chmod(path, 0640), 0);

	/* add: the old bytes, a newline for the unterminated last line, the new line. */
	new_user(&u, dir, "eve@example.com");
	assert_int_equal(userdb_add(dir, "example.com", &u, (uid_t)-1, (gid_t)-1, false, err,
				    sizeof(err)), 0);
	len = read_bytes(path, data, sizeof(data));
	snprintf(want, sizeof(want), "%s\neve:%s:1:0:eve:%s:NOQUOTA\n", messy, SOME_HASH, u.home);
	assert_int_equal(len, strlen(want));
	assert_string_equal(data, want);

	/* The file's mode is kept. */
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0640);
	}

	/* passwd: only the hash changes, and a cleartext field that was there. */
	assert_int_equal(userdb_split_login("ann@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_passwd(dir, &n, "$y$NEW", "newclear", false, err, sizeof(err)), 0);
	read_bytes(path, data, sizeof(data));
	snprintf(want, sizeof(want),
		 "# hand-written header\n"
		 "ann:$y$NEW:1:0:Ann:/h/ann:NOQUOTA:newclear:extra:fields\n"
		 "%s\neve:%s:1:0:eve:%s:NOQUOTA\n",
		 messy + strlen("# hand-written header\n"
				"ann:$1$aa$bb:1:0:Ann:/h/ann:NOQUOTA:annclear:extra:fields\n"),
		 SOME_HASH, u.home);
	assert_string_equal(data, want);

	/* A cleartext that cannot be stored empties the field instead of going stale. */
	assert_int_equal(userdb_passwd(dir, &n, "$y$NEW2", "has:colon", false, err, sizeof(err)), 0);
	read_bytes(path, data, sizeof(data));
	assert_non_null(strstr(data, "ann:$y$NEW2:1:0:Ann:/h/ann:NOQUOTA::extra:fields\n"));

	/* A CRLF line keeps its CR; a line without cleartext gets none. */
	assert_int_equal(userdb_split_login("ben@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_passwd(dir, &n, "$y$BEN", "benclear", false, err, sizeof(err)), 0);
	read_bytes(path, data, sizeof(data));
	assert_non_null(strstr(data, "\nben:$y$BEN:1:0:Ben:/h/ben:NOQUOTA\r\n  # indented"));
	/* An empty cleartext field stays empty; the fields after it stay. */
	assert_int_equal(userdb_split_login("cy@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_passwd(dir, &n, "$y$CY", "cyclear", false, err, sizeof(err)), 0);
	read_bytes(path, data, sizeof(data));
	assert_non_null(strstr(data, "\ncy:$y$CY:2:8:Cy Z:/h/cy:100S,10C::future\n"));

	/* del: the line goes, everything else stays. */
	assert_int_equal(userdb_split_login("dee@example.com", NULL, &n, err, sizeof(err)), 0);
	assert_int_equal(userdb_del(dir, &n, &old, false, err, sizeof(err)), 0);
	assert_string_equal(old.home, "/h/dee");
	assert_string_equal(old.domain, "example.com");
	read_bytes(path, data, sizeof(data));
	assert_null(strstr(data, "dee:"));
	assert_non_null(strstr(data, "\nthis line is broken\n"));
	assert_non_null(strstr(data, "100S,10C::future\neve:"));

	/* Unknown users: ENOENT, nothing written. */
	memcpy(want, data, sizeof(data));
	assert_int_equal(userdb_split_login("zed@example.com", NULL, &n, err, sizeof(err)), 0);
	errno = 0;
	assert_int_equal(userdb_del(dir, &n, &old, false, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(userdb_passwd(dir, &n, "$y$X", NULL, false, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(userdb_split_login("zed@nowhere.com", NULL, &n, err, sizeof(err)), 0);
	errno = 0;
	assert_int_equal(userdb_del(dir, &n, &old, false, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	read_bytes(path, data, sizeof(data));
	assert_string_equal(data, want);
}

static void
test_userdb_passwd_and_del_on_malformed_lines(void **state)
{
	const char *dir = *state;
	static const char data0[] =
		"bob:x:1:0:g:relative:NOQUOTA\n"
		"amy:a:1:0:g:/h/amy:NOQUOTA\n"
		"bob:y:1:0:g:/h/bob:NOQUOTA\n"
		"bob:too:few\n";
	char path[PATH_MAX], err[PATH_MAX + 256], data[4096];
	struct userdb_user old;
	struct userdb_name n;

	write_vpasswd(dir, "example.com", data0, sizeof(data0) - 1);
	assert_int_equal(userdb_vpasswd_path(dir, "example.com", path, sizeof(path)), 0);
	assert_int_equal(userdb_split_login("bob@example.com", NULL, &n, err, sizeof(err)), 0);
	/* passwd changes the line lookups use, and leaves the broken ones. */
	assert_int_equal(userdb_passwd(dir, &n, "$y$B", NULL, false, err, sizeof(err)), 0);
	read_bytes(path, data, sizeof(data));
	assert_string_equal(data, "bob:x:1:0:g:relative:NOQUOTA\n"
				  "amy:a:1:0:g:/h/amy:NOQUOTA\n"
				  "bob:$y$B:1:0:g:/h/bob:NOQUOTA\n"
				  "bob:too:few\n");
	/* del removes every line of the user; the first was malformed: no home. */
	assert_int_equal(userdb_del(dir, &n, &old, false, err, sizeof(err)), 0);
	assert_string_equal(old.home, "");
	read_bytes(path, data, sizeof(data));
	assert_string_equal(data, "amy:a:1:0:g:/h/amy:NOQUOTA\n");

	/* Only malformed lines for the user: passwd refuses, EINVAL. */
	write_vpasswd(dir, "example.com", "bob:x:1:0\n", 10);
	errno = 0;
	assert_int_equal(userdb_passwd(dir, &n, "$y$B", NULL, false, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "malformed"));
	/* An empty or unwritable hash is refused before anything is touched. */
	errno = 0;
	assert_int_equal(userdb_passwd(dir, &n, "", NULL, false, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(userdb_passwd(dir, &n, "a:b", NULL, false, err, sizeof(err)), -1);
}

#define RACE_USERS 50

/* One writer of the race: add RACE_USERS users named prefix0..prefix49. */
static int
race_writer(const char *users_dir, char prefix)
{
	struct userdb_user *u = calloc(1, sizeof(*u));
	char login[64], err[PATH_MAX + 256];

	if (u == NULL)
		return 1;
	for (int i = 0; i < RACE_USERS; i++) {
		struct userdb_name n;

		snprintf(login, sizeof(login), "%c%d@race.example", prefix, i);
		if (userdb_split_login(login, NULL, &n, err, sizeof(err)) == -1)
			return 2;
		memset(u, 0, sizeof(*u));
		snprintf(u->user, sizeof(u->user), "%s", n.user);
		snprintf(u->hash, sizeof(u->hash), "%s", SOME_HASH);
		if (userdb_default_home(users_dir, &n, u->home, sizeof(u->home)) == -1)
			return 3;
		if (userdb_add(users_dir, n.domain, u, (uid_t)-1, (gid_t)-1, true, err,
			       sizeof(err)) == -1) {
			fprintf(stderr, "writer %c: %s\n", prefix, err);
			return 4;
		}
	}
	free(u);
	return 0;
}

static int
count_user(const struct userdb_user *u, void *ctx)
{
	unsigned char *seen = ctx;
	int i = atoi(u->user + 1);

	assert_true(u->user[0] == 'p' || u->user[0] == 'q');
	assert_true(i >= 0 && i < RACE_USERS);
	seen[(u->user[0] == 'q') * RACE_USERS + i]++;
	return 0;
}

static void
test_userdb_concurrent_adds_lose_nothing(void **state)
{
	const char *dir = *state;
	unsigned char seen[2 * RACE_USERS] = { 0 };
	char err[PATH_MAX + 256];
	pid_t pids[2];
	int status;

	/* Both writers start on an empty users_dir: the domain is made under the race too. */
	for (int w = 0; w < 2; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			_exit(race_writer(dir, w == 0 ? 'p' : 'q'));
	}
	for (int w = 0; w < 2; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(userdb_foreach(dir, "race.example", count_user, NULL, seen, err,
					sizeof(err)), 0);
	for (int i = 0; i < 2 * RACE_USERS; i++)
		if (seen[i] != 1)
			fail_msg("user %c%d seen %d times", i < RACE_USERS ? 'p' : 'q',
				 i % RACE_USERS, seen[i]);
}

static void
test_userdb_paths(void **state)
{
	struct userdb_name n = { "bob", "example.com" };
	struct userdb_user u;
	char out[PATH_MAX], cwd[PATH_MAX];

	(void)state;
	assert_int_equal(userdb_vpasswd_path("/var/lib/osd/domains", "example.com", out,
					     sizeof(out)), 0);
	assert_string_equal(out, "/var/lib/osd/domains/example.com/vpasswd");
	assert_int_equal(userdb_vpasswd_path("/d/", "example.com", out, sizeof(out)), 0);
	assert_string_equal(out, "/d/example.com/vpasswd");
	assert_int_equal(userdb_default_home("/d/", &n, out, sizeof(out)), 0);
	assert_string_equal(out, "/d/example.com/bob");
	/* A relative users_dir still gives vpasswd an absolute home. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(userdb_default_home("rel", &n, out, sizeof(out)), 0);
	assert_true(out[0] == '/');
	assert_memory_equal(out, cwd, strlen(cwd));
	memset(&u, 0, sizeof(u));
	snprintf(u.home, sizeof(u.home), "/h/bob");
	assert_int_equal(userdb_maildir(&u, out, sizeof(out)), 0);
	assert_string_equal(out, "/h/bob/Maildir");
	assert_int_equal(userdb_vpasswd_path("/d", "example.com", out, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_userdb_split_login_accepts_at_percent_and_default_domain),
		cmocka_unit_test(test_userdb_split_login_refuses_hostile_names),
		cmocka_unit_test(test_userdb_login_key_is_one_spelling_per_login),
		cmocka_unit_test(test_userdb_check_domain_lowers_and_refuses),
		cmocka_unit_test(test_userdb_parse_line_reads_good_lines),
		cmocka_unit_test(test_userdb_parse_line_reports_malformed_lines),
		cmocka_unit_test(test_userdb_quota_parse_and_format),
		cmocka_unit_test(test_userdb_format_flags_names_known_bits),
		cmocka_unit_test_setup_teardown(test_userdb_foreach_reports_bad_lines_and_reads_on,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_lookup_finds_first_good_line,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_lookup_vpasswd_fifo_is_an_error_at_once,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_userdb_verify_password_each_hash_kind),
		cmocka_unit_test(test_userdb_verify_password_refuses_unusable_hashes),
		cmocka_unit_test(test_userdb_hash_password_makes_yescrypt),
		cmocka_unit_test(test_userdb_const_time_equal),
		cmocka_unit_test_setup_teardown(test_userdb_authenticate_results_and_timing,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_add_creates_domain_home_and_maildir,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_rewrites_keep_other_lines_byte_identical,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_passwd_and_del_on_malformed_lines,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_userdb_concurrent_adds_lose_nothing,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_userdb_paths),
	};

	return cmocka_run_group_tests_name("userdb", tests, NULL, NULL);
}
