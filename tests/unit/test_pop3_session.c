/* test_pop3_session.c - unit tests for the POP3 state machine (pop3d/pop3_session.c), with golden files in pop3/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "cram.h"
#include "maildir.h"
#include "path.h"
#include "pop3_session.h"
#include "testutil.h"

static const char *golden_dir;  /* argv[1]: tests/unit/pop3 */

struct fixture {
	char home[64];
	char maildir[PATH_MAX];
};

/* The test mailbox: three messages with fixed names and times, so replies are reproducible. */
static const struct {
	const char *folder, *name, *body;
	time_t mtime;
} mailbox[] = {
	{ "new", "1700000001.M1P100.mx.example.org,S=62",
	  "From: a@example.org\nSubject: one\n\nHello\n.dot line\n..two dots\n", 1700000001 },
	{ "cur", "1700000002.M2P100.mx.example.org,S=40:2,S",
	  "From: b@example.org\r\nSubject: two\r\n\r\nCRLF body\r\n", 1700000002 },
	{ "new", "1700000003.M3P100.mx.example.org",
	  "Subject: three\n\nline 1\nline 2\nline 3\nno newline at end", 1700000003 },
};

#define NMSG (sizeof(mailbox) / sizeof(mailbox[0]))

static void
fill_mailbox(struct fixture *f)
{
	const char *sub[] = { "new", "cur", "tmp" };
	char p[PATH_MAX];
	size_t i;

	testutil_rmtree(f->maildir);
	assert_int_equal(mkdir(f->maildir, 0700), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(path_fmt(p, sizeof(p), "%s/%s", f->maildir, sub[i]), 0);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	for (i = 0; i < NMSG; i++) {
		struct timeval tv[2] = { { mailbox[i].mtime, 0 }, { mailbox[i].mtime, 0 } };
		int fd;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", f->maildir, mailbox[i].folder,
					  mailbox[i].name), 0);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, mailbox[i].body, strlen(mailbox[i].body)),
				 (ssize_t)strlen(mailbox[i].body));
		close(fd);
		assert_int_equal(utimes(p, tv), 0);
	}
}

static int
setup_home(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->home, sizeof(f->home), "%s", "/tmp/osd-test-pop3.XXXXXX");
	if (mkdtemp(f->home) == NULL)
		return -1;
	if (path_join(f->maildir, sizeof(f->maildir), f->home, "Maildir") == -1)
		return -1;
	fill_mailbox(f);
	*state = f;
	return 0;
}

static int
teardown_home(void **state)
{
	struct fixture *f = *state;

	testutil_rmtree(f->home);
	free(f);
	return 0;
}

/* The user database of the tests: alice has a mailbox, temp@ makes the database fail. */
static int
check_password(void *ctx, const char *login, const char *password, char **home_r, char *err,
	       size_t errsize)
{
	struct fixture *f = ctx;

	if (strcmp(login, "temp@example.org") == 0) {
		snprintf(err, errsize, "database unreadable");
		return SESSION_CHECK_TEMPFAIL;
	}
	if (strcmp(login, "alice@example.org") == 0 && strcmp(password, "secret pass") == 0) {
		*home_r = strdup(f->home);
		return SESSION_CHECK_OK;
	}
	snprintf(err, errsize, "wrong password or unknown user");
	return SESSION_CHECK_BAD;
}

static struct session_config
config(struct fixture *f)
{
	struct session_config c;

	memset(&c, 0, sizeof(c));
	c.client_loopback = true;
	c.ctx = f;
	c.check_password = check_password;
	return c;
}

/* Feed one line (CRLF added), finish any stream, and return the action bits; replies accumulate in out. */
static unsigned
feed(struct session *s, const char *line, struct buf *out)
{
	char tmp[2048];
	unsigned act;
	int n = snprintf(tmp, sizeof(tmp), "%s\r\n", line);

	assert_true(n > 0 && (size_t)n < sizeof(tmp));
	act = session_input_line(s, tmp, (size_t)n, out);
	while (act & SESSION_ACT_STREAM)
		act = (act & ~(unsigned)SESSION_ACT_STREAM) | session_stream(s, out);
	return act;
}

/* As feed, on a fresh out, and the reply must be exactly expect. */
static unsigned
expect(struct session *s, const char *line, const char *reply)
{
	struct buf out;
	unsigned act;

	buf_init(&out, 0);
	act = feed(s, line, &out);
	if (out.len != strlen(reply) || (out.len > 0 && memcmp(out.data, reply, out.len) != 0))
		fail_msg("after \"%s\": expected \"%s\", got \"%s\"", line, reply,
			 out.data != NULL ? out.data : "");
	buf_free(&out);
	return act;
}

/* The reply must start with prefix. */
static unsigned
expect_prefix(struct session *s, const char *line, size_t len, const char *prefix)
{
	struct buf out;
	unsigned act;

	buf_init(&out, 0);
	act = session_input_line(s, line, len, &out);
	if (out.len < strlen(prefix) || memcmp(out.data, prefix, strlen(prefix)) != 0)
		fail_msg("expected a reply starting \"%s\", got \"%s\"", prefix,
			 out.data != NULL ? out.data : "");
	buf_free(&out);
	return act;
}

static struct session *
logged_in(struct fixture *f)
{
	struct session_config c = config(f);
	struct session *s = session_new(&c);

	expect(s, "USER alice@example.org", "+OK\r\n");
	assert_int_equal(expect(s, "PASS secret pass", "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	assert_true(session_logged_in(s));
	return s;
}

static void
test_pop3_session_greeting_and_quit(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s = session_new(&c);
	struct buf out;

	buf_init(&out, 0);
	session_greeting(s, &out);
	assert_string_equal(out.data, "+OK osd ready.\r\n");
	buf_free(&out);
	assert_int_equal(expect(s, "QUIT", "+OK Logging out.\r\n"), SESSION_ACT_CLOSE);
	session_free(s);
}

static void
test_pop3_session_hostile_command_lines(void **state)
{
	struct fixture *f = *state;
	struct session *s = logged_in(f);
	char line[300];

	/* 256 octets: over the limit; 255: an ordinary (unknown) command. */
	memset(line, 'A', sizeof(line));
	assert_int_equal(expect_prefix(s, line, 256, "-ERR Line too long."), 0);
	assert_int_equal(expect_prefix(s, line, 255, "-ERR Unknown command."), 0);
	/* Lowercase and mixed case are the same commands. */
	expect(s, "stat", "+OK 3 176\r\n");
	expect(s, "StAt", "+OK 3 176\r\n");
	/* Extra spaces between and after arguments are tolerated. */
	expect(s, "LIST  1", "+OK 1 67\r\n");
	expect(s, "list 1 ", "+OK 1 67\r\n");
	/* Numbers: strict, and 1..count. */
	expect(s, "RETR 0", "-ERR There's no message 0.\r\n");
	expect(s, "RETR 4", "-ERR There's no message 4.\r\n");
	session_free(s);

	s = logged_in(f);
	expect(s, "RETR -1", "-ERR Invalid message number.\r\n");
	expect(s, "RETR +1", "-ERR Invalid message number.\r\n");
	expect(s, "RETR 99999999999999999999", "-ERR Invalid message number.\r\n");
	expect(s, "LIST 1 2", "-ERR Too many arguments.\r\n");
	/* The fifth bad command closes. */
	assert_int_equal(expect(s, "RETR 1x",
				"-ERR Invalid message number.\r\n"
				"-ERR Too many bad commands, closing connection.\r\n"),
			 SESSION_ACT_CLOSE);
	/* Closed: nothing more is answered. */
	assert_int_equal(expect(s, "NOOP", ""), SESSION_ACT_CLOSE);
	session_free(s);
}

static void
test_pop3_session_nul_and_binary_garbage(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s;
	unsigned char junk[255];
	size_t i;

	c.max_bad_commands = 100000;
	s = session_new(&c);
	assert_int_equal(expect_prefix(s, "USER a\0b\r\n", 10, "-ERR Invalid characters"), 0);
	assert_int_equal(expect_prefix(s, "\0", 1, "-ERR"), 0);
	assert_int_equal(expect_prefix(s, "", 0, "-ERR Unknown command."), 0);
	assert_int_equal(expect_prefix(s, "\r\n", 2, "-ERR Unknown command."), 0);
	assert_int_equal(expect_prefix(s, " USER x", 7, "-ERR Unknown command."), 0);
	/* Every byte value, in many arrangements: always one -ERR, never a crash. */
	for (i = 0; i < 2000; i++) {
		struct buf out;
		size_t len = i % sizeof(junk), k;
		unsigned act;

		for (k = 0; k < len; k++)
			junk[k] = (unsigned char)((i * 31 + k * 7) & 0xff);
		buf_init(&out, 0);
		act = session_input_line(s, (const char *)junk, len, &out);
		assert_true(out.len >= 5);
		assert_memory_equal(out.data, "-ERR ", 5);
		assert_int_equal(act & SESSION_ACT_CLOSE, 0);
		buf_free(&out);
	}
	session_free(s);
}

static void
test_pop3_session_commands_allowed_per_state(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s;
	static const char *const trans_only[] = { "STAT", "LIST", "RETR 1", "DELE 1", "NOOP",
						  "RSET", "TOP 1 1", "UIDL" };
	size_t i;

	c.max_bad_commands = 100;
	s = session_new(&c);
	for (i = 0; i < sizeof(trans_only) / sizeof(trans_only[0]); i++)
		expect(s, trans_only[i], "-ERR Log in first.\r\n");
	expect(s, "PASS x", "-ERR No user name given.\r\n");
	session_free(s);

	s = logged_in(f);
	expect(s, "USER bob", "-ERR Already logged in.\r\n");
	expect(s, "PASS x", "-ERR Already logged in.\r\n");
	expect(s, "AUTH PLAIN", "-ERR Already logged in.\r\n");
	expect(s, "STLS", "-ERR Already logged in.\r\n");
	expect(s, "NOOP", "+OK\r\n");
	expect(s, "CAPA",
	       "+OK Capability list follows.\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	       "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION osd\r\n.\r\n");
	session_free(s);
}

/* Sizes in LIST equal the RETR bytes minus stuffing dots and the ".\r\n" line. */
static void
test_pop3_session_list_sizes_match_retr_bytes(void **state)
{
	struct fixture *f = *state;
	struct session *s = logged_in(f);
	struct buf out;
	size_t i;

	for (i = 1; i <= NMSG; i++) {
		char cmd[32], listed[64];
		unsigned long long size;
		const char *body, *p;
		size_t dots = 0, blen;

		buf_init(&out, 0);
		snprintf(cmd, sizeof(cmd), "LIST %zu", i);
		feed(s, cmd, &out);
		assert_int_equal(sscanf(out.data, "+OK %*u %llu", &size), 1);
		snprintf(listed, sizeof(listed), "+OK %llu octets\r\n", size);
		buf_reset(&out);
		snprintf(cmd, sizeof(cmd), "RETR %zu", i);
		feed(s, cmd, &out);
		assert_memory_equal(out.data, listed, strlen(listed));
		body = out.data + strlen(listed);
		blen = out.len - strlen(listed);
		/* Count the stuffed dots: a line beginning "..". */
		for (p = body; p < body + blen; p = strstr(p, "\r\n") + 2) {
			if (p[0] == '.' && p[1] == '.')
				dots++;
			if (strstr(p, "\r\n") == NULL)
				break;
		}
		assert_int_equal(blen, size + dots + 3);
		assert_memory_equal(body + blen - 5, "\r\n.\r\n", 5);
		buf_free(&out);
	}
	session_free(s);
}

static void
test_pop3_session_full_session_dele_rset_quit(void **state)
{
	struct fixture *f = *state;
	struct session *s = logged_in(f);
	char uidl_before[512];
	struct buf out;

	buf_init(&out, 0);
	feed(s, "UIDL", &out);
	snprintf(uidl_before, sizeof(uidl_before), "%s", out.data);
	buf_free(&out);
	assert_non_null(strstr(uidl_before, "1 1700000001.M1P100.mx.example.org,S=62\r\n"));
	assert_non_null(strstr(uidl_before, "2 1700000002.M2P100.mx.example.org,S=40\r\n"));

	expect(s, "DELE 1", "+OK Marked to be deleted.\r\n");
	expect(s, "DELE 1", "-ERR message 1 already deleted\r\n");
	expect(s, "RETR 1", "-ERR message 1 already deleted\r\n");
	expect(s, "LIST 1", "-ERR message 1 already deleted\r\n");
	expect(s, "STAT", "+OK 2 109\r\n");
	expect(s, "LIST", "+OK 2 messages (109 octets)\r\n2 48\r\n3 61\r\n.\r\n");
	expect(s, "RSET", "+OK\r\n");
	expect(s, "STAT", "+OK 3 176\r\n");
	expect(s, "DELE 2", "+OK Marked to be deleted.\r\n");
	expect(s, "RETR 3",
	       "+OK 61 octets\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
	       "no newline at end\r\n.\r\n");
	/* A dropped connection (no QUIT) applies nothing. */
	session_free(s);
	s = logged_in(f);
	expect(s, "STAT", "+OK 3 176\r\n");
	expect(s, "DELE 2", "+OK Marked to be deleted.\r\n");
	expect(s, "RETR 3",
	       "+OK 61 octets\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
	       "no newline at end\r\n.\r\n");
	assert_int_equal(session_stats(s)->retrieved, 1);
	assert_int_equal(session_stats(s)->retrieved_octets, 61);
	assert_int_equal(expect(s, "QUIT", "+OK Logging out, messages deleted.\r\n"),
			 SESSION_ACT_CLOSE);
	assert_int_equal(session_stats(s)->deleted, 1);
	assert_int_equal(session_stats(s)->deleted_octets, 48);
	session_free(s);

	/* After QUIT: message 2 is gone, message 3 was read and moved to cur/ — same UIDLs. */
	s = logged_in(f);
	expect(s, "STAT", "+OK 2 128\r\n");
	expect(s, "UIDL",
	       "+OK\r\n1 1700000001.M1P100.mx.example.org,S=62\r\n"
	       "2 1700000003.M3P100.mx.example.org\r\n.\r\n");
	expect(s, "UIDL 2", "+OK 2 1700000003.M3P100.mx.example.org\r\n");
	expect(s, "QUIT", "+OK Logging out.\r\n");
	session_free(s);
	{
		char p[PATH_MAX];
		struct stat st;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/1700000003.M3P100.mx.example.org:2,S",
					  f->maildir), 0);
		assert_int_equal(stat(p, &st), 0);
	}
}

static void
test_pop3_session_top_zero_and_beyond_body(void **state)
{
	struct fixture *f = *state;
	struct session *s = logged_in(f);

	expect(s, "TOP 1 0", "+OK\r\nFrom: a@example.org\r\nSubject: one\r\n\r\n.\r\n");
	expect(s, "TOP 1 1", "+OK\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nHello\r\n.\r\n");
	expect(s, "TOP 3 99",
	       "+OK\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\nno newline at end\r\n.\r\n");
	expect(s, "TOP 1 99999999999999999999", "-ERR Invalid number of lines.\r\n");
	expect(s, "TOP 1", "-ERR Missing argument.\r\n");
	expect(s, "TOP 1 -1", "-ERR Invalid number of lines.\r\n");
	/* TOP is not a read: QUIT leaves message 1 in new/. */
	expect(s, "QUIT", "+OK Logging out.\r\n");
	session_free(s);
	{
		char p[PATH_MAX];
		struct stat st;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/new/%s", f->maildir, mailbox[0].name), 0);
		assert_int_equal(stat(p, &st), 0);
	}
}

/* Replace message i of the test mailbox by a FIFO (another agent swapping it after the listing). */
static void
swap_in_fifo(struct fixture *f, size_t i)
{
	char p[PATH_MAX];

	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", f->maildir, mailbox[i].folder,
				  mailbox[i].name), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
}

/*
 * A FIFO swapped in for a listed message: RETR, TOP and LIST n answer
 * -ERR at once (and ask for a log line), and the session goes on.  Before
 * the fix open(2) blocked on the FIFO for ever: alarm() turns such a
 * regression into a failed test instead of a hung one.
 */
static void
test_pop3_session_fifo_swapped_in_answers_err_at_once(void **state)
{
	struct fixture *f = *state;
	struct session *s;
	struct stat st;
	char p[PATH_MAX];

	alarm(20);
	s = logged_in(f);
	swap_in_fifo(f, 0);
	swap_in_fifo(f, 1);
	assert_int_equal(expect(s, "RETR 1", "-ERR message 1 no longer exists\r\n"),
			 SESSION_ACT_ERROR);
	assert_non_null(strstr(session_error(s), "not a regular file"));
	assert_int_equal(expect(s, "LIST 2", "-ERR message 2 no longer exists\r\n"),
			 SESSION_ACT_ERROR);
	/* Known gone now: the same answer, nothing more to log. */
	assert_int_equal(expect(s, "TOP 2 0", "-ERR message 2 no longer exists\r\n"), 0);
	assert_int_equal(expect(s, "DELE 1", "-ERR message 1 no longer exists\r\n"), 0);
	/* The session goes on with the other messages. */
	expect(s, "STAT", "+OK 1 61\r\n");
	expect(s, "LIST", "+OK 1 messages (61 octets)\r\n3 61\r\n.\r\n");
	expect(s, "RETR 3",
	       "+OK 61 octets\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
	       "no newline at end\r\n.\r\n");
	assert_int_equal(expect(s, "QUIT", "+OK Logging out.\r\n"), SESSION_ACT_CLOSE);
	session_free(s);
	/* Nothing was done to the FIFOs: not read, not renamed, not removed. */
	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", f->maildir, mailbox[0].folder,
				  mailbox[0].name), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	/* TOP on a fresh FIFO, and LIST when the sizes were not known yet. */
	fill_mailbox(f);
	s = logged_in(f);
	swap_in_fifo(f, 2);
	assert_int_equal(expect(s, "TOP 3 0", "-ERR message 3 no longer exists\r\n"),
			 SESSION_ACT_ERROR);
	expect(s, "NOOP", "+OK\r\n");
	session_free(s);
	s = logged_in(f);
	expect(s, "STAT", "+OK 2 115\r\n");
	session_free(s);
	fill_mailbox(f);
	s = logged_in(f);
	swap_in_fifo(f, 1);
	assert_int_equal(expect(s, "LIST", "+OK 2 messages (128 octets)\r\n1 67\r\n3 61\r\n.\r\n"),
			 SESSION_ACT_ERROR);
	session_free(s);
	alarm(0);
}

static char *
b64(const char *data, size_t len)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, data, len), 0);
	return b.data != NULL ? b.data : strdup("");
}

static void
test_pop3_session_auth_plain_and_login(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s;
	char line[512], *enc;

	/* PLAIN with an initial response. */
	s = session_new(&c);
	enc = b64("\0alice@example.org\0secret pass", 30);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	assert_int_equal(expect(s, line, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	assert_string_equal(session_user(s), "alice@example.org");
	session_free(s);

	/* PLAIN with a continuation, lowercase mechanism. */
	s = session_new(&c);
	expect(s, "auth plain", "+ \r\n");
	assert_int_equal(expect(s, enc, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	free(enc);
	session_free(s);

	/* PLAIN with a wrong password, then with authzid of another user. */
	s = session_new(&c);
	enc = b64("\0alice@example.org\0wrong", 24);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	free(enc);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_false(session_logged_in(s));
	assert_non_null(strstr(session_error(s), "wrong password"));
	enc = b64("bob\0alice@example.org\0secret pass", 33);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	free(enc);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	/* The third failure closes. */
	assert_int_equal(expect(s, "AUTH PLAIN =", "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED | SESSION_ACT_CLOSE);
	session_free(s);

	/* LOGIN: two continuations. */
	s = session_new(&c);
	expect(s, "AUTH LOGIN", "+ VXNlcm5hbWU6\r\n");
	enc = b64("alice@example.org", 17);
	expect(s, enc, "+ UGFzc3dvcmQ6\r\n");
	free(enc);
	enc = b64("secret pass", 11);
	assert_int_equal(expect(s, enc, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	free(enc);
	session_free(s);

	/* LOGIN with the user name as initial response, wrong password. */
	s = session_new(&c);
	enc = b64("alice@example.org", 17);
	snprintf(line, sizeof(line), "AUTH LOGIN %s", enc);
	free(enc);
	expect(s, line, "+ UGFzc3dvcmQ6\r\n");
	enc = b64("nope", 4);
	assert_int_equal(expect(s, enc, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	free(enc);
	/* '*' cancels; bad base64 is refused; unknown mechanisms too. */
	expect(s, "AUTH LOGIN", "+ VXNlcm5hbWU6\r\n");
	expect(s, "*", "-ERR Authentication aborted by client.\r\n");
	expect(s, "AUTH PLAIN", "+ \r\n");
	expect(s, "not base64!", "-ERR Invalid base64 data in continued response.\r\n");
	expect(s, "AUTH CRAM-MD5", "-ERR Unsupported authentication mechanism.\r\n");
	expect(s, "AUTH PLAIN x y z", "-ERR Too many arguments.\r\n");
	expect(s, "AUTH", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
	session_free(s);
}

/* The cleartext secrets of APOP and CRAM-MD5: alice has one, bob has none, empty@ a broken hook's "". */
static int
get_secret(void *ctx, const char *login, char **secret_r, char **home_r, char *err,
	   size_t errsize)
{
	struct fixture *f = ctx;

	if (strcmp(login, "temp@example.org") == 0) {
		snprintf(err, errsize, "database unreadable");
		return SESSION_CHECK_TEMPFAIL;
	}
	if (strcmp(login, "alice@example.org") == 0 || strcmp(login, "empty@example.org") == 0) {
		*secret_r = strdup(login[0] == 'a' ? "tanstaaf" : "");
		*home_r = strdup(f->home);
		return SESSION_CHECK_OK;
	}
	if (strcmp(login, "bob@example.org") == 0) {
		snprintf(err, errsize, "no cleartext password in vpasswd");
		return SESSION_CHECK_BAD;
	}
	snprintf(err, errsize, "unknown user");
	return SESSION_CHECK_BAD;
}

static struct session_config
config_secret(struct fixture *f)
{
	struct session_config c = config(f);

	c.get_secret = get_secret;
	c.advertise_cram_md5 = true;
	c.hostname = "pop.example.org";
	return c;
}

/* A new session with get_secret; its greeting's APOP banner in banner. */
static struct session *
apop_session(struct session_config *c, char banner[CRAM_CHALLENGE_SIZE])
{
	struct session *s = session_new(c);
	const char *lt, *gt;
	struct buf out;

	buf_init(&out, 0);
	session_greeting(s, &out);
	assert_true(strncmp(out.data, "+OK osd ready. <", 16) == 0);
	lt = strchr(out.data, '<');
	gt = strchr(out.data, '>');
	assert_non_null(gt);
	assert_string_equal(gt, ">\r\n");
	assert_true((size_t)(gt - lt + 1) < CRAM_CHALLENGE_SIZE);
	memcpy(banner, lt, (size_t)(gt - lt + 1));
	banner[gt - lt + 1] = '\0';
	assert_non_null(strstr(banner, "@pop.example.org>"));
	buf_free(&out);
	return s;
}

static void
test_pop3_session_apop(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config_secret(f);
	char banner[CRAM_CHALLENGE_SIZE], banner2[CRAM_CHALLENGE_SIZE], hex[CRAM_HEX_SIZE];
	char line[512];
	struct session *s;
	struct buf out;
	size_t i;

	/* Success, even on an insecure connection: the password never crosses the wire. */
	c.client_loopback = false;
	s = apop_session(&c, banner);
	assert_int_equal(cram_apop_digest(banner, "tanstaaf", hex), 0);
	snprintf(line, sizeof(line), "APOP alice@example.org %s", hex);
	assert_int_equal(expect(s, line, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	assert_true(session_logged_in(s));
	assert_string_equal(session_user(s), "alice@example.org");
	session_free(s);

	/* Every banner differs (RFC 1939 section 7); upper-case hex is accepted. */
	s = apop_session(&c, banner2);
	assert_string_not_equal(banner, banner2);
	assert_int_equal(cram_apop_digest(banner2, "tanstaaf", hex), 0);
	for (i = 0; hex[i] != '\0'; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	snprintf(line, sizeof(line), "apop alice@example.org %s", hex);
	assert_int_equal(expect(s, line, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	session_free(s);

	/* The digest of another banner, a wrong secret, a short digest: all fail the same way. */
	s = apop_session(&c, banner2);
	assert_int_equal(cram_apop_digest(banner, "tanstaaf", hex), 0);
	snprintf(line, sizeof(line), "APOP alice@example.org %s", hex);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_non_null(strstr(session_error(s), "wrong APOP digest"));
	assert_false(session_logged_in(s));
	assert_int_equal(cram_apop_digest(banner2, "tanstaa", hex), 0);
	snprintf(line, sizeof(line), "APOP alice@example.org %s", hex);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_int_equal(expect(s, "APOP alice@example.org c4c9",
				"-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED | SESSION_ACT_CLOSE);
	session_free(s);

	/* No cleartext (hook says so, or gives ""), unknown user, temporary failure. */
	s = apop_session(&c, banner);
	assert_int_equal(cram_apop_digest(banner, "tanstaaf", hex), 0);
	snprintf(line, sizeof(line), "APOP bob@example.org %s", hex);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_non_null(strstr(session_error(s), "no cleartext"));
	assert_int_equal(cram_apop_digest(banner, "", hex), 0);
	snprintf(line, sizeof(line), "APOP empty@example.org %s", hex);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_non_null(strstr(session_error(s), "no cleartext"));
	snprintf(line, sizeof(line), "APOP temp@example.org %s", hex);
	assert_int_equal(expect(s, line, "-ERR [SYS/TEMP] Temporary authentication failure.\r\n"),
			 SESSION_ACT_ERROR);
	expect(s, "APOP alice@example.org", "-ERR Missing argument.\r\n");
	expect(s, "APOP a b c", "-ERR Too many arguments.\r\n");
	session_free(s);

	/* Without get_secret: no banner, no APOP. */
	c = config(f);
	s = session_new(&c);
	buf_init(&out, 0);
	session_greeting(s, &out);
	assert_string_equal(out.data, "+OK osd ready.\r\n");
	buf_free(&out);
	expect(s, "APOP alice@example.org c4c9334bac560ecc979e58001b3e22fb",
	       "-ERR [AUTH] APOP is not available.\r\n");
	assert_false(session_logged_in(s));
	session_free(s);
}

/* AUTH CRAM-MD5: the challenge out of the "+ " line, and the base64 response to it. */
static char *
cram_response(struct session *s, const char *user, const char *secret)
{
	unsigned char chal[CRAM_CHALLENGE_SIZE];
	char hex[CRAM_HEX_SIZE], resp[512];
	struct buf out;
	size_t len;

	buf_init(&out, 0);
	assert_int_equal(feed(s, "AUTH CRAM-MD5", &out), 0);
	assert_true(out.len > 4 && strncmp(out.data, "+ ", 2) == 0);
	assert_int_equal(base64_decode(out.data + 2, out.len - 4, chal, sizeof(chal) - 1, &len), 0);
	chal[len] = '\0';
	assert_true(chal[0] == '<' && chal[len - 1] == '>');
	assert_non_null(strstr((char *)chal, "@pop.example.org>"));
	buf_free(&out);
	assert_int_equal(cram_md5_digest((char *)chal, secret, hex), 0);
	snprintf(resp, sizeof(resp), "%s %s", user, hex);
	return b64(resp, strlen(resp));
}

static void
test_pop3_session_auth_cram_md5(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config_secret(f);
	char banner[CRAM_CHALLENGE_SIZE], *enc;
	struct session *s;

	/* Advertised, and listed by a bare AUTH. */
	s = apop_session(&c, banner);
	expect(s, "CAPA", "+OK Capability list follows.\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	       "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION osd\r\nUSER\r\n"
	       "SASL PLAIN LOGIN CRAM-MD5\r\n.\r\n");
	expect(s, "AUTH", "+OK\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n");
	/* Success. */
	enc = cram_response(s, "alice@example.org", "tanstaaf");
	assert_int_equal(expect(s, enc, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	assert_string_equal(session_user(s), "alice@example.org");
	free(enc);
	session_free(s);

	/* Failures: wrong secret, no cleartext, malformed response; '*' cancels; no initial response. */
	s = session_new(&c);
	enc = cram_response(s, "alice@example.org", "wrong");
	assert_int_equal(expect(s, enc, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_non_null(strstr(session_error(s), "wrong CRAM-MD5 digest"));
	free(enc);
	enc = cram_response(s, "bob@example.org", "tanstaaf");
	assert_int_equal(expect(s, enc, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_non_null(strstr(session_error(s), "no cleartext"));
	free(enc);
	expect_prefix(s, "AUTH CRAM-MD5\r\n", 15, "+ PD");
	expect(s, "*", "-ERR Authentication aborted by client.\r\n");
	assert_false(session_logged_in(s));
	expect(s, "AUTH CRAM-MD5 dGlt", "-ERR CRAM-MD5 takes no initial response.\r\n");
	expect_prefix(s, "AUTH CRAM-MD5\r\n", 15, "+ PD");
	enc = b64("nospace", 7);
	assert_int_equal(expect(s, enc, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED | SESSION_ACT_CLOSE);
	free(enc);
	session_free(s);

	/* Insecure connection: only CRAM-MD5 is offered, and it works. */
	c.client_loopback = false;
	s = session_new(&c);
	expect(s, "CAPA", "+OK Capability list follows.\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	       "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION osd\r\n"
	       "SASL CRAM-MD5\r\n.\r\n");
	enc = cram_response(s, "alice@example.org", "tanstaaf");
	assert_int_equal(expect(s, enc, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	free(enc);
	session_free(s);

	/* Not advertised unless asked to, but accepted all the same. */
	c = config_secret(f);
	c.advertise_cram_md5 = false;
	s = session_new(&c);
	expect(s, "AUTH", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
	enc = cram_response(s, "alice@example.org", "tanstaaf");
	assert_int_equal(expect(s, enc, "+OK Logged in.\r\n"), SESSION_ACT_AUTH_OK);
	free(enc);
	session_free(s);
}

static void
test_pop3_session_plaintext_refused_until_tls(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s;

	c.client_loopback = false;
	c.tls_available = true;
	s = session_new(&c);
	expect(s, "CAPA",
	       "+OK Capability list follows.\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	       "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION osd\r\n"
	       "STLS\r\n.\r\n");
	expect(s, "USER alice@example.org",
	       "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n");
	expect(s, "AUTH PLAIN",
	       "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n");
	assert_int_equal(expect(s, "STLS", "+OK Begin TLS negotiation now.\r\n"),
			 SESSION_ACT_STARTTLS);
	session_tls_started(s);
	expect(s, "STLS", "-ERR TLS is already active.\r\n");
	expect(s, "CAPA",
	       "+OK Capability list follows.\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	       "AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION osd\r\n"
	       "USER\r\nSASL PLAIN LOGIN\r\n.\r\n");
	expect(s, "USER alice@example.org", "+OK\r\n");
	expect(s, "PASS secret pass", "+OK Logged in.\r\n");
	session_free(s);

	/* Without a certificate there is no STLS; with pop3_plaintext = yes, USER works. */
	c.tls_available = false;
	s = session_new(&c);
	expect(s, "STLS", "-ERR TLS support isn't enabled.\r\n");
	session_free(s);
	c.plaintext_allowed = true;
	s = session_new(&c);
	expect(s, "USER alice@example.org", "+OK\r\n");
	session_free(s);
}

static void
test_pop3_session_in_use_and_tempfail(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *a = logged_in(f), *b = session_new(&c);

	expect(b, "USER alice@example.org", "+OK\r\n");
	assert_int_equal(expect(b, "PASS secret pass",
				"-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"),
			 SESSION_ACT_AUTH_OK);
	assert_false(session_logged_in(b));
	expect(a, "QUIT", "+OK Logging out.\r\n");
	session_free(a);
	/* The lock went with the first session's QUIT. */
	expect(b, "USER alice@example.org", "+OK\r\n");
	expect(b, "PASS secret pass", "+OK Logged in.\r\n");
	session_free(b);

	b = session_new(&c);
	expect(b, "USER temp@example.org", "+OK\r\n");
	assert_int_equal(expect(b, "PASS x", "-ERR [SYS/TEMP] Temporary authentication failure.\r\n"),
			 SESSION_ACT_ERROR);
	assert_non_null(strstr(session_error(b), "database unreadable"));
	/* Invalid login names never reach the database. */
	expect(b, "USER bad\001name", "+OK\r\n");
	assert_int_equal(expect(b, "PASS x", "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	session_free(b);
}

static int
open_fails(void *ctx, const char *login, const char *home, struct maildir **md_r, char *err,
	   size_t errsize)
{
	(void)ctx;
	(void)login;
	(void)home;
	(void)md_r;
	snprintf(err, errsize, "disk on fire");
	return SESSION_OPEN_FAILED;
}

static void
test_pop3_session_open_hook_failure_is_sys_temp(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s;

	c.open_mailbox = open_fails;
	s = session_new(&c);
	expect(s, "USER alice@example.org", "+OK\r\n");
	assert_int_equal(expect(s, "PASS secret pass", "-ERR [SYS/TEMP] Cannot open the mailbox.\r\n"),
			 SESSION_ACT_AUTH_OK | SESSION_ACT_ERROR);
	assert_non_null(strstr(session_error(s), "disk on fire"));
	session_free(s);
}

/* Several commands sent without waiting (RFC 2449 PIPELINING): replies in order. */
static void
test_pop3_session_pipelined_commands(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s = session_new(&c);
	static const char *const lines[] = { "USER alice@example.org", "PASS secret pass", "STAT",
					     "RETR 2", "LIST 2", "NOOP", "QUIT" };
	struct buf out;
	unsigned act = 0;
	size_t i;

	buf_init(&out, 0);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		act = feed(s, lines[i], &out);
	assert_int_equal(act, SESSION_ACT_CLOSE);
	assert_string_equal(out.data,
			    "+OK\r\n+OK Logged in.\r\n+OK 3 176\r\n"
			    "+OK 48 octets\r\nFrom: b@example.org\r\nSubject: two\r\n\r\nCRLF body\r\n.\r\n"
			    "+OK 2 48\r\n+OK\r\n+OK Logging out.\r\n");
	buf_free(&out);
	session_free(s);
}

/* A line split at its bare LF arrives as it did: session ignores one trailing CRLF or LF. */
static void
test_pop3_session_accepts_lines_with_or_without_line_ending(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s = session_new(&c);

	assert_int_equal(expect_prefix(s, "CAPA", 4, "+OK Capability"), 0);
	assert_int_equal(expect_prefix(s, "CAPA\n", 5, "+OK Capability"), 0);
	assert_int_equal(expect_prefix(s, "CAPA\r\n", 6, "+OK Capability"), 0);
	session_free(s);
}

/*
 * Random command lines made of POP3 words, numbers and junk, in every state:
 * each reply starts with "+OK", "-ERR" or "+ " and ends in CRLF, and
 * nothing crashes (run under ASan/UBSan in the sanitize build).
 */
static void
test_pop3_session_random_lines_in_every_state(void **state)
{
	static const char *const words[] = {
		"USER", "PASS", "AUTH", "STLS", "CAPA", "QUIT", "STAT", "LIST", "RETR", "DELE",
		"NOOP", "RSET", "TOP", "UIDL", "user", "plain", "LOGIN", "PLAIN", "*", "=", "0",
		"1", "2", "3", "4", "-1", "+2", "99999999999999999999", "18446744073709551616",
		"alice@example.org", "secret", "pass", "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNz",
		"YWxpY2VAZXhhbXBsZS5vcmc=", "c2VjcmV0IHBhc3M=", "\xff", "\x01", "", " ", "\t",
	};
	struct fixture *f = *state;
	struct session_config c = config(f);
	uint32_t x = 20261125;
	int round;

	c.max_bad_commands = 1000000;
	c.max_auth_failures = 1000000;
	for (round = 0; round < 60; round++) {
		struct session *s = session_new(&c);
		int k;

		if (round % 2 == 0) {
			struct buf out;

			buf_init(&out, 0);
			feed(s, "USER alice@example.org", &out);
			feed(s, "PASS secret pass", &out);
			buf_free(&out);
		}
		for (k = 0; k < 200; k++) {
			char line[400];
			size_t len = 0;
			int w, nw;
			struct buf out;
			unsigned act;

			x = x * 1103515245u + 12345u;
			nw = 1 + (int)((x >> 16) % 4);
			for (w = 0; w < nw; w++) {
				const char *word;

				x = x * 1103515245u + 12345u;
				word = words[(x >> 16) % (sizeof(words) / sizeof(words[0]))];
				if (w > 0 && len < sizeof(line))
					line[len++] = ' ';
				if (strncmp(word, "\\x", 2) == 0)
					line[len++] = (char)strtol(word + 2, NULL, 16);
				else if (strcmp(word, "\\t") == 0)
					line[len++] = '\t';
				else {
					memcpy(line + len, word, strlen(word));
					len += strlen(word);
				}
			}
			buf_init(&out, 0);
			act = session_input_line(s, line, len, &out);
			while (act & SESSION_ACT_STREAM)
				act = (act & ~(unsigned)SESSION_ACT_STREAM) | session_stream(s, &out);
			if (act & SESSION_ACT_STARTTLS)
				session_tls_started(s);
			if (out.len > 0) {
				assert_true(strncmp(out.data, "+OK", 3) == 0 ||
					    strncmp(out.data, "-ERR", 4) == 0 ||
					    strncmp(out.data, "+ ", 2) == 0);
				assert_memory_equal(out.data + out.len - 2, "\r\n", 2);
			}
			buf_free(&out);
			if (act & SESSION_ACT_CLOSE)
				break;
		}
		session_free(s);
		fill_mailbox(f);
	}
}

/* ---- golden files: pop3/NAME.in (client lines) against pop3/NAME.ref (transcript) ---- */



/* Every reply line must end in CRLF; shown one per "S: " line. */
static void
transcript_replies(struct buf *t, const struct buf *out)
{
	size_t i = 0;

	while (i < out->len) {
		const char *p = out->data + i, *crlf = NULL;
		size_t k;

		for (k = i; k + 1 < out->len; k++)
			if (out->data[k] == '\r' && out->data[k + 1] == '\n') {
				crlf = out->data + k;
				break;
			}
		if (crlf == NULL) {
			buf_append_str(t, "S! ");
			testutil_escape(t, p, out->len - i);
			buf_append_str(t, "   <- no CRLF\n");
			return;
		}
		buf_append_str(t, "S: ");
		testutil_escape(t, p, (size_t)(crlf - p));
		buf_append_char(t, '\n');
		i = (size_t)(crlf - out->data) + 2;
	}
}

static void
transcript_action(struct buf *t, unsigned act)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SESSION_ACT_CLOSE, "close" }, { SESSION_ACT_STARTTLS, "starttls" },
		{ SESSION_ACT_AUTH_OK, "auth-ok" }, { SESSION_ACT_AUTH_FAILED, "auth-failed" },
		{ SESSION_ACT_ERROR, "error" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (act & names[i].bit)
			buf_printf(t, "-- %s\n", names[i].name);
}

static void
run_golden(struct fixture *f, const char *name)
{
	char in_path[PATH_MAX], ref_path[PATH_MAX], line[4096], raw[4096];
	struct session_config c = config(f);
	struct session *s = NULL;
	struct buf t, ref;
	FILE *fp;
	size_t n;

	fill_mailbox(f);
	c.max_bad_commands = 0;
	assert_int_equal(path_fmt(in_path, sizeof(in_path), "%s/%s.in", golden_dir, name), 0);
	assert_int_equal(path_fmt(ref_path, sizeof(ref_path), "%s/%s.ref", golden_dir, name), 0);
	fp = fopen(in_path, "r");
	assert_non_null(fp);
	buf_init(&t, 0);
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct buf out;
		unsigned act;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '@') {
			/* Directives: the connection's properties, set before the first command. */
			if (strcmp(line, "@remote") == 0)
				c.client_loopback = false;
			else if (strcmp(line, "@tls-available") == 0)
				c.tls_available = true;
			else if (strcmp(line, "@tls-active") == 0)
				c.tls_active = true;
			else if (strcmp(line, "@plaintext-allowed") == 0)
				c.plaintext_allowed = true;
			else if (strncmp(line, "@max-bad ", 9) == 0)
				c.max_bad_commands = (unsigned)atoi(line + 9);
			else if (strcmp(line, "@tls-handshake") == 0 && s != NULL) {
				session_tls_started(s);
				buf_append_str(&t, "-- tls handshake\n");
			} else if (strncmp(line, "@long ", 6) == 0 && s != NULL) {
				/* "@long N TEXT": TEXT padded with 'A' to N octets. */
				char *text;
				size_t want = strtoul(line + 6, &text, 10);

				if (*text == ' ')
					text++;
				n = strlen(text);
				memcpy(raw, text, n);
				while (n < want && n < sizeof(raw))
					raw[n++] = 'A';
				buf_printf(&t, "C: (%zu octets) %s...\n", n, text);
				buf_init(&out, 0);
				act = session_input_line(s, raw, n, &out);
				transcript_replies(&t, &out);
				transcript_action(&t, act);
				buf_free(&out);
			} else
				fail_msg("%s: unknown directive %s", in_path, line);
			continue;
		}
		if (s == NULL) {
			s = session_new(&c);
			buf_init(&out, 0);
			session_greeting(s, &out);
			transcript_replies(&t, &out);
			buf_free(&out);
		}
		n = testutil_unescape(line, raw, sizeof(raw) - 2);
		if (n == (size_t)-1)
			fail_msg("%s: bad \\x escape", name);
		raw[n++] = '\r';
		raw[n++] = '\n';
		buf_append_str(&t, "C: ");
		testutil_escape(&t, raw, n - 2);
		buf_append_char(&t, '\n');
		buf_init(&out, 0);
		act = session_input_line(s, raw, n, &out);
		while (act & SESSION_ACT_STREAM)
			act = (act & ~(unsigned)SESSION_ACT_STREAM) | session_stream(s, &out);
		transcript_replies(&t, &out);
		transcript_action(&t, act);
		buf_free(&out);
	}
	fclose(fp);
	session_free(s);

	if (getenv("POP3_GOLDEN_UPDATE") != NULL) {
		fp = fopen(ref_path, "w");
		assert_non_null(fp);
		fwrite(t.data, 1, t.len, fp);
		fclose(fp);
	}
	buf_init(&ref, 0);
	fp = fopen(ref_path, "r");
	if (fp == NULL)
		fail_msg("%s missing (POP3_GOLDEN_UPDATE=1 writes it)", ref_path);
	while ((n = fread(line, 1, sizeof(line), fp)) > 0)
		buf_append(&ref, line, n);
	fclose(fp);
	if (ref.len != t.len || memcmp(ref.data, t.data, t.len) != 0) {
		fprintf(stderr, "--- %s\n+++ actual\n%s", ref_path, t.data);
		fail_msg("%s: transcript differs from %s", name, ref_path);
	}
	buf_free(&ref);
	buf_free(&t);
}

static void
test_pop3_session_golden_files(void **state)
{
	struct fixture *f = *state;
	struct dirent *de;
	int ran = 0;
	DIR *d;
	char names[64][64];
	int count = 0, i, j;

	assert_non_null(golden_dir);
	d = opendir(golden_dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 3 && strcmp(de->d_name + len - 3, ".in") == 0 && len - 3 < 64 && count < 64) {
			snprintf(names[count], sizeof(names[count]), "%.*s", (int)(len - 3), de->d_name);
			count++;
		}
	}
	closedir(d);
	/* In name order, so failures read the same every run. */
	for (i = 0; i < count; i++)
		for (j = i + 1; j < count; j++)
			if (strcmp(names[i], names[j]) > 0) {
				char tmp[64];

				memcpy(tmp, names[i], sizeof(tmp));
				memcpy(names[i], names[j], sizeof(tmp));
				memcpy(names[j], tmp, sizeof(tmp));
			}
	for (i = 0; i < count; i++) {
		run_golden(f, names[i]);
		ran++;
	}
	assert_true(ran >= 4);
}

/*
 * A login name with a byte of 0x80 or more (UTF-8 here) never reaches the
 * password hook: vpasswd names are ASCII, as osd smtpd has always held
 * (lib/auth's login_name_ok, one rule for both servers).
 */
static void
test_pop3_session_8bit_login_name_refused_before_the_hook(void **state)
{
	struct fixture *f = *state;
	struct session_config c = config(f);
	struct session *s = session_new(&c);
	char *enc;
	char line[512];

	expect(s, "USER caf\xc3\xa9@example.org", "+OK\r\n");
	assert_int_equal(expect(s, "PASS secret pass", "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_string_equal(session_error(s), "invalid login name");
	assert_string_equal(session_user(s), "(invalid)");
	enc = b64("\0alice\xff@example.org\0secret pass", 31);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	free(enc);
	assert_int_equal(expect(s, line, "-ERR [AUTH] Authentication failed.\r\n"),
			 SESSION_ACT_AUTH_FAILED);
	assert_string_equal(session_error(s), "invalid login name");
	session_free(s);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup_home, teardown_home)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_pop3_session_greeting_and_quit),
		T(test_pop3_session_hostile_command_lines),
		T(test_pop3_session_nul_and_binary_garbage),
		T(test_pop3_session_commands_allowed_per_state),
		T(test_pop3_session_list_sizes_match_retr_bytes),
		T(test_pop3_session_full_session_dele_rset_quit),
		T(test_pop3_session_top_zero_and_beyond_body),
		T(test_pop3_session_fifo_swapped_in_answers_err_at_once),
		T(test_pop3_session_auth_plain_and_login),
		T(test_pop3_session_8bit_login_name_refused_before_the_hook),
		T(test_pop3_session_apop),
		T(test_pop3_session_auth_cram_md5),
		T(test_pop3_session_plaintext_refused_until_tls),
		T(test_pop3_session_in_use_and_tempfail),
		T(test_pop3_session_open_hook_failure_is_sys_temp),
		T(test_pop3_session_pipelined_commands),
		T(test_pop3_session_accepts_lines_with_or_without_line_ending),
		T(test_pop3_session_random_lines_in_every_state),
		T(test_pop3_session_golden_files),
	};

	golden_dir = argc > 1 ? argv[1] : getenv("POP3_GOLDEN_DIR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
