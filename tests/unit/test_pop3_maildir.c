/* test_pop3_maildir.c - unit tests for the POP3 maildrop (pop3d/maildir.c): listing, UIDLs, sizes, stuffing, UPDATE. */
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

#include "buf.h"
#include "maildir.h"
#include "path.h"
#include "testutil.h"

/* meson builds this test with a small MAILDIR_MAX_MESSAGES; the bound works the same. */
#define STR2(x) #x
#define STR(x) STR2(x)
#define MAILDIR_LIMIT_TEXT STR(MAILDIR_MAX_MESSAGES)

struct fixture {
	char dir[64];           /* the Maildir */
};

static int
setup_maildir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[PATH_MAX];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/osd-test-maildir.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (path_join(p, sizeof(p), f->dir, "new") == -1 || mkdir(p, 0700) == -1 ||
	    path_join(p, sizeof(p), f->dir, "cur") == -1 || mkdir(p, 0700) == -1 ||
	    path_join(p, sizeof(p), f->dir, "tmp") == -1 || mkdir(p, 0700) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown_maildir(void **state)
{
	struct fixture *f = *state;

	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

/* Write folder/name with len bytes of data and the given mtime (seconds). */
static void
put_msg(const struct fixture *f, const char *folder, const char *name, const char *data,
	size_t len, time_t mtime)
{
	char p[PATH_MAX];
	struct timeval tv[2];
	int fd;

	if (path_fmt(p, sizeof(p), "%s/%s/%s", f->dir, folder, name) == -1)
		fail_msg("path too long");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	tv[0].tv_sec = tv[1].tv_sec = mtime;
	tv[0].tv_usec = tv[1].tv_usec = 0;
	assert_int_equal(utimes(p, tv), 0);
}

static void
put_str(const struct fixture *f, const char *folder, const char *name, const char *data,
	time_t mtime)
{
	put_msg(f, folder, name, data, strlen(data), mtime);
}

static bool
exists(const struct fixture *f, const char *folder, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	if (path_fmt(p, sizeof(p), "%s/%s/%s", f->dir, folder, name) == -1)
		fail_msg("path too long");
	return lstat(p, &st) == 0;
}

static struct maildir *
open_md(const struct fixture *f, unsigned flags)
{
	struct maildir *md = NULL;
	const char *why = NULL;

	if (maildir_open(f->dir, flags, &md, &why) == -1)
		fail_msg("maildir_open: %s: %s", why, strerror(errno));
	return md;
}

/* The whole multi-line response for message i (RETR when lines < 0, else TOP). */
static void
stream_all(struct maildir *md, size_t i, long long lines, struct buf *out, uint64_t *size_r)
{
	struct maildir_stream *st = NULL;
	int r, calls = 0;

	assert_int_equal(maildir_stream_open(md, i, lines, &st, size_r), 0);
	while ((r = maildir_stream_read(st, out)) == 1)
		calls++;
	assert_int_equal(r, 0);
	/* Once finished, it stays finished. */
	assert_int_equal(maildir_stream_read(st, out), 0);
	maildir_stream_close(st);
	(void)calls;
}

/*
 * An independent byte-at-a-time model of the wire form (maildir.c's rules):
 * LF without CR before it -> CRLF, '.' at line start doubled, unterminated
 * last line completed, ".\r\n" appended.  Also gives the size and the
 * number of stuffed dots.
 */
static void
model(const char *in, size_t len, struct buf *out, uint64_t *size_r, uint64_t *dots_r)
{
	bool bol = true, cr = false;
	uint64_t dots = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (bol && c == '.') {
			buf_append_char(out, '.');
			dots++;
		}
		if (c == '\n') {
			if (!cr)
				buf_append_char(out, '\r');
			buf_append_char(out, '\n');
			bol = true;
			cr = false;
			continue;
		}
		buf_append_char(out, c);
		bol = false;
		cr = c == '\r';
	}
	if (!bol) {
		if (!cr)
			buf_append_char(out, '\r');
		buf_append_char(out, '\n');
	}
	*size_r = out->len - dots;
	*dots_r = dots;
	buf_append(out, ".\r\n", 3);
}

static void
test_pop3_maildir_lists_regular_files_of_new_and_cur_only(void **state)
{
	struct fixture *f = *state;
	struct maildir *md;
	char p[PATH_MAX], t[PATH_MAX];
	bool in_new;

	put_str(f, "new", "1000.A.host", "a\n", 1000);
	put_str(f, "cur", "1001.B.host:2,S", "b\n", 1001);
	put_str(f, "new", ".hidden", "x\n", 999);
	put_str(f, "cur", ".1002.C.host:2,", "x\n", 999);
	put_str(f, "tmp", "1003.D.host", "x\n", 999);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/new/subdir", f->dir), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/fifo", f->dir), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/link", f->dir), 0);
	assert_int_equal(path_fmt(t, sizeof(t), "%s/new/1000.A.host", f->dir), 0);
	assert_int_equal(symlink(t, p), 0);

	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 2);
	assert_string_equal(maildir_name(md, 0, &in_new), "1000.A.host");
	assert_true(in_new);
	assert_string_equal(maildir_name(md, 1, &in_new), "1001.B.host:2,S");
	assert_false(in_new);
	maildir_close(md);
}

static void
test_pop3_maildir_orders_by_mtime_then_name(void **state)
{
	struct fixture *f = *state;
	struct maildir *md;

	put_str(f, "new", "c", "x\n", 3000);
	put_str(f, "cur", "b:2,", "x\n", 1000);
	put_str(f, "new", "a", "x\n", 2000);
	put_str(f, "cur", "z:2,S", "x\n", 1000);
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 4);
	assert_string_equal(maildir_uidl(md, 0), "b");
	assert_string_equal(maildir_uidl(md, 1), "z");
	assert_string_equal(maildir_uidl(md, 2), "a");
	assert_string_equal(maildir_uidl(md, 3), "c");
	maildir_close(md);
}

static bool
uidl_ok(const char *u)
{
	size_t n = strlen(u), i;

	if (n == 0 || n > MAILDIR_UIDL_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x21 || (unsigned char)u[i] > 0x7e)
			return false;
	return true;
}

static void
test_pop3_maildir_uidl_is_unique_part_of_name(void **state)
{
	struct fixture *f = *state;
	char long_name[100];
	struct maildir *md;
	size_t i, j;

	memset(long_name, 'L', 71);
	long_name[71] = '\0';
	put_str(f, "new", "1700000000.M1P2.mx,S=1234", "x\n", 1);
	put_str(f, "cur", "1700000001.M3P4.mx,S=99,W=101:2,FS", "x\n", 2);
	put_str(f, "cur", "with space:2,S", "x\n", 3);
	put_str(f, "cur", "caf\xc3\xa9:2,", "x\n", 4);
	put_str(f, "new", long_name, "x\n", 5);
	put_str(f, "cur", ":2,S", "x\n", 6);    /* empty unique part */
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 6);
	/* qmail-pop3d's and Dovecot's %f form: up to the first ':', ",S=" kept. */
	assert_string_equal(maildir_uidl(md, 0), "1700000000.M1P2.mx,S=1234");
	assert_string_equal(maildir_uidl(md, 1), "1700000001.M3P4.mx,S=99,W=101");
	/* The others cannot be UIDLs as they are: hashed into the allowed form. */
	for (i = 2; i < 6; i++) {
		assert_true(uidl_ok(maildir_uidl(md, i)));
		assert_memory_equal(maildir_uidl(md, i), MAILDIR_UIDL_HASH_PREFIX,
				    strlen(MAILDIR_UIDL_HASH_PREFIX));
	}
	for (i = 0; i < 6; i++)
		for (j = i + 1; j < 6; j++)
			assert_string_not_equal(maildir_uidl(md, i), maildir_uidl(md, j));
	maildir_close(md);

	/* A 70-character name is still its own UIDL. */
	long_name[70] = '\0';
	put_str(f, "new", long_name, "x\n", 7);
	md = open_md(f, 0);
	assert_string_equal(maildir_uidl(md, 6), long_name);
	maildir_close(md);
}

static void
test_pop3_maildir_duplicate_unique_names_get_distinct_uidls(void **state)
{
	struct fixture *f = *state;
	struct maildir *md;
	char first[2][100];
	int k;

	/* A broken Maildir: the same message in new/ and cur/. */
	put_str(f, "new", "1.dup.host", "x\n", 1);
	put_str(f, "cur", "1.dup.host:2,S", "x\n", 2);
	put_str(f, "cur", "1.dup.host:2,T", "x\n", 3);
	for (k = 0; k < 2; k++) {
		md = open_md(f, 0);
		assert_int_equal(maildir_count(md), 3);
		assert_string_not_equal(maildir_uidl(md, 0), maildir_uidl(md, 1));
		assert_string_not_equal(maildir_uidl(md, 0), maildir_uidl(md, 2));
		assert_string_not_equal(maildir_uidl(md, 1), maildir_uidl(md, 2));
		assert_true(uidl_ok(maildir_uidl(md, 1)) && uidl_ok(maildir_uidl(md, 2)));
		snprintf(first[k], sizeof(first[k]), "%s|%s", maildir_uidl(md, 1), maildir_uidl(md, 2));
		maildir_close(md);
	}
	/* And the same ones next time. */
	assert_string_equal(first[0], first[1]);
}

/* Each awkward message: the exact wire form, and size = wire - dots - 3. */
static void
test_pop3_maildir_stuffing_and_line_endings(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *wire;
		uint64_t size;
	} cases[] = {
		{ "", 0, ".\r\n", 0 },
		{ ".\n", 2, "..\r\n.\r\n", 3 },
		{ "..\n", 3, "...\r\n.\r\n", 4 },
		{ ".x\n", 3, "..x\r\n.\r\n", 4 },
		{ "a\n.\nb\n", 6, "a\r\n..\r\nb\r\n.\r\n", 9 },
		{ "a\r\n.\r\n", 6, "a\r\n..\r\n.\r\n", 6 },
		{ "lf only\n", 8, "lf only\r\n.\r\n", 9 },
		{ "cr\ronly\r", 8, "cr\ronly\r\n.\r\n", 9 },
		{ "no final newline", 16, "no final newline\r\n.\r\n", 18 },
		{ ".", 1, "..\r\n.\r\n", 3 },
		{ "\n\n", 2, "\r\n\r\n.\r\n", 4 },
		{ "\r.\n", 3, "\r.\r\n.\r\n", 4 },
		{ "a\r\r\nb", 5, "a\r\r\nb\r\n.\r\n", 7 },
		{ "nul\0byte\n", 9, "nul\0byte\r\n.\r\n", 10 },
		{ "x\n.\r\n.", 6, "x\r\n..\r\n..\r\n.\r\n", 9 },
	};
	struct fixture *f = *state;
	struct maildir *md;
	size_t i, n = sizeof(cases) / sizeof(cases[0]);

	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%02zu", i);
		put_msg(f, "new", name, cases[i].in, cases[i].len, (time_t)(1000 + i));
	}
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), n);
	for (i = 0; i < n; i++) {
		struct buf out, ref;
		uint64_t size = 0, lsize = 0, msize, dots;
		size_t wlen = strlen(cases[i].wire);

		if (i == 13)
			wlen = 13;      /* the case with a NUL */
		buf_init(&out, 0);
		buf_init(&ref, 0);
		stream_all(md, i, -1, &out, &size);
		assert_int_equal(out.len, wlen);
		assert_memory_equal(out.data, cases[i].wire, wlen);
		assert_int_equal(size, cases[i].size);
		assert_int_equal(maildir_size(md, i, &lsize), 0);
		assert_int_equal(lsize, size);
		model(cases[i].in, cases[i].len, &ref, &msize, &dots);
		assert_int_equal(ref.len, out.len);
		assert_memory_equal(ref.data, out.data, out.len);
		/* The documented relation: RETR body = size + stuffed dots + ".\r\n". */
		assert_int_equal(out.len, size + dots + 3);
		buf_free(&out);
		buf_free(&ref);
	}
	maildir_close(md);
}

/* Lines and CR/LF pairs that straddle the 64 KiB read chunks, and a 100 KB line. */
static void
test_pop3_maildir_chunk_boundaries_and_long_lines(void **state)
{
	struct fixture *f = *state;
	size_t big = 3 * MAILDIR_CHUNK + 17, i;
	char *data = malloc(big);
	struct maildir *md;
	int k;

	assert_non_null(data);
	/* 0: a single 100 KB line without a newline at all. */
	memset(data, 'x', 100 * 1024);
	put_msg(f, "new", "k0", data, 100 * 1024, 1);
	/* 1: CR as the last byte of a chunk, LF first of the next. */
	memset(data, 'y', big);
	data[MAILDIR_CHUNK - 1] = '\r';
	data[MAILDIR_CHUNK] = '\n';
	/* 2: LF last of a chunk, '.' first of the next (must be stuffed). */
	data[2 * MAILDIR_CHUNK - 1] = '\n';
	data[2 * MAILDIR_CHUNK] = '.';
	/* A lone CR right before a chunk end, then '.' (not a line start). */
	data[3 * MAILDIR_CHUNK - 1] = '\r';
	data[3 * MAILDIR_CHUNK] = '.';
	put_msg(f, "new", "k1", data, big, 2);
	/* 3: many short awkward lines, pseudo-random, crossing every boundary. */
	{
		uint32_t x = 12345;

		for (i = 0; i < big; i++) {
			x = x * 1103515245u + 12345u;
			switch ((x >> 16) % 8) {
			case 0: data[i] = '\n'; break;
			case 1: data[i] = '\r'; break;
			case 2: case 3: data[i] = '.'; break;
			default: data[i] = (char)('a' + (x >> 20) % 26); break;
			}
		}
	}
	put_msg(f, "new", "k2", data, big, 3);
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 3);
	for (k = 0; k < 3; k++) {
		struct buf out, ref;
		uint64_t size = 0, msize, dots;
		char p[PATH_MAX];
		struct stat st;
		char *in;
		int fd;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/new/k%d", f->dir, k), 0);
		assert_int_equal(stat(p, &st), 0);
		in = malloc((size_t)st.st_size);
		fd = open(p, O_RDONLY);
		assert_int_equal(read(fd, in, (size_t)st.st_size), st.st_size);
		close(fd);
		buf_init(&out, 0);
		buf_init(&ref, 0);
		stream_all(md, (size_t)k, -1, &out, &size);
		model(in, (size_t)st.st_size, &ref, &msize, &dots);
		assert_int_equal(out.len, ref.len);
		assert_memory_equal(out.data, ref.data, ref.len);
		assert_int_equal(size, msize);
		assert_int_equal(out.len, size + dots + 3);
		if (k == 0)
			assert_int_equal(size, 100 * 1024 + 2);
		buf_free(&out);
		buf_free(&ref);
		free(in);
	}
	maildir_close(md);
	free(data);
}

static void
test_pop3_maildir_top_sends_header_and_n_body_lines(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "From: a\nSubject: s\n\nline1\n.line2\nline3\n";
	static const char crlf[] = "From: a\r\nX: y\r\n\r\nb1\r\nb2\r\n";
	struct maildir *md;
	struct buf out;

	put_str(f, "new", "t1", msg, 1);
	put_str(f, "new", "t2", crlf, 2);
	put_str(f, "new", "t3", "Header: only\nNo: body", 3);
	md = open_md(f, 0);

	buf_init(&out, 0);
	stream_all(md, 0, 0, &out, NULL);
	assert_string_equal(out.data, "From: a\r\nSubject: s\r\n\r\n.\r\n");
	buf_reset(&out);
	stream_all(md, 0, 2, &out, NULL);
	assert_string_equal(out.data, "From: a\r\nSubject: s\r\n\r\nline1\r\n..line2\r\n.\r\n");
	buf_reset(&out);
	/* More lines than the body has: the whole message. */
	stream_all(md, 0, 1000, &out, NULL);
	assert_string_equal(out.data,
			    "From: a\r\nSubject: s\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n");
	buf_reset(&out);
	stream_all(md, 1, 1, &out, NULL);
	assert_string_equal(out.data, "From: a\r\nX: y\r\n\r\nb1\r\n.\r\n");
	buf_reset(&out);
	/* No empty line: everything is header, and the last line is completed. */
	stream_all(md, 2, 0, &out, NULL);
	assert_string_equal(out.data, "Header: only\r\nNo: body\r\n.\r\n");
	buf_free(&out);
	maildir_close(md);
}

static void
test_pop3_maildir_lock_excludes_second_session(void **state)
{
	struct fixture *f = *state;
	struct maildir *a, *b = NULL;
	const char *why = NULL;

	a = open_md(f, MAILDIR_OPEN_LOCK);
	errno = 0;
	assert_int_equal(maildir_open(f->dir, MAILDIR_OPEN_LOCK, &b, &why), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_non_null(why);
	/* Reading without the lock still works (tools, tests). */
	b = open_md(f, 0);
	maildir_close(b);
	maildir_close(a);
	b = open_md(f, MAILDIR_OPEN_LOCK);
	maildir_close(b);
	/* The lock file is a dot-less name at the top, never a message. */
	assert_true(exists(f, ".", MAILDIR_LOCK_NAME));
}

static void
test_pop3_maildir_missing_folders_fail(void **state)
{
	struct fixture *f = *state;
	struct maildir *md = NULL;
	const char *why = NULL;
	char p[PATH_MAX];

	assert_int_equal(path_fmt(p, sizeof(p), "%s/nonexistent", f->dir), 0);
	assert_int_equal(maildir_open(p, 0, &md, &why), -1);
	assert_non_null(why);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur", f->dir), 0);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(maildir_open(f->dir, 0, &md, &why), -1);
}

static void
test_pop3_maildir_update_deletes_and_marks_seen(void **state)
{
	struct fixture *f = *state;
	struct maildir_update_stats us;
	struct maildir *md;
	const char *why;
	struct buf out;
	uint64_t size;
	size_t i;

	put_str(f, "new", "u1", "one\n", 1);            /* RETR: to cur/u1:2,S */
	put_str(f, "new", "u2", "two\n", 2);            /* DELE */
	put_str(f, "cur", "u3:2,F", "three\n", 3);      /* RETR: u3:2,FS */
	put_str(f, "cur", "u4:2,ab", "four\n", 4);      /* RETR: u4:2,Sab (ASCII order) */
	put_str(f, "cur", "u5:2,RS", "five\n", 5);      /* RETR: unchanged */
	put_str(f, "cur", "u6", "six\n", 6);            /* RETR: u6:2,S */
	put_str(f, "new", "u7", "seven\n", 7);          /* TOP only: stays in new/ */
	put_str(f, "cur", "u8:1,x", "eight\n", 8);      /* RETR: unknown info kept */
	put_str(f, "new", "u9", "nine\n", 9);           /* DELE, then vanishes */
	md = open_md(f, MAILDIR_OPEN_LOCK);
	assert_int_equal(maildir_count(md), 9);
	buf_init(&out, 0);
	for (i = 0; i < 9; i++) {
		if (i == 1 || i == 8)
			continue;
		buf_reset(&out);
		stream_all(md, i, i == 6 ? 0 : -1, &out, &size);
		if (i != 6)
			maildir_mark_seen(md, i);
	}
	buf_free(&out);
	assert_int_equal(maildir_size(md, 1, &size), 0);
	assert_int_equal(size, 5);
	maildir_delete(md, 1);
	maildir_delete(md, 8);
	assert_int_equal(maildir_msg_state(md, 1), MAILDIR_MSG_DELETED);
	{
		char p[PATH_MAX];

		assert_int_equal(path_fmt(p, sizeof(p), "%s/new/u9", f->dir), 0);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(maildir_update(md, &us, &why), 0);
	assert_int_equal(us.deleted, 2);
	assert_int_equal(us.deleted_bytes, 5 + 5);      /* u2 counted by size, u9 by file size */
	assert_int_equal(us.delete_failed, 0);
	assert_int_equal(us.moved, 4);         /* u1, u3, u4, u6 */
	maildir_close(md);

	assert_true(exists(f, "cur", "u1:2,S"));
	assert_false(exists(f, "new", "u1"));
	assert_false(exists(f, "new", "u2"));
	assert_true(exists(f, "cur", "u3:2,FS"));
	assert_true(exists(f, "cur", "u4:2,Sab"));
	assert_true(exists(f, "cur", "u5:2,RS"));
	assert_true(exists(f, "cur", "u6:2,S"));
	assert_true(exists(f, "new", "u7"));
	assert_true(exists(f, "cur", "u8:1,x"));
}

static void
test_pop3_maildir_rset_undeletes(void **state)
{
	struct fixture *f = *state;
	struct maildir_update_stats us;
	struct maildir *md;
	const char *why;

	put_str(f, "new", "r1", "x\n", 1);
	md = open_md(f, 0);
	maildir_delete(md, 0);
	maildir_undelete_all(md);
	assert_int_equal(maildir_msg_state(md, 0), MAILDIR_MSG_PRESENT);
	assert_int_equal(maildir_update(md, &us, &why), 0);
	assert_int_equal(us.deleted, 0);
	maildir_close(md);
	assert_true(exists(f, "new", "r1"));
}

static void
test_pop3_maildir_uidl_stable_after_move_to_cur(void **state)
{
	struct fixture *f = *state;
	struct maildir_update_stats us;
	struct maildir *md;
	const char *why;
	struct buf out;
	char before[3][80];
	size_t i;

	put_str(f, "new", "1.s1.host,S=6", "abcde\n", 1);
	put_str(f, "new", "2.s2.host", "x\n", 2);
	put_str(f, "cur", "3.s3.host:2,", "y\n", 3);
	md = open_md(f, 0);
	buf_init(&out, 0);
	for (i = 0; i < 3; i++) {
		snprintf(before[i], sizeof(before[i]), "%s", maildir_uidl(md, i));
		stream_all(md, i, -1, &out, NULL);
		maildir_mark_seen(md, i);
	}
	buf_free(&out);
	assert_int_equal(maildir_update(md, &us, &why), 0);
	maildir_close(md);
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(maildir_uidl(md, i), before[i]);
	maildir_close(md);
	assert_true(exists(f, "cur", "1.s1.host,S=6:2,S"));
}

/* Another mail client moves or removes files while the session runs. */
static void
test_pop3_maildir_follows_moved_and_tolerates_vanished_files(void **state)
{
	struct fixture *f = *state;
	struct maildir_update_stats us;
	struct maildir *md;
	const char *why;
	struct maildir_stream *st;
	char a[PATH_MAX], b[PATH_MAX];
	struct buf out;
	uint64_t size;

	put_str(f, "new", "v1", "moved\n", 1);
	put_str(f, "new", "v2", "vanishes\n", 2);
	put_str(f, "cur", "v3:2,", "flagged later\n", 3);
	md = open_md(f, 0);
	/* v1 moved to cur/ by an IMAP server, v3 got a flag, v2 removed. */
	assert_int_equal(path_fmt(a, sizeof(a), "%s/new/v1", f->dir), 0);
	assert_int_equal(path_fmt(b, sizeof(b), "%s/cur/v1:2,S", f->dir), 0);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(path_fmt(a, sizeof(a), "%s/cur/v3:2,", f->dir), 0);
	assert_int_equal(path_fmt(b, sizeof(b), "%s/cur/v3:2,F", f->dir), 0);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(path_fmt(a, sizeof(a), "%s/new/v2", f->dir), 0);
	assert_int_equal(unlink(a), 0);

	buf_init(&out, 0);
	stream_all(md, 0, -1, &out, &size);
	assert_string_equal(out.data, "moved\r\n.\r\n");
	assert_int_equal(size, 7);
	errno = 0;
	assert_int_equal(maildir_stream_open(md, 1, -1, &st, &size), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_msg_state(md, 1), MAILDIR_MSG_GONE);
	assert_int_equal(maildir_size(md, 1, &size), -1);
	maildir_mark_seen(md, 0);
	maildir_mark_seen(md, 2);
	maildir_delete(md, 1);
	buf_free(&out);
	assert_int_equal(maildir_update(md, &us, &why), 0);
	assert_int_equal(us.delete_failed, 0);
	maildir_close(md);
	assert_true(exists(f, "cur", "v1:2,S"));
	assert_true(exists(f, "cur", "v3:2,FS"));
}

/* Replace folder/name by a FIFO. */
static void
swap_in_fifo(const struct fixture *f, const char *folder, const char *name)
{
	char p[PATH_MAX];

	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", f->dir, folder, name), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
}

/*
 * A FIFO swapped in for a listed message after the listing: opening it
 * must neither block (before the fix open(2) waited for a writer for
 * ever; alarm() makes that a failure, not a hang) nor read it; the
 * message is gone (EINVAL: not a regular file), the others still read.
 */
static void
test_pop3_maildir_fifo_swapped_in_is_refused_at_once(void **state)
{
	struct fixture *f = *state;
	struct maildir_update_stats us;
	struct maildir_stream *st = NULL;
	struct maildir *md;
	const char *why;
	struct buf out;
	struct stat sb;
	uint64_t size;
	char p[PATH_MAX];

	alarm(20);
	put_str(f, "new", "f1", "first\n", 1);
	put_str(f, "cur", "f2:2,", "second\n", 2);
	put_str(f, "new", "f3", "third\n", 3);
	md = open_md(f, MAILDIR_OPEN_LOCK);
	swap_in_fifo(f, "new", "f1");
	swap_in_fifo(f, "cur", "f2:2,");

	errno = 0;
	assert_int_equal(maildir_stream_open(md, 0, -1, &st, &size), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(st);
	assert_int_equal(maildir_msg_state(md, 0), MAILDIR_MSG_GONE);
	errno = 0;
	assert_int_equal(maildir_stream_open(md, 1, 0, &st, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(maildir_msg_state(md, 1), MAILDIR_MSG_GONE);
	assert_int_equal(maildir_size(md, 1, &size), -1);

	buf_init(&out, 0);
	stream_all(md, 2, -1, &out, &size);
	assert_string_equal(out.data, "third\r\n.\r\n");
	buf_free(&out);
	maildir_mark_seen(md, 0);
	assert_int_equal(maildir_update(md, &us, &why), 0);
	assert_int_equal(us.moved, 0);
	maildir_close(md);
	/* The FIFO was left where it was, not given the S flag. */
	assert_int_equal(path_fmt(p, sizeof(p), "%s/new/f1", f->dir), 0);
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));

	/* Never listed either, when it is there at the start. */
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), 1);
	maildir_close(md);

	/* A FIFO in place of the lock file is refused, not used as a lock. */
	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s", f->dir, MAILDIR_LOCK_NAME), 0);
	(void)unlink(p);
	assert_int_equal(mkfifo(p, 0600), 0);
	md = NULL;
	errno = 0;
	assert_int_equal(maildir_open(f->dir, MAILDIR_OPEN_LOCK, &md, &why), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(why, "the lock file is not a regular file");
	alarm(0);
}

static void
test_pop3_maildir_refuses_more_than_max_messages(void **state)
{
	struct fixture *f = *state;
	struct maildir *md = NULL;
	const char *why = NULL;
	char p[PATH_MAX];
	int i, fd;

	for (i = 0; i <= MAILDIR_MAX_MESSAGES; i++) {
		assert_int_equal(path_fmt(p, sizeof(p), "%s/new/%d", f->dir, i), 0);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	errno = 0;
	assert_int_equal(maildir_open(f->dir, 0, &md, &why), -1);
	assert_int_equal(errno, E2BIG);
	assert_non_null(strstr(why, MAILDIR_LIMIT_TEXT));
	/* One fewer is fine. */
	assert_int_equal(path_fmt(p, sizeof(p), "%s/new/0", f->dir), 0);
	assert_int_equal(unlink(p), 0);
	md = open_md(f, 0);
	assert_int_equal(maildir_count(md), MAILDIR_MAX_MESSAGES);
	maildir_close(md);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup_maildir, teardown_maildir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pop3_maildir_lists_regular_files_of_new_and_cur_only),
		T(test_pop3_maildir_orders_by_mtime_then_name),
		T(test_pop3_maildir_uidl_is_unique_part_of_name),
		T(test_pop3_maildir_duplicate_unique_names_get_distinct_uidls),
		T(test_pop3_maildir_stuffing_and_line_endings),
		T(test_pop3_maildir_chunk_boundaries_and_long_lines),
		T(test_pop3_maildir_top_sends_header_and_n_body_lines),
		T(test_pop3_maildir_lock_excludes_second_session),
		T(test_pop3_maildir_missing_folders_fail),
		T(test_pop3_maildir_update_deletes_and_marks_seen),
		T(test_pop3_maildir_rset_undeletes),
		T(test_pop3_maildir_uidl_stable_after_move_to_cur),
		T(test_pop3_maildir_follows_moved_and_tolerates_vanished_files),
		T(test_pop3_maildir_fifo_swapped_in_is_refused_at_once),
		T(test_pop3_maildir_refuses_more_than_max_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
