/* test_imap_session.c - the IMAP session object against golden transcripts (tests/unit/imap/session/NAME.in -> NAME.ref), with login hooks over a temporary Maildir. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_message.h"
#include "imap_session.h"
#include "testutil.h"

static const char *golden_dir;  /* argv[1]: tests/unit/imap, the transcripts in session/ */

struct fixture {
	char root[PATH_MAX + 16];       /* the user's Maildir */
	char tmp[PATH_MAX];
	unsigned delivered;
	long long clock;                /* the session's clock (ms): moved only by @clock */
	int last_watch;                 /* @wake: a dup of the wake fd seen last, to tell a kept watch from a new one */
};

/*
 * Do a and b share one open file (not merely a number the kernel gave
 * again)?  File status flags belong to the open file: O_APPEND set through
 * b shows through a.
 */
static bool
same_open_file(int a, int b)
{
	int fa, fb = fcntl(b, F_GETFL), same;

	assert_true(fb != -1);
	assert_int_equal(fcntl(b, F_SETFL, fb ^ O_APPEND), 0);
	fa = fcntl(a, F_GETFL);
	same = fa != -1 && (fa & O_APPEND) == ((fb ^ O_APPEND) & O_APPEND);
	assert_int_equal(fcntl(b, F_SETFL, fb), 0);
	return same;
}

/* The session's clock: time passes only when the transcript says so. */
static long long
fake_clock(void *ctx)
{
	return ((struct fixture *)ctx)->clock;
}

/* Passwords: alice/secret is good; temp/any cannot be told; everything else is bad. */
static int
check_password(void *ctx, const char *login, const char *password, char **root_r, char *err,
	       size_t errsize)
{
	struct fixture *f = ctx;

	if (strcmp(login, "temp") == 0) {
		snprintf(err, errsize, "database unreadable");
		return IMAP_CHECK_TEMPFAIL;
	}
	if (strcmp(login, "alice") != 0 || strcmp(password, "secret") != 0) {
		snprintf(err, errsize, "wrong password");
		return IMAP_CHECK_BAD;
	}
	*root_r = strdup(f->root);
	return *root_r != NULL ? IMAP_CHECK_OK : IMAP_CHECK_TEMPFAIL;
}

static void
mkdir_ok(const char *path)
{
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char sub[PATH_MAX + 32];
	const char *const subs[] = { "cur", "new", "tmp" };
	size_t i;

	if (f == NULL)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/osd-imap-session-XXXXXX");
	if (mkdtemp(f->tmp) == NULL)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/Maildir", f->tmp);
	mkdir_ok(f->root);
	for (i = 0; i < 3; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", f->root, subs[i]);
		mkdir_ok(sub);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A message into new/, as a delivery would put it (fixed names: transcripts stay the same). */
static void
deliver(struct fixture *f, const char *subject)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	f->delivered++;
	snprintf(path, sizeof(path), "%s/new/17000000%02u.M%uP1.test", f->root, f->delivered,
		 f->delivered);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "From: bob@example.test\nTo: alice@example.test\nSubject: %s\n"
		    "Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <%u@test>\n\nbody %u\n",
		subject, f->delivered, f->delivered);
	assert_int_equal(fclose(fp), 0);
}



/* A reply line, with the UIDVALIDITY (made of the clock) shown as N, so that transcripts stay the same. */
static void
escape_line(struct buf *t, const char *p, size_t len)
{
	static const char key[] = "UIDVALIDITY ";
	const char *end = p + len, *hit;

	while ((hit = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		testutil_escape(t, p, (size_t)(hit - p) + sizeof(key) - 1);
		p = hit + sizeof(key) - 1;
		if (p < end && *p >= '0' && *p <= '9')
			(void)buf_append_char(t, 'N');
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	testutil_escape(t, p, (size_t)(end - p));
}

/* Every reply line must end in CRLF; one "S: " line each (a literal's octets shown escaped). */
static void
transcript_replies(struct buf *t, const struct buf *out)
{
	size_t i = 0;

	while (i < out->len) {
		const char *p = out->data + i, *crlf = NULL;
		size_t k;

		for (k = i; k + 1 < out->len; k++) {
			if (out->data[k] == '\r' && out->data[k + 1] == '\n') {
				crlf = out->data + k;
				break;
			}
		}
		if (crlf == NULL) {
			(void)buf_append_str(t, "S! ");
			testutil_escape(t, p, out->len - i);
			(void)buf_append_str(t, "   <- no CRLF\n");
			return;
		}
		(void)buf_append_str(t, "S: ");
		escape_line(t, p, (size_t)(crlf - p));
		(void)buf_append_char(t, '\n');
		i = (size_t)(crlf - out->data) + 2;
	}
}

static void
transcript_action(struct buf *t, unsigned act, size_t literal)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ IMAP_ACT_CLOSE, "close" }, { IMAP_ACT_STARTTLS, "starttls" },
		{ IMAP_ACT_AUTH_OK, "auth-ok" }, { IMAP_ACT_AUTH_FAILED, "auth-failed" },
		{ IMAP_ACT_ERROR, "error" }, { IMAP_ACT_STREAM, "stream" }, { IMAP_ACT_IDLE, "idle" },
	};
	size_t i;

	if (act & IMAP_ACT_LITERAL)
		(void)buf_printf(t, "-- literal %zu\n", literal);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (act & names[i].bit)
			(void)buf_printf(t, "-- %s\n", names[i].name);
	}
}

/* Go on with a long reply as the loop would. */
static unsigned
finish_stream(struct imap_session *s, unsigned act, struct buf *out)
{
	int guard = 0;

	while ((act & IMAP_ACT_STREAM) && guard++ < 100000)
		act = imap_session_stream(s, out);
	return act;
}

static void
run_golden(struct fixture *f, const char *name)
{
	char in_path[PATH_MAX], ref_path[PATH_MAX], line[8192], raw[8192];
	struct imap_session_config c;
	struct imap_session *s = NULL;
	size_t want_literal = 0;
	bool after_literal = false;     /* the last thing fed was a literal: an empty line is the rest of its command line */
	struct buf t, ref;
	FILE *fp;

	memset(&c, 0, sizeof(c));
	c.client_loopback = true;
	c.ctx = f;
	c.check_password = check_password;
	c.max_bad_commands = 1000;
	c.max_auth_failures = 1000;
	c.clock_ms = fake_clock;
	f->clock = 1000000;
	f->last_watch = -1;
	snprintf(in_path, sizeof(in_path), "%s/session/%s.in", golden_dir, name);
	snprintf(ref_path, sizeof(ref_path), "%s/session/%s.ref", golden_dir, name);
	fp = fopen(in_path, "r");
	assert_non_null(fp);
	buf_init(&t, 0);
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct buf out;
		unsigned act;
		size_t n, literal = 0;

		line[strcspn(line, "\n")] = '\0';
		if (want_literal == 0 && (line[0] == '#' || (line[0] == '\0' && !after_literal)))
			continue;
		if (want_literal == 0 && line[0] == '@') {
			/* Directives: the connection's properties (before the first command), or events. */
			if (strcmp(line, "@remote") == 0) {
				c.client_loopback = false;
			} else if (strcmp(line, "@tls") == 0) {
				c.tls_available = true;
			} else if (strcmp(line, "@plaintext") == 0) {
				c.plaintext_allowed = true;
			} else if (strncmp(line, "@max-bad ", 9) == 0) {
				c.max_bad_commands = (unsigned)atoi(line + 9);
			} else if (strncmp(line, "@max-auth-failures ", 19) == 0) {
				c.max_auth_failures = (unsigned)atoi(line + 19);
			} else if (strncmp(line, "@deliver ", 9) == 0) {
				deliver(f, line + 9);
				(void)buf_printf(&t, "== delivered %s\n", line + 9);
			} else if (strcmp(line, "@tls-started") == 0) {
				assert_non_null(s);
				imap_session_tls_started(s);
				(void)buf_append_str(&t, "== tls started\n");
			} else if (strcmp(line, "@no-inotify") == 0) {
				c.idle_no_inotify = true;
			} else if (strcmp(line, "@inotify-fails EMFILE") == 0) {
				c.idle_inotify_errno = EMFILE;
			} else if (strncmp(line, "@idle-poll ", 11) == 0) {
				c.idle_poll_ms = atoi(line + 11);
			} else if (strncmp(line, "@idle-keepalive ", 16) == 0) {
				c.idle_keepalive_ms = atoi(line + 16);
			} else if (strncmp(line, "@clock +", 8) == 0) {
				f->clock += atoi(line + 8);
				(void)buf_printf(&t, "== clock +%d\n", atoi(line + 8));
			} else if (strcmp(line, "@wake") == 0) {
				/* What the loop waits for: the watch (kept or new) and the timer. */
				int fd;

				assert_non_null(s);
				fd = imap_session_wake_fd(s);
				(void)buf_printf(&t, "== wake: %s, in %d ms\n",
						 fd < 0 ? "no watch" :
						 f->last_watch >= 0 && same_open_file(fd, f->last_watch) ?
						 "the same watch" : "a new watch",
						 imap_session_wake_ms(s));
				if (fd >= 0) {
					if (f->last_watch >= 0)
						close(f->last_watch);
					f->last_watch = dup(fd);
					assert_true(f->last_watch >= 0);
				}
			} else if (strcmp(line, "@error") == 0) {
				assert_non_null(s);
				(void)buf_printf(&t, "== error: %s\n", imap_session_error(s));
			} else if (strcmp(line, "@woken") == 0) {
				/* What the loop does when the wake fd is readable or the timer strikes (one must be set). */
				assert_non_null(s);
				assert_true(imap_session_wake_fd(s) >= 0 || imap_session_wake_ms(s) >= 0);
				(void)buf_append_str(&t, "== woken\n");
				buf_init(&out, 0);
				act = imap_session_woken(s, &out);
				transcript_replies(&t, &out);
				transcript_action(&t, act, 0);
				buf_free(&out);
			} else if (strcmp(line, "@timeout") == 0) {
				assert_non_null(s);
				buf_init(&out, 0);
				imap_session_timeout(s, &out);
				(void)buf_append_str(&t, "== timeout\n");
				transcript_replies(&t, &out);
				buf_free(&out);
			} else {
				fail_msg("unknown directive %s", line);
			}
			continue;
		}
		if (s == NULL) {
			s = imap_session_new(&c);
			buf_init(&out, 0);
			imap_session_greeting(s, &out);
			transcript_replies(&t, &out);
			buf_free(&out);
		}
		n = testutil_unescape(line, raw, sizeof(raw));
		if (n == (size_t)-1)
			fail_msg("bad \\x escape");
		buf_init(&out, 0);
		if (want_literal > 0) {
			/* The octets of the literal the session asked for (the line's CRLF is not part of them). */
			assert_int_equal(n, want_literal);
			(void)buf_append_str(&t, "L: ");
			testutil_escape(&t, raw, n);
			(void)buf_append_char(&t, '\n');
			act = imap_session_literal(s, raw, n, &out, &literal);
		} else {
			(void)buf_append_str(&t, "C: ");
			testutil_escape(&t, raw, n);
			(void)buf_append_char(&t, '\n');
			raw[n++] = '\r';
			raw[n++] = '\n';
			act = imap_session_line(s, raw, n, &out, &literal);
		}
		act = finish_stream(s, act, &out);
		transcript_replies(&t, &out);
		transcript_action(&t, act, literal);
		after_literal = want_literal > 0;
		want_literal = act & IMAP_ACT_LITERAL ? literal : 0;
		buf_free(&out);
	}
	fclose(fp);
	imap_session_free(s);
	if (f->last_watch >= 0)
		close(f->last_watch);

	buf_init(&ref, 0);
	fp = fopen(ref_path, "r");
	if (fp != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL)
			(void)buf_append_str(&ref, line);
		fclose(fp);
	}
	if (ref.len != t.len || memcmp(ref.data, t.data, t.len) != 0) {
		/* Show the transcript made, so that a new .ref can be reviewed and written. */
		fprintf(stderr, "--- %s: transcript (%s differs) ---\n%.*s--- end ---\n", name, ref_path,
			(int)t.len, t.data);
		fail_msg("%s: transcript differs from %s", name, ref_path);
	}
	buf_free(&ref);
	buf_free(&t);
}

#define GOLDEN(name) \
	static void test_imap_session_golden_##name(void **state) { run_golden(*state, #name); }

GOLDEN(basic)
GOLDEN(auth)
GOLDEN(plaintext)
GOLDEN(literals)
GOLDEN(hostile)
GOLDEN(mailbox)
GOLDEN(idle)
GOLDEN(idle_poll)
GOLDEN(idle_keepalive)
GOLDEN(idle_watch)
GOLDEN(authlimit)

/* The BAD limit: the twentieth BAD ends the session with * BYE. */
static void
test_imap_session_bad_commands_limit(void **state)
{
	struct fixture *f = *state;
	struct imap_session_config c = { .client_loopback = true, .ctx = f,
					 .check_password = check_password };
	struct imap_session *s = imap_session_new(&c);
	struct buf out;
	size_t lit;
	unsigned i, act = 0;

	buf_init(&out, 0);
	for (i = 1; i <= IMAP_DEFAULT_MAX_BAD_COMMANDS; i++) {
		buf_reset(&out);
		act = imap_session_line(s, "x FROB\r\n", 8, &out, &lit);
		if (i < IMAP_DEFAULT_MAX_BAD_COMMANDS)
			assert_int_equal(act, 0);
	}
	assert_true(act & IMAP_ACT_CLOSE);
	assert_non_null(strstr(out.data, "* BYE "));
	buf_reset(&out);
	/* Nothing more is taken. */
	assert_int_equal(imap_session_line(s, "y NOOP\r\n", 8, &out, &lit), IMAP_ACT_CLOSE);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	imap_session_free(s);
}

int
main(int argc, char **argv)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_imap_session_golden_basic),
		T(test_imap_session_golden_auth),
		T(test_imap_session_golden_plaintext),
		T(test_imap_session_golden_literals),
		T(test_imap_session_golden_hostile),
		T(test_imap_session_golden_mailbox),
		T(test_imap_session_golden_idle),
		T(test_imap_session_golden_idle_poll),
		T(test_imap_session_golden_idle_keepalive),
		T(test_imap_session_golden_idle_watch),
		T(test_imap_session_golden_authlimit),
		T(test_imap_session_bad_commands_limit),
	};

	golden_dir = argc > 1 ? argv[1] : "tests/unit/imap";
	imap_message_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
