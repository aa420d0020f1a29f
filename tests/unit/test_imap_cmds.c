/* test_imap_cmds.c - the mailbox commands (imapd/imap_cmd_*.c) through the real session over a temporary Maildir: golden transcripts in imap/cmds/ (NAME.in, NAME.ref). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_session.h"
#include "path.h"
#include "testutil.h"

static const char *golden_dir;          /* argv[1]/cmds */
static char golden_path[PATH_MAX];

/*
 * .in files: one client line a line ("#" comments and blank lines
 * skipped).  "{*}" or "{*+}" at the end of a line is replaced by the size
 * of the literal that follows: the next lines up to one that is "." alone,
 * each ended by CRLF.  "@2 line" sends the line from a second session on
 * the same Maildir.  "@rm cur" removes every file of the INBOX's cur/ (a
 * POP3 client deleting behind the sessions' backs).  Both sessions are
 * logged in before the first line, their login replies not shown.
 */

static int
check_password(void *ctx, const char *login, const char *password, char **root_r, char *err,
	       size_t errsize)
{
	(void)login;
	(void)err;
	(void)errsize;
	if (strcmp(password, "secret") != 0)
		return IMAP_CHECK_BAD;
	*root_r = strdup(ctx);
	return *root_r != NULL ? IMAP_CHECK_OK : IMAP_CHECK_TEMPFAIL;
}

/* Each reply line as "S: ..." (or "S2: ..."); numbers no test can know (UIDVALIDITY) as "*". */
static void
transcript_replies(struct buf *t, const struct buf *out, const char *who)
{
	static const char *const masked[] = { "UIDVALIDITY ", "APPENDUID ", "COPYUID " };
	const char *p = out->data != NULL ? out->data : "";
	const char *end = p + out->len;

	while (p < end) {
		const char *nl = strstr(p, "\r\n");
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		buf_printf(t, "%s: ", who);
		for (size_t i = 0; i < len; i++) {
			buf_append_char(t, p[i]);
			for (size_t k = 0; k < sizeof(masked) / sizeof(masked[0]); k++) {
				size_t ml = strlen(masked[k]);

				if (i + 1 >= ml && memcmp(p + i + 1 - ml, masked[k], ml) == 0 && i + 1 < len &&
				    p[i + 1] >= '0' && p[i + 1] <= '9') {
					buf_append_char(t, '*');
					while (i + 1 < len && p[i + 1] >= '0' && p[i + 1] <= '9')
						i++;
				}
			}
		}
		buf_append_char(t, '\n');
		p += len + (nl != NULL ? 2 : 0);
	}
}

/* Feed one line (CRLF added) and any literal after it to s; the replies into t. */
static void
feed(struct imap_session *s, struct buf *t, const char *who, const char *line, size_t len,
     const char *literal, size_t literal_len)
{
	struct buf out;
	char raw[8192];
	size_t lit = 0;
	unsigned act;

	assert_true(len + 2 <= sizeof(raw));
	memcpy(raw, line, len);
	memcpy(raw + len, "\r\n", 2);
	buf_init(&out, 0);
	act = imap_session_line(s, raw, len + 2, &out, &lit);
	if (act & IMAP_ACT_LITERAL) {
		assert_true(lit == literal_len);
		act = imap_session_literal(s, literal, literal_len, &out, &lit);
		assert_false(act & IMAP_ACT_LITERAL);
		/* The rest of the command line after the literal: nothing. */
		act = imap_session_line(s, "\r\n", 2, &out, &lit);
	}
	while (act & IMAP_ACT_STREAM)
		act = imap_session_stream(s, &out);
	transcript_replies(t, &out, who);
	buf_free(&out);
}

static struct imap_session *
logged_in(char *root)
{
	struct imap_session_config c = { .plaintext_allowed = true, .client_loopback = true };
	struct imap_session *s;
	struct buf out;
	size_t lit;

	c.ctx = root;
	c.check_password = check_password;
	s = imap_session_new(&c);
	buf_init(&out, 0);
	imap_session_line(s, "L LOGIN alice secret\r\n", 22, &out, &lit);
	assert_true(imap_session_logged_in(s));
	buf_free(&out);
	return s;
}

static void
rm_files(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_int_equal(path_join(path, sizeof(path), dir, de->d_name), 0);
		assert_int_equal(unlink(path), 0);
	}
	closedir(d);
}

static void
run_golden(const char *name)
{
	char in_path[PATH_MAX], ref_path[PATH_MAX], path[PATH_MAX], line[8192];
	struct imap_session *s1, *s2;
	struct buf t, ref, lit;
	char *root;
	FILE *fp;
	size_t n;

	root = testutil_mkdtemp("imapcmds");
	assert_non_null(root);
	for (int i = 0; i < 3; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };

		assert_int_equal(path_join(path, sizeof(path), root, subs[i]), 0);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	s1 = logged_in(root);
	s2 = logged_in(root);
	assert_int_equal(path_fmt(in_path, sizeof(in_path), "%s/%s.in", golden_dir, name), 0);
	assert_int_equal(path_fmt(ref_path, sizeof(ref_path), "%s/%s.ref", golden_dir, name), 0);
	fp = fopen(in_path, "r");
	assert_non_null(fp);
	buf_init(&t, 0);
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct imap_session *s = s1;
		const char *who = "S", *cmd = line;
		size_t len;
		char *brace;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strcmp(line, "@rm cur") == 0) {
			assert_int_equal(path_join(path, sizeof(path), root, "cur"), 0);
			rm_files(path);
			buf_append_str(&t, "-- removed INBOX cur/*\n");
			continue;
		}
		if (strncmp(line, "@2 ", 3) == 0) {
			s = s2;
			who = "S2";
			cmd = line + 3;
		}
		buf_printf(&t, "%s: %s\n", s == s2 ? "C2" : "C", cmd);
		len = strlen(cmd);
		buf_init(&lit, 0);
		brace = strrchr(cmd, '{');
		if (brace != NULL && (strcmp(brace, "{*}") == 0 || strcmp(brace, "{*+}") == 0)) {
			char head[8192];
			char lline[8192];
			bool plus = brace[2] == '+';

			while (fgets(lline, sizeof(lline), fp) != NULL) {
				lline[strcspn(lline, "\n")] = '\0';
				if (strcmp(lline, ".") == 0)
					break;
				buf_printf(&lit, "%s\r\n", lline);
			}
			n = snprintf(head, sizeof(head), "%.*s{%zu%s}", (int)(brace - cmd), cmd, lit.len,
				     plus ? "+" : "");
			feed(s, &t, who, head, n, lit.data, lit.len);
		} else {
			feed(s, &t, who, cmd, len, NULL, 0);
		}
		buf_free(&lit);
	}
	fclose(fp);
	imap_session_free(s1);
	imap_session_free(s2);
	testutil_rmtree(root);
	free(root);

	if (getenv("IMAP_GOLDEN_UPDATE") != NULL) {
		fp = fopen(ref_path, "w");
		assert_non_null(fp);
		fwrite(t.data, 1, t.len, fp);
		fclose(fp);
	}
	buf_init(&ref, 0);
	fp = fopen(ref_path, "r");
	if (fp == NULL)
		fail_msg("%s missing (IMAP_GOLDEN_UPDATE=1 writes it)", ref_path);
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

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every NAME.in of imap/cmds/ against its NAME.ref, in name order. */
static void
test_imap_cmds_golden_transcripts(void **state)
{
	char *names[64];
	size_t count = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	d = opendir(golden_dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 3 && strcmp(de->d_name + len - 3, ".in") == 0 && count < 64)
			names[count++] = strndup(de->d_name, len - 3);
	}
	closedir(d);
	qsort(names, count, sizeof(names[0]), name_cmp);
	assert_true(count >= 3);
	for (size_t i = 0; i < count; i++) {
		run_golden(names[i]);
		free(names[i]);
	}
}

/*
 * A FETCH bigger than one piece goes out through IMAP_ACT_STREAM: every
 * message whole, in order, the tagged OK last and once.
 */
static void
test_imap_cmds_fetch_streams_large_replies(void **state)
{
	enum { MSGS = 6, BODY = 100000 };
	char path[PATH_MAX], head[64];
	struct imap_session *s;
	struct buf out, msg;
	unsigned act, streamed = 0;
	size_t lit, n;
	char *root;
	const char *p;

	(void)state;
	root = testutil_mkdtemp("imapcmds");
	assert_non_null(root);
	for (int i = 0; i < 3; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };

		assert_int_equal(path_join(path, sizeof(path), root, subs[i]), 0);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	s = logged_in(root);
	buf_init(&msg, 0);
	buf_append_str(&msg, "Subject: big\r\n\r\n");
	while (msg.len < BODY)
		buf_append_str(&msg, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
	buf_init(&out, 0);
	for (int i = 0; i < MSGS; i++) {
		n = (size_t)snprintf(head, sizeof(head), "A%d APPEND INBOX {%zu+}\r\n", i, msg.len);
		assert_true(imap_session_line(s, head, n, &out, &lit) & IMAP_ACT_LITERAL);
		assert_int_equal(imap_session_literal(s, msg.data, msg.len, &out, &lit), 0);
		assert_int_equal(imap_session_line(s, "\r\n", 2, &out, &lit), 0);
	}
	imap_session_line(s, "S SELECT INBOX\r\n", 16, &out, &lit);
	buf_reset(&out);
	act = imap_session_line(s, "F FETCH 1:* BODY.PEEK[]\r\n", 25, &out, &lit);
	assert_true(out.len < 2 * (size_t)BODY + 256 * 1024);
	while (act & IMAP_ACT_STREAM) {
		size_t before = out.len;

		streamed++;
		assert_true(streamed <= MSGS);
		act = imap_session_stream(s, &out);
		/* Each piece moves on and is bounded: the whole reply is never made at once. */
		assert_true(out.len > before);
		assert_true(out.len - before < 2 * (size_t)BODY + 256 * 1024);
	}
	assert_true(streamed >= 1);
	p = out.data;
	for (int i = 1; i <= MSGS; i++) {
		n = (size_t)snprintf(head, sizeof(head), "* %d FETCH (BODY[] {%zu}\r\n", i, msg.len);
		p = strstr(p, head);
		assert_non_null(p);
		p += n;
		assert_memory_equal(p, msg.data, msg.len);
		p += msg.len;
	}
	assert_string_equal(p, ")\r\nF OK Fetch completed.\r\n");
	buf_free(&out);
	buf_free(&msg);
	imap_session_free(s);
	testutil_rmtree(root);
	free(root);
}

/* Feed line (CRLF added) to s and stream the reply to its end: all of it in out. */
static void
run_line(struct imap_session *s, const char *line, struct buf *out)
{
	char raw[256];
	size_t lit, n = (size_t)snprintf(raw, sizeof(raw), "%s\r\n", line);
	unsigned act;

	assert_true(n < sizeof(raw));
	act = imap_session_line(s, raw, n, out, &lit);
	while (act & IMAP_ACT_STREAM)
		act = imap_session_stream(s, out);
}

/*
 * How many times osd-uidlist was written since the last call: the
 * temporary files created for it (each write makes one of its own name,
 * ".osd-uidlist.tmp.<pid>.<n>", so inotify never merges two of them as
 * it merges identical events in a row).
 */
static unsigned
list_writes(int fd)
{
	char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned n = 0;
	ssize_t len;

	while ((len = read(fd, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + len;) {
			const struct inotify_event *e = (const struct inotify_event *)(void *)p;

			if (e->len > 0 && strncmp(e->name, ".osd-uidlist.tmp.", 17) == 0)
				n++;
			p += sizeof(*e) + e->len;
		}
	}
	assert_true(len == -1 && errno == EAGAIN);
	return n;
}

/*
 * CONDSTORE on: a body FETCH of several unread messages sets \Seen on
 * all of them with ONE write of the UID list (not one per message), each
 * told with the same new MODSEQ; and those are the modseqs a new session
 * (as after a restart: all read again from disk) finds.
 */
static void
test_imap_cmds_condstore_body_fetch_writes_list_once(void **state)
{
	enum { MSGS = 5 };
	unsigned long long told[MSGS + 1], highest_before = 0, highest_after = 0;
	char path[PATH_MAX], head[96];
	struct imap_session *s;
	struct buf out;
	const char *p;
	size_t lit, n;
	char *root;
	int fd;

	(void)state;
	root = testutil_mkdtemp("imapcmds");
	assert_non_null(root);
	for (int i = 0; i < 3; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };

		assert_int_equal(path_join(path, sizeof(path), root, subs[i]), 0);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	s = logged_in(root);
	buf_init(&out, 0);
	for (int i = 0; i < MSGS; i++) {
		static const char msg[] = "Subject: unread\r\n\r\nbody\r\n";

		n = (size_t)snprintf(head, sizeof(head), "A%d APPEND INBOX {%zu+}\r\n", i, sizeof(msg) - 1);
		assert_true(imap_session_line(s, head, n, &out, &lit) & IMAP_ACT_LITERAL);
		assert_int_equal(imap_session_literal(s, msg, sizeof(msg) - 1, &out, &lit), 0);
		assert_int_equal(imap_session_line(s, "\r\n", 2, &out, &lit), 0);
	}
	buf_reset(&out);
	run_line(s, "S SELECT INBOX (CONDSTORE)", &out);
	p = strstr(out.data, "[HIGHESTMODSEQ ");
	assert_non_null(p);
	highest_before = strtoull(p + 15, NULL, 10);
	assert_true(highest_before > 0);

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(inotify_add_watch(fd, root, IN_CREATE) >= 0);
	buf_reset(&out);
	run_line(s, "F FETCH 1:* (UID BODY[])", &out);
	assert_int_equal(list_writes(fd), 1);
	p = out.data;
	for (unsigned i = 1; i <= MSGS; i++) {
		unsigned uid;

		n = (size_t)snprintf(head, sizeof(head), "* %u FETCH (UID ", i);
		p = strstr(p, head);
		assert_non_null(p);
		assert_int_equal(sscanf(p + n, "%u FLAGS (\\Seen \\Recent) MODSEQ (%llu)", &uid, &told[i]), 2);
		/* One new modseq for the whole command, above all before it. */
		assert_true(told[i] > highest_before);
		assert_true(told[i] == told[1]);
		p += n;
	}
	assert_non_null(strstr(p, "F OK Fetch completed."));
	/* Nothing more to write at the next command's sync. */
	buf_reset(&out);
	run_line(s, "N NOOP", &out);
	assert_int_equal(list_writes(fd), 0);
	imap_session_free(s);
	close(fd);

	/* A new session reads it all from disk: the same modseqs, and HIGHESTMODSEQ is theirs. */
	s = logged_in(root);
	buf_reset(&out);
	run_line(s, "S SELECT INBOX", &out);
	p = strstr(out.data, "[HIGHESTMODSEQ ");
	assert_non_null(p);
	highest_after = strtoull(p + 15, NULL, 10);
	assert_true(highest_after == told[1]);
	buf_reset(&out);
	run_line(s, "F FETCH 1:* (FLAGS MODSEQ)", &out);
	for (unsigned i = 1; i <= MSGS; i++) {
		char want[96];

		snprintf(want, sizeof(want), "* %u FETCH (FLAGS (\\Seen) MODSEQ (%llu))\r\n", i, told[i]);
		assert_non_null(strstr(out.data, want));
	}
	buf_free(&out);
	imap_session_free(s);
	testutil_rmtree(root);
	free(root);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_cmds_golden_transcripts),
		cmocka_unit_test(test_imap_cmds_fetch_streams_large_replies),
		cmocka_unit_test(test_imap_cmds_condstore_body_fetch_writes_list_once),
	};

	if (argc < 2)
		return 1;
	snprintf(golden_path, sizeof(golden_path), "%s/cmds", argv[1]);
	golden_dir = golden_path;
	/* INTERNALDATE is written in the local zone: the same everywhere. */
	setenv("TZ", "UTC0", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
