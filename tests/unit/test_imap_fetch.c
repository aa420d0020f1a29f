/* test_imap_fetch.c - unit tests for FETCH (imapd/imap_fetch.c) on a real Maildir: every attribute and macro, the reply lines exactly, partials, \Seen. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imap_fetch.h"
#include "imap_message.h"
#include "imap_testbox.h"

/*
 * The names start with the delivery time, as Maildir names do (the
 * mailbox may take INTERNALDATE from there), and sort as listed here.
 * 1: simple.eml, \Seen, 14-Nov-2023 22:13:20 UTC; 311 octets in CRLF form (302 stored, 9 LF).
 * 2: multipart.eml, no flag, 29-Feb-2024 08:00:00 UTC; 544 octets CRLF (522 stored).
 * 3: crlf.eml, \Flagged \Answered, 01-Jan-2025 00:00:00 UTC; 126 octets, but ",W=999" in its name.
 * 4: nul.eml, \Seen: a NUL in its text "A\0B (x".
 */
static const struct testbox_msg msgs[] = {
	{ "simple.eml", "1700000000.M1P1.test:2,S", 1700000000 },
	{ "multipart.eml", "1709193600.M2P2.test:2,", 1709193600 },
	{ "crlf.eml", "1735689600.M3P3.test,W=999:2,FR", 1735689600 },
	{ "nul.eml", "1740000000.M4P4.test:2,S", 1740000000 },
};

#define SIMPLE_HEADER \
	"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n" \
	"From: Fred Foobar <foobar@Blurdybloop.example>\r\n" \
	"Subject: afternoon meeting\r\n" \
	"To: mooch@owatagu.example\r\n" \
	"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" \
	"\r\n"
#define SIMPLE_TEXT "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"

struct fx {
	struct testbox tb;
	struct buf out;
	const char *error;
};

static int
setup_rw(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || testbox_make(&f->tb, msgs, sizeof(msgs) / sizeof(msgs[0]), false) < 0)
		return -1;
	buf_init(&f->out, 0);
	*state = f;
	return 0;
}

static int
setup_ro(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || testbox_make(&f->tb, msgs, sizeof(msgs) / sizeof(msgs[0]), true) < 0)
		return -1;
	buf_init(&f->out, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	testbox_free(&f->tb);
	buf_free(&f->out);
	free(f);
	return 0;
}

/* FETCH (or UID FETCH) of seq with attrs as a client writes them; the reply in f->out (reset first). */
static int
fetch(struct fx *f, uint32_t seq, const char *attrs, bool uid)
{
	char line[1024];
	const struct imap_arg *args;
	struct imap_fetch *fe;
	size_t n;
	int ret;

	buf_reset(&f->out);
	snprintf(line, sizeof(line), "a FETCH %u %s", seq, attrs);
	args = testbox_parse(&f->tb, line, &n);
	if (args == NULL) {
		/* The parser refused it already (an unclosed '['): a BAD too. */
		f->error = imap_parser_error(f->tb.parser);
		return -2;
	}
	assert_true(n >= 1);
	if (imap_fetch_parse(args + 1, n - 1, uid, &fe, &f->error) < 0)
		return -2;
	ret = imap_fetch_message(fe, f->tb.mb, seq, &f->out);
	imap_fetch_free(fe);
	return ret;
}

/* The flags list the message has now, \Recent added when the folder says so. */
static const char *
flags(struct fx *f, uint32_t seq, const char *sys)
{
	static char s[256];
	const struct imap_msg *m = imap_mailbox_msg(f->tb.mb, seq);

	assert_non_null(m);
	if (m->recent)
		snprintf(s, sizeof(s), "(%s%s\\Recent)", sys, sys[0] != '\0' ? " " : "");
	else
		snprintf(s, sizeof(s), "(%s)", sys);
	return s;
}

/* s begins with prefix. */
#define assert_prefix(s, prefix) assert_true(strncmp((s), (prefix), strlen(prefix)) == 0)

static void
assert_out(struct fx *f, const char *want)
{
	assert_non_null(f->out.data);
	assert_int_equal(f->out.len, strlen(want));
	assert_memory_equal(f->out.data, want, f->out.len);
}

static void
expect_line(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
expect_line(struct fx *f, const char *fmt, ...)
{
	struct buf want;
	va_list ap;

	buf_init(&want, 0);
	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&want, fmt, ap), 0);
	va_end(ap);
	assert_out(f, want.data);
	buf_free(&want);
}

static void
test_imap_fetch_flags_uid_in_order_asked(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(FLAGS UID)", false), 0);
	expect_line(f, "* 1 FETCH (FLAGS %s UID 1)\r\n", flags(f, 1, "\\Seen"));
	assert_int_equal(fetch(f, 3, "(UID FLAGS)", false), 0);
	expect_line(f, "* 3 FETCH (UID 3 FLAGS %s)\r\n", flags(f, 3, "\\Answered \\Flagged"));
	/* A single attribute without parentheses, in any case. */
	assert_int_equal(fetch(f, 2, "flags", false), 0);
	expect_line(f, "* 2 FETCH (FLAGS %s)\r\n", flags(f, 2, ""));
}

static void
test_imap_fetch_uid_command_puts_uid_first_once(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(FLAGS)", true), 0);
	expect_line(f, "* 1 FETCH (UID 1 FLAGS %s)\r\n", flags(f, 1, "\\Seen"));
	assert_int_equal(fetch(f, 1, "(FLAGS UID)", true), 0);
	expect_line(f, "* 1 FETCH (UID 1 FLAGS %s)\r\n", flags(f, 1, "\\Seen"));
}

static void
test_imap_fetch_fast_macro(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "FAST", false), 0);
	expect_line(f, "* 1 FETCH (FLAGS %s INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 311)\r\n",
		    flags(f, 1, "\\Seen"));
	assert_int_equal(fetch(f, 2, "fast", false), 0);
	expect_line(f, "* 2 FETCH (FLAGS %s INTERNALDATE \"29-Feb-2024 08:00:00 +0000\" RFC822.SIZE 544)\r\n",
		    flags(f, 2, ""));
}

/* ENVELOPE, BODY and BODYSTRUCTURE are imap_message's; FETCH names and places them. */
static void
test_imap_fetch_all_and_full_macros(void **state)
{
	struct fx *f = *state;
	struct buf raw, env, body;
	struct imap_message *m;

	buf_init(&raw, 0);
	buf_init(&env, 0);
	buf_init(&body, 0);
	assert_int_equal(imap_mailbox_read(f->tb.mb, 1, &raw), 0);
	m = imap_message_new(raw.data, raw.len);
	assert_non_null(m);
	imap_message_envelope(m, &env);
	imap_message_bodystructure(m, false, &body);
	assert_true(env.len > 2 && env.data[0] == '(');

	assert_int_equal(fetch(f, 1, "ALL", false), 0);
	expect_line(f, "* 1 FETCH (FLAGS %s INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 311 "
		    "ENVELOPE %s)\r\n", flags(f, 1, "\\Seen"), env.data);
	assert_int_equal(fetch(f, 1, "FULL", false), 0);
	expect_line(f, "* 1 FETCH (FLAGS %s INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 311 "
		    "ENVELOPE %s BODY %s)\r\n", flags(f, 1, "\\Seen"), env.data, body.data);
	imap_message_free(m);
	buf_free(&raw);
	buf_free(&env);
	buf_free(&body);
}

static void
test_imap_fetch_envelope_of_the_rfc_example(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(ENVELOPE)", false), 0);
	assert_out(f, "* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" "
		   "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
		   "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
		   "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
		   "((NIL NIL \"mooch\" \"owatagu.example\")) NIL NIL NIL "
		   "\"<B27397-0100000@Blurdybloop.example>\"))\r\n");
}

static void
test_imap_fetch_bodystructure_is_extended(void **state)
{
	struct fx *f = *state;
	struct buf raw, bs;
	struct imap_message *m;

	buf_init(&raw, 0);
	buf_init(&bs, 0);
	assert_int_equal(imap_mailbox_read(f->tb.mb, 2, &raw), 0);
	m = imap_message_new(raw.data, raw.len);
	imap_message_bodystructure(m, true, &bs);
	assert_int_equal(fetch(f, 2, "(BODYSTRUCTURE UID)", false), 0);
	expect_line(f, "* 2 FETCH (BODYSTRUCTURE %s UID 2)\r\n", bs.data);
	/* multipart/mixed, with its boundary parameter: the extended form */
	assert_non_null(strcasestr(bs.data, "\"mixed\""));
	assert_non_null(strcasestr(bs.data, "\"boundary\" \"b1\""));
	imap_message_free(m);
	buf_free(&raw);
	buf_free(&bs);
}

/* RFC822.SIZE from ",W=" in the name: the file is not even opened. */
static void
test_imap_fetch_size_from_name_without_reading(void **state)
{
	struct fx *f = *state;

	assert_int_equal(testbox_unlink(&f->tb, imap_mailbox_msg(f->tb.mb, 3)->name), 0);
	assert_int_equal(fetch(f, 3, "(UID RFC822.SIZE FLAGS INTERNALDATE)", false), 0);
	expect_line(f, "* 3 FETCH (UID 3 RFC822.SIZE 999 FLAGS %s INTERNALDATE \"01-Jan-2025 00:00:00 +0000\")\r\n",
		    flags(f, 3, "\\Answered \\Flagged"));
}

/* A body part of a message deleted meanwhile: ENOENT and nothing written, \Seen not stored. */
static void
test_imap_fetch_gone_message_appends_nothing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(testbox_unlink(&f->tb, imap_mailbox_msg(f->tb.mb, 2)->name), 0);
	buf_reset(&f->out);
	buf_append_str(&f->out, "before");
	{
		const struct imap_arg *args;
		struct imap_fetch *fe;
		size_t n;

		args = testbox_parse(&f->tb, "a FETCH 2 (UID BODY[])", &n);
		assert_int_equal(imap_fetch_parse(args + 1, n - 1, false, &fe, &f->error), 0);
		errno = 0;
		assert_int_equal(imap_fetch_message(fe, f->tb.mb, 2, &f->out), -1);
		assert_int_equal(errno, ENOENT);
		imap_fetch_free(fe);
	}
	assert_out(f, "before");
	assert_int_equal(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN, 0);
}

static void
test_imap_fetch_body_sets_seen_and_reports_flags(void **state)
{
	struct fx *f = *state;

	assert_false(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	assert_int_equal(fetch(f, 2, "(BODY[TEXT])", false), 0);
	assert_true(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	/* FLAGS first (the short items come before the literals), with \Seen now. */
	assert_prefix(f->out.data, "* 2 FETCH (FLAGS ");
	assert_non_null(strstr(f->out.data, "\\Seen"));
	assert_non_null(strstr(f->out.data, ") BODY[TEXT] {261}\r\nPreamble.\r\n--b1\r\n"));
	/* Already \Seen: no FLAGS unless asked. */
	assert_int_equal(fetch(f, 2, "(UID BODY[TEXT])", false), 0);
	assert_prefix(f->out.data, "* 2 FETCH (UID 2 BODY[TEXT] {261}\r\nPreamble.");
}

static void
test_imap_fetch_seen_flags_after_short_items(void **state)
{
	struct fx *f = *state;

	const char *want;

	assert_int_equal(fetch(f, 2, "(BODY[] UID)", false), 0);
	want = flags(f, 2, "\\Seen");
	assert_prefix(f->out.data, "* 2 FETCH (UID 2 FLAGS ");
	assert_prefix(f->out.data + 23, want);
	assert_prefix(f->out.data + 23 + strlen(want), " BODY[] {544}\r\nDate: Thu");
}

static void
test_imap_fetch_rfc822_sets_seen(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 2, "RFC822", false), 0);
	assert_true(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	assert_non_null(strstr(f->out.data, " RFC822 {544}\r\nDate: Thu, 29 Feb 2024"));
}

static void
test_imap_fetch_rfc822_text_sets_seen(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 2, "(UID RFC822.TEXT)", false), 0);
	assert_true(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	assert_non_null(strstr(f->out.data, " RFC822.TEXT {261}\r\nPreamble."));
}

static void
test_imap_fetch_peek_and_rfc822_header_leave_seen(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 2, "(BODY.PEEK[] RFC822.HEADER BODY.PEEK[TEXT]<0.8>)", false), 0);
	assert_false(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	assert_prefix(f->out.data, "* 2 FETCH (BODY[] {544}\r\nDate: ");
	assert_non_null(strstr(f->out.data, "--b1--\r\n RFC822.HEADER {283}\r\nDate: Thu"));
	assert_non_null(strstr(f->out.data, "\r\n\r\n BODY[TEXT]<0> {8}\r\nPreamble)\r\n"));
}

/* EXAMINE: a body fetch stores nothing and reports no FLAGS. */
static void
test_imap_fetch_readonly_does_not_set_seen(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 2, "(UID BODY[HEADER.FIELDS (SUBJECT)])", false), 0);
	assert_false(imap_mailbox_msg(f->tb.mb, 2)->flags & IMAP_FLAG_SEEN);
	assert_out(f, "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {44}\r\n"
		   "Subject: =?UTF-8?Q?R=C3=A9union?= report\r\n\r\n)\r\n");
}

static void
test_imap_fetch_whole_body_in_crlf(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "BODY[]", false), 0);
	assert_out(f, "* 1 FETCH (BODY[] {311}\r\n" SIMPLE_HEADER SIMPLE_TEXT ")\r\n");
	/* A file stored with CRLF already is sent as it is. */
	assert_int_equal(fetch(f, 3, "BODY.PEEK[TEXT]", false), 0);
	assert_out(f, "* 3 FETCH (BODY[TEXT] {20}\r\nline one\r\nline two\r\n)\r\n");
}

static void
test_imap_fetch_header_fields_echoed_in_upper_case(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(body.peek[header.fields (from Subject)])", false), 0);
	assert_out(f, "* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {78}\r\n"
		   "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
		   "Subject: afternoon meeting\r\n\r\n)\r\n");
	assert_int_equal(fetch(f, 1, "BODY.PEEK[HEADER.FIELDS.NOT (Date From Subject To Message-Id MIME-Version)]", false), 0);
	assert_out(f, "* 1 FETCH (BODY[HEADER.FIELDS.NOT (DATE FROM SUBJECT TO MESSAGE-ID MIME-VERSION)] {46}\r\n"
		   "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n)\r\n");
}

static void
test_imap_fetch_header_and_text_sections(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(BODY.PEEK[HEADER] BODY.PEEK[TEXT])", false), 0);
	assert_out(f, "* 1 FETCH (BODY[HEADER] {256}\r\n" SIMPLE_HEADER
		   " BODY[TEXT] {55}\r\n" SIMPLE_TEXT ")\r\n");
	assert_int_equal(fetch(f, 1, "RFC822.HEADER", false), 0);
	assert_out(f, "* 1 FETCH (RFC822.HEADER {256}\r\n" SIMPLE_HEADER ")\r\n");
}

static void
test_imap_fetch_mime_part(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 2, "(BODY.PEEK[1] BODY.PEEK[1.MIME])", false), 0);
	assert_out(f, "* 2 FETCH (BODY[1] {33}\r\nThe caf=C3=A9 budget is approved."
		   " BODY[1.MIME] {88}\r\nContent-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: quoted-printable\r\n\r\n)\r\n");
	/* A part that is not there: an empty literal. */
	assert_int_equal(fetch(f, 2, "BODY.PEEK[7]", false), 0);
	assert_out(f, "* 2 FETCH (BODY[7] {0}\r\n)\r\n");
}

static void
test_imap_fetch_partial_in_range(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "BODY.PEEK[]<6.3>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[]<6> {3}\r\nMon)\r\n");
	assert_int_equal(fetch(f, 1, "BODY.PEEK[TEXT]<0.5>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[TEXT]<0> {5}\r\nHello)\r\n");
	/* The short form <origin> (Dovecot takes it): to the end. */
	assert_int_equal(fetch(f, 1, "BODY.PEEK[TEXT]<49>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[TEXT]<49> {6}\r\nrow?\r\n)\r\n");
}

static void
test_imap_fetch_partial_past_the_end_and_empty(void **state)
{
	struct fx *f = *state;

	/* Overlapping the end: what there is. */
	assert_int_equal(fetch(f, 1, "BODY.PEEK[TEXT]<50.100>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[TEXT]<50> {5}\r\now?\r\n)\r\n");
	/* Starting past the end: nothing (RFC 3501 section 6.4.5). */
	assert_int_equal(fetch(f, 1, "BODY.PEEK[TEXT]<500.10>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[TEXT]<500> {0}\r\n)\r\n");
	/* A zero length. */
	assert_int_equal(fetch(f, 1, "BODY.PEEK[]<0.0>", false), 0);
	assert_out(f, "* 1 FETCH (BODY[]<0> {0}\r\n)\r\n");
}

/* A literal holds no NUL: 0x80 instead, as Dovecot; and a literal ending in "(" is still followed by a space. */
static void
test_imap_fetch_nul_and_separators(void **state)
{
	struct fx *f = *state;
	static const char want[] = "* 4 FETCH (BODY[TEXT]<0> {5}\r\nA\x80" "B ( BODY[TEXT]<2> {1}\r\nB)\r\n";

	assert_int_equal(fetch(f, 4, "(BODY.PEEK[TEXT]<0.5> BODY.PEEK[TEXT]<2.1>)", false), 0);
	assert_int_equal(f->out.len, sizeof(want) - 1);
	assert_memory_equal(f->out.data, want, f->out.len);
}

/* The CRLF form as it was made before the single pass: each LF not after a CR gets a CR, NUL becomes 0x80. */
static size_t
reference_crlf(const char *d, size_t n, char *o)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			o[k++] = '\r';
		o[k++] = d[i] == '\0' ? (char)0x80 : d[i];
	}
	return k;
}

/*
 * BODY[] and RFC822 written from the file in one pass equal, octet for
 * octet, the CRLF form made the old way and the parsed message's own
 * form (asked for with ENVELOPE, which parses it), whole and for every
 * partial <origin.count>: CRLF, bare LF (first octet too), NUL, CR
 * alone, no final newline, an empty file.
 */
static void
test_imap_fetch_whole_body_single_pass_equals_crlf_form(void **state)
{
	static const struct {
		const char *d;
		size_t n;
	} samples[] = {
		{ "Subject: a\r\n\r\nb\nc", 18 },
		{ "\n\nX: y\n\nbody\n", 13 },
		{ "A: b\n\nx\0y\r\n\0\n\0", 14 },
		{ "S: 1\r\n\r\ncr\ralone\r\r\nend", 22 },
		{ "no newline at all", 17 },
		{ "\r\n", 2 },
		{ "", 0 },
	};
	struct fx *f = *state;
	struct imap_sync_report r;
	char path[4096], want[128], attrs[64], head[64];
	const char *error;
	size_t i, wlen, off, cnt, base;
	int fd;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		snprintf(path, sizeof(path), "%s/cur/17500000%02zu.M%zuP9.test:2,S", f->tb.root, i, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, samples[i].d, samples[i].n), (ssize_t)samples[i].n);
		close(fd);
	}
	memset(&r, 0, sizeof(r));
	assert_int_equal(imap_mailbox_sync(f->tb.mb, true, &r, &error), 0);
	free(r.expunged);
	free(r.changed);
	assert_int_equal(imap_mailbox_count(f->tb.mb), 4 + sizeof(samples) / sizeof(samples[0]));
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		uint32_t seq = (uint32_t)(5 + i);

		wlen = reference_crlf(samples[i].d, samples[i].n, want);
		assert_int_equal(fetch(f, seq, "BODY.PEEK[]", false), 0);
		snprintf(head, sizeof(head), "* %u FETCH (BODY[] {%zu}\r\n", seq, wlen);
		base = strlen(head);
		assert_int_equal(f->out.len, base + wlen + 3);
		assert_memory_equal(f->out.data, head, base);
		assert_memory_equal(f->out.data + base, want, wlen);
		/* The parsed form: ENVELOPE first (no literal), then the same octets. */
		assert_int_equal(fetch(f, seq, "(ENVELOPE BODY.PEEK[])", false), 0);
		assert_true(f->out.len > wlen + 3);
		assert_memory_equal(f->out.data + f->out.len - 3 - wlen, want, wlen);
		assert_memory_equal(f->out.data + f->out.len - 3 - wlen - strlen("BODY[] {0}\r\n") -
				    (wlen >= 10 ? 1 : 0), "BODY[]", 6);
		/* RFC822.SIZE agrees. */
		assert_int_equal(fetch(f, seq, "RFC822.SIZE", false), 0);
		snprintf(head, sizeof(head), "* %u FETCH (RFC822.SIZE %zu)\r\n", seq, wlen);
		assert_out(f, head);
		for (off = 0; off <= wlen + 1; off++) {
			for (cnt = 0; cnt <= wlen + 1 - off + 1; cnt++) {
				size_t o = off < wlen ? off : wlen, k = wlen - o < cnt ? wlen - o : cnt;

				snprintf(attrs, sizeof(attrs), "BODY.PEEK[]<%zu.%zu>", off, cnt);
				assert_int_equal(fetch(f, seq, attrs, false), 0);
				snprintf(head, sizeof(head), "* %u FETCH (BODY[]<%zu> {%zu}\r\n", seq, off, k);
				base = strlen(head);
				assert_int_equal(f->out.len, base + k + 3);
				assert_memory_equal(f->out.data, head, base);
				if (k > 0)
					assert_memory_equal(f->out.data + base, want + o, k);
				assert_memory_equal(f->out.data + base + k, ")\r\n", 3);
			}
		}
	}
}

/* RFC822.SIZE counted from a file is noted in the mailbox (for the UID list), and a noted one is used without reading. */
static void
test_imap_fetch_size_noted_and_reused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(imap_mailbox_msg(f->tb.mb, 1)->vsize, 0);
	assert_int_equal(fetch(f, 1, "RFC822.SIZE", false), 0);
	assert_out(f, "* 1 FETCH (RFC822.SIZE 311)\r\n");
	assert_int_equal(imap_mailbox_msg(f->tb.mb, 1)->vsize, 311);
	/* ",W=" in the name wins and is not noted again. */
	assert_int_equal(fetch(f, 3, "RFC822.SIZE", false), 0);
	assert_int_equal(imap_mailbox_msg(f->tb.mb, 3)->vsize, 0);
	/* A noted size (a later session's, from the list) is taken as it is. */
	imap_mailbox_set_vsize(f->tb.mb, 2, 4242);
	assert_int_equal(fetch(f, 2, "RFC822.SIZE", false), 0);
	assert_out(f, "* 2 FETCH (RFC822.SIZE 4242)\r\n");
}

static void
test_imap_fetch_bad_attributes(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fetch(f, 1, "(FLAGS FOO)", false), -2);
	assert_string_equal(f->error, "Invalid fetch attribute");
	assert_int_equal(fetch(f, 1, "RFC822.SIZEX", false), -2);
	assert_int_equal(fetch(f, 1, "()", false), -2);
	assert_int_equal(fetch(f, 1, "(ALL)", false), -2);            /* macros stand alone */
	assert_int_equal(fetch(f, 1, "\"FLAGS\"", false), -2);
	assert_int_equal(fetch(f, 1, "BODY[FOO]", false), -2);
	assert_int_equal(fetch(f, 1, "BODY[]<x.1>", false), -2);
	assert_int_equal(fetch(f, 1, "BODY[]<1.2", false), -2);
	assert_int_equal(fetch(f, 1, "BODY[]junk", false), -2);
	assert_int_equal(fetch(f, 1, "BODY.PEK[]", false), -2);
	assert_int_equal(fetch(f, 1, "BODY[HEADER", false), -2);
	buf_reset(&f->out);
}

static void
test_imap_fetch_sets_seen_query(void **state)
{
	struct fx *f = *state;
	const struct imap_arg *args;
	struct imap_fetch *fe;
	size_t n;
	static const struct {
		const char *attrs;
		bool seen;
	} cases[] = {
		{ "ALL", false }, { "FULL", false }, { "RFC822.HEADER", false },
		{ "BODY.PEEK[]", false }, { "(BODY[HEADER])", true }, { "RFC822", true },
		{ "RFC822.TEXT", true }, { "(UID BODY[1]<0.10>)", true },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[128];

		snprintf(line, sizeof(line), "a FETCH 1 %s", cases[i].attrs);
		args = testbox_parse(&f->tb, line, &n);
		assert_non_null(args);
		assert_int_equal(imap_fetch_parse(args + 1, n - 1, false, &fe, &f->error), 0);
		assert_int_equal(imap_fetch_sets_seen(fe), cases[i].seen);
		imap_fetch_free(fe);
	}
}

/* Dovecot's order: \Answered \Flagged \Deleted \Seen \Draft \Recent, then the keywords. */
static void
test_imap_fetch_flags_order_and_keywords(void **state)
{
	struct fx *f = *state;
	struct imap_msg m = { .uid = 9, .flags = IMAP_FLAGS_ALL, .recent = true };
	int a, b;

	a = imap_mailbox_keyword_index(f->tb.mb, "$Label1", true);
	b = imap_mailbox_keyword_index(f->tb.mb, "Junk", true);
	assert_true(a >= 0 && b >= 0 && a != b);
	m.keywords = (UINT32_C(1) << a) | (UINT32_C(1) << b);
	buf_reset(&f->out);
	imap_fetch_flags(f->tb.mb, &m, &f->out);
	assert_string_equal(f->out.data, a < b ?
			    "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent $Label1 Junk)" :
			    "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent Junk $Label1)");
	m.flags = 0;
	m.keywords = 0;
	m.recent = false;
	buf_reset(&f->out);
	imap_fetch_flags(f->tb.mb, &m, &f->out);
	assert_string_equal(f->out.data, "()");
}

static void
test_imap_fetch_name_vsize(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_true(imap_fetch_name_vsize("1.M1P2.host,S=11,W=12:2,S", &v));
	assert_int_equal(v, 12);
	assert_true(imap_fetch_name_vsize("1.M1P2.host,W=7", &v));
	assert_int_equal(v, 7);
	assert_false(imap_fetch_name_vsize("1.M1P2.host,S=11:2,S", &v));
	assert_false(imap_fetch_name_vsize("1.M1P2.host,W=:2,", &v));
	assert_false(imap_fetch_name_vsize("1.M1P2.host,W=12x:2,", &v));
	assert_false(imap_fetch_name_vsize("1.M1P2.host,W=99999999999999999999999:2,", &v));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_imap_fetch_flags_uid_in_order_asked, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_uid_command_puts_uid_first_once, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_fast_macro, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_all_and_full_macros, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_envelope_of_the_rfc_example, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_bodystructure_is_extended, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_size_from_name_without_reading, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_gone_message_appends_nothing, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_body_sets_seen_and_reports_flags, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_seen_flags_after_short_items, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_rfc822_sets_seen, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_size_noted_and_reused, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_whole_body_single_pass_equals_crlf_form, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_rfc822_text_sets_seen, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_peek_and_rfc822_header_leave_seen, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_readonly_does_not_set_seen, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_whole_body_in_crlf, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_header_fields_echoed_in_upper_case, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_header_and_text_sections, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_mime_part, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_partial_in_range, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_partial_past_the_end_and_empty, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_nul_and_separators, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_bad_attributes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_sets_seen_query, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_imap_fetch_flags_order_and_keywords, setup_rw, teardown),
		cmocka_unit_test(test_imap_fetch_name_vsize),
	};
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s samples-folder\n", argv[0]);
		return 2;
	}
	testbox_samples = argv[1];
	/* INTERNALDATE is written in the server's zone: make it UTC for exact lines. */
	setenv("TZ", "UTC", 1);
	tzset();
	imap_message_init();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	imap_message_shutdown();
	return ret;
}
