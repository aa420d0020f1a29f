/* test_imap_search.c - unit tests for SEARCH (imapd/imap_search.c) on a real Maildir: each key matching and not, OR/NOT/lists, sets, charsets, dates, ESEARCH answers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap_message.h"
#include "imap_search.h"
#include "imap_testbox.h"

/*
 * 1: simple.eml  \Seen            in 14-Nov-2023 22:13 UTC, sent 7-Feb-1994 -0800, 311 octets
 * 2: multipart   (none)           in 29-Feb-2024 08:00,     sent 29-Feb-2024 +0100, 544 octets
 * 3: crlf.eml    \Answered \Flagged \Deleted, in 1-Jan-2025 00:00, sent 1-Jan-2000, ",W=999" in its name
 * 4: simple.eml  \Draft           in 19-Feb-2025 21:20,     sent 7-Feb-1994, 311 octets
 * (names start with the delivery time, as Maildir names do, and sort in this order)
 */
static const struct testbox_msg msgs[] = {
	{ "simple.eml", "1700000000.M1P1.test:2,S", 1700000000 },
	{ "multipart.eml", "1709193600.M2P2.test:2,", 1709193600 },
	{ "crlf.eml", "1735689600.M3P3.test,W=999:2,FRT", 1735689600 },
	{ "simple.eml", "1740000000.M4P4.test:2,D", 1740000000 },
};
#define N_MSGS 4

struct fx {
	struct testbox tb;
	const char *error, *code;
	bool is_bad;
	char result[256];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || testbox_make(&f->tb, msgs, N_MSGS, false) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	testbox_free(&f->tb);
	free(f);
	return 0;
}

/* Parse "SEARCH keys"; the parse's result in s_r (NULL on failure, with error, code and is_bad). */
static int
parse(struct fx *f, const char *keys, struct imap_search **s_r)
{
	char line[1024];
	const struct imap_arg *args;
	size_t n;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	args = testbox_parse(&f->tb, line, &n);
	if (args == NULL) {
		f->error = imap_parser_error(f->tb.parser);
		f->is_bad = true;
		*s_r = NULL;
		return -1;
	}
	return imap_search_parse(args, n, f->tb.mb, s_r, &f->error, &f->code, &f->is_bad);
}

/* The matching sequence numbers, "1 3"; "BAD" or "NO" when refused. */
static const char *
search(struct fx *f, const char *keys)
{
	struct imap_search *s;
	size_t len = 0;
	uint32_t seq;

	f->result[0] = '\0';
	if (parse(f, keys, &s) < 0)
		return f->is_bad ? "BAD" : "NO";
	for (seq = 1; seq <= imap_mailbox_count(f->tb.mb); seq++) {
		if (imap_search_match(s, f->tb.mb, seq))
			len += (size_t)snprintf(f->result + len, sizeof(f->result) - len, "%s%u",
						len > 0 ? " " : "", seq);
	}
	imap_search_free(s);
	return f->result;
}

static void
test_imap_search_all_and_flags(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "ALL"), "1 2 3 4");
	assert_string_equal(search(f, "SEEN"), "1");
	assert_string_equal(search(f, "UNSEEN"), "2 3 4");
	assert_string_equal(search(f, "ANSWERED"), "3");
	assert_string_equal(search(f, "UNANSWERED"), "1 2 4");
	assert_string_equal(search(f, "FLAGGED"), "3");
	assert_string_equal(search(f, "UNFLAGGED"), "1 2 4");
	assert_string_equal(search(f, "DELETED"), "3");
	assert_string_equal(search(f, "UNDELETED"), "1 2 4");
	assert_string_equal(search(f, "DRAFT"), "4");
	assert_string_equal(search(f, "undraft"), "1 2 3");
}

static void
test_imap_search_keywords(void **state)
{
	struct fx *f = *state;
	const struct imap_msg *m = imap_mailbox_msg(f->tb.mb, 2);
	int k = imap_mailbox_keyword_index(f->tb.mb, "$Label1", true);

	assert_true(k >= 0);
	assert_int_equal(imap_mailbox_set_flags(f->tb.mb, 2, m->flags, UINT32_C(1) << k), 0);
	assert_string_equal(search(f, "KEYWORD $Label1"), "2");
	assert_string_equal(search(f, "KEYWORD $label1"), "2");
	assert_string_equal(search(f, "UNKEYWORD $Label1"), "1 3 4");
	assert_string_equal(search(f, "KEYWORD NoSuchKeyword"), "");
	assert_string_equal(search(f, "UNKEYWORD NoSuchKeyword"), "1 2 3 4");
	assert_string_equal(search(f, "KEYWORD"), "BAD");
}

/* RECENT, NEW, OLD follow the folder's \Recent (RFC 3501: NEW is RECENT UNSEEN, OLD NOT RECENT). */
static void
test_imap_search_recent_new_old(void **state)
{
	struct fx *f = *state;
	char recent[32] = "", fresh[32] = "", old[32] = "";
	uint32_t seq;

	for (seq = 1; seq <= N_MSGS; seq++) {
		const struct imap_msg *m = imap_mailbox_msg(f->tb.mb, seq);
		char *dst = m->recent ? recent : old;
		char num[8];

		snprintf(num, sizeof(num), "%s%u", dst[0] != '\0' ? " " : "", seq);
		strncat(dst, num, 31 - strlen(dst));
		if (m->recent && (m->flags & IMAP_FLAG_SEEN) == 0) {
			snprintf(num, sizeof(num), "%s%u", fresh[0] != '\0' ? " " : "", seq);
			strncat(fresh, num, 31 - strlen(fresh));
		}
	}
	assert_string_equal(search(f, "RECENT"), recent);
	assert_string_equal(search(f, "NEW"), fresh);
	assert_string_equal(search(f, "OLD"), old);
}

static void
test_imap_search_sizes(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "LARGER 500"), "2 3");
	assert_string_equal(search(f, "LARGER 311"), "2 3");          /* strictly larger */
	assert_string_equal(search(f, "SMALLER 400"), "1 4");
	assert_string_equal(search(f, "SMALLER 311"), "");
	assert_string_equal(search(f, "SMALLER 312"), "1 4");
	assert_string_equal(search(f, "LARGER x"), "BAD");
	assert_string_equal(search(f, "LARGER"), "BAD");
}

/* BEFORE/ON/SINCE: the day of INTERNALDATE in the server's zone (UTC here). */
static void
test_imap_search_internal_dates(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "BEFORE 29-Feb-2024"), "1");
	assert_string_equal(search(f, "BEFORE 1-Mar-2024"), "1 2");
	assert_string_equal(search(f, "ON 19-Feb-2025"), "4");
	assert_string_equal(search(f, "ON \"14-Nov-2023\""), "1");
	assert_string_equal(search(f, "ON 15-Nov-2023"), "");
	assert_string_equal(search(f, "SINCE 1-Jan-2025"), "3 4");
	assert_string_equal(search(f, "ON 29-feb-2024"), "2");
	assert_string_equal(search(f, "SINCE 20-Feb-2025"), "");
	assert_string_equal(search(f, "BEFORE 14-Nov-2023"), "");
	assert_string_equal(search(f, "BEFORE 32-Jan-2000"), "BAD");
	assert_string_equal(search(f, "SINCE"), "BAD");
}

/* SENT*: the Date: header's own day, whatever its zone. */
static void
test_imap_search_sent_dates(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "SENTON 7-Feb-1994"), "1 4");
	assert_string_equal(search(f, "SENTON 8-Feb-1994"), "");
	assert_string_equal(search(f, "SENTBEFORE 1-Jan-2000"), "1 4");
	assert_string_equal(search(f, "SENTON 1-Jan-2000"), "3");
	assert_string_equal(search(f, "SENTSINCE 29-Feb-2024"), "2");
	assert_string_equal(search(f, "SENTSINCE 1-Mar-2024"), "");
	assert_string_equal(search(f, "SENTBEFORE Feb-1994"), "BAD");
}

static void
test_imap_search_address_fields(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "FROM fred"), "1 4");
	assert_string_equal(search(f, "FROM \"Alice\""), "2");
	assert_string_equal(search(f, "FROM nobody"), "");
	assert_string_equal(search(f, "TO mooch"), "1 4");
	assert_string_equal(search(f, "TO bob@example.net"), "2");
	assert_string_equal(search(f, "CC carol"), "2");
	assert_string_equal(search(f, "CC fred"), "");
	assert_string_equal(search(f, "BCC dave"), "2");
	assert_string_equal(search(f, "BCC carol"), "");
	assert_string_equal(search(f, "FROM"), "BAD");
}

static void
test_imap_search_subject_and_header(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "SUBJECT afternoon"), "1 4");
	/* The encoded word decoded, compared without case. */
	assert_string_equal(search(f, "CHARSET UTF-8 SUBJECT {8}\r\nR\xc3\xa9UNION"), "2");
	assert_string_equal(search(f, "SUBJECT evening"), "");
	assert_string_equal(search(f, "HEADER X-Project osd"), "2");
	assert_string_equal(search(f, "HEADER x-project \"\""), "2");  /* the field exists */
	assert_string_equal(search(f, "HEADER X-Missing \"\""), "");
	assert_string_equal(search(f, "HEADER X-Project"), "BAD");
}

static void
test_imap_search_body_and_text(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "BODY Joe"), "1 4");
	/* Quoted-printable decoded. */
	assert_string_equal(search(f, "CHARSET UTF-8 BODY {5}\r\ncaf\xc3\xa9 SEEN"), "");
	assert_string_equal(search(f, "CHARSET UTF-8 BODY {5}\r\ncaf\xc3\xa9"), "2");
	/* In the subject only: not BODY, but TEXT. */
	assert_string_equal(search(f, "BODY meeting"), "");
	assert_string_equal(search(f, "TEXT meeting"), "1 4");
	assert_string_equal(search(f, "TEXT approved"), "2");
	assert_string_equal(search(f, "TEXT xyzzy"), "");
	assert_string_equal(search(f, "BODY \"line two\""), "3");
}

static void
test_imap_search_sequence_sets(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "2:3"), "2 3");
	assert_string_equal(search(f, "*"), "4");
	assert_string_equal(search(f, "3:*"), "3 4");
	assert_string_equal(search(f, "*:3"), "3 4");
	assert_string_equal(search(f, "1,4"), "1 4");
	assert_string_equal(search(f, "1,4 SEEN"), "1");
	assert_string_equal(search(f, "0"), "BAD");
	assert_string_equal(search(f, "1:x"), "BAD");
}

static void
test_imap_search_uid_sets(void **state)
{
	struct fx *f = *state;
	char keys[64];
	uint32_t u2 = imap_mailbox_msg(f->tb.mb, 2)->uid, u4 = imap_mailbox_msg(f->tb.mb, 4)->uid;

	snprintf(keys, sizeof(keys), "UID %u:*", u2);
	assert_string_equal(search(f, keys), "2 3 4");
	snprintf(keys, sizeof(keys), "UID %u", u4);
	assert_string_equal(search(f, keys), "4");
	/* RFC 3501 section 6.4.8: n:* holds the last UID even when n is above it. */
	assert_string_equal(search(f, "UID 4000000:*"), "4");
	assert_string_equal(search(f, "UID 4000000"), "");
	assert_string_equal(search(f, "UID"), "BAD");
	assert_string_equal(search(f, "UID x"), "BAD");
}

static void
test_imap_search_or_not_and_lists(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, "OR SEEN DRAFT"), "1 4");
	assert_string_equal(search(f, "OR SEEN FROM alice"), "1 2");
	assert_string_equal(search(f, "NOT SEEN"), "2 3 4");
	assert_string_equal(search(f, "NOT NOT SEEN"), "1");
	assert_string_equal(search(f, "(SEEN)"), "1");
	assert_string_equal(search(f, "UNSEEN SMALLER 400"), "4");             /* implicit AND */
	assert_string_equal(search(f, "(UNSEEN SMALLER 400)"), "4");
	assert_string_equal(search(f, "OR (FLAGGED DELETED) NOT OR SEEN UNDRAFT"), "3 4");
	assert_string_equal(search(f, "NOT (FROM fred SEEN)"), "2 3 4");
	assert_string_equal(search(f, "OR (SEEN) (OR DRAFT (TEXT approved))"), "1 2 4");
	assert_string_equal(search(f, "OR SEEN"), "BAD");
	assert_string_equal(search(f, "NOT"), "BAD");
	assert_string_equal(search(f, "()"), "BAD");
}

static void
test_imap_search_syntax_errors(void **state)
{
	struct fx *f = *state;
	struct imap_search *s;
	char keys[512];
	size_t i;

	assert_string_equal(search(f, "FOO"), "BAD");
	assert_string_equal(search(f, "SEEN FOO"), "BAD");
	assert_int_equal(parse(f, "FOO", &s), -1);
	assert_true(f->is_bad);
	assert_null(f->code);
	assert_non_null(f->error);
	/* No key at all. */
	assert_string_equal(search(f, "CHARSET UTF-8"), "BAD");
	assert_string_equal(search(f, "\"SEEN\""), "BAD");
	/* NOT NOT ... deeper than the cap: refused, not a stack overflow. */
	keys[0] = '\0';
	for (i = 0; i < 100; i++)
		strncat(keys, "NOT ", sizeof(keys) - strlen(keys) - 1);
	strncat(keys, "SEEN", sizeof(keys) - strlen(keys) - 1);
	assert_string_equal(search(f, keys), "BAD");
	/* Twenty is fine. */
	keys[0] = '\0';
	for (i = 0; i < 20; i++)
		strncat(keys, "NOT ", sizeof(keys) - strlen(keys) - 1);
	strncat(keys, "SEEN", sizeof(keys) - strlen(keys) - 1);
	assert_string_equal(search(f, keys), "1");
}

static void
test_imap_search_charsets(void **state)
{
	struct fx *f = *state;
	struct imap_search *s;

	assert_string_equal(search(f, "CHARSET UTF-8 SEEN"), "1");
	assert_string_equal(search(f, "CHARSET us-ascii SEEN"), "1");
	assert_string_equal(search(f, "CHARSET \"UTF-8\" SEEN"), "1");
	assert_int_equal(parse(f, "CHARSET KOI8-R SUBJECT x", &s), -1);
	assert_false(f->is_bad);
	assert_string_equal(f->code, "BADCHARSET");
	assert_non_null(f->error);
}

/* Keys on flags, UIDs, sets and INTERNALDATE never open a file: all files gone, same answers. */
static void
test_imap_search_flag_keys_do_not_read_files(void **state)
{
	struct fx *f = *state;
	uint32_t seq;

	for (seq = 1; seq <= N_MSGS; seq++)
		assert_int_equal(testbox_unlink(&f->tb, imap_mailbox_msg(f->tb.mb, seq)->name), 0);
	assert_string_equal(search(f, "UNSEEN UNDELETED 1:* UID 1:* SINCE 1-Jan-2001 NOT KEYWORD x"), "2 4");
	/* ",W=" in the name is the size: no read either. */
	assert_string_equal(search(f, "LARGER 900"), "3");
	/* The text of a message gone does not match, not even under NOT. */
	assert_string_equal(search(f, "NOT FROM nobody"), "");
}

static void
test_imap_search_reply_forms(void **state)
{
	struct fx *f = *state;
	static const uint32_t v[] = { 2, 3, 4, 7 };
	struct imap_search *s;
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(parse(f, "UNSEEN", &s), 0);
	assert_int_equal(imap_search_return(s), 0);
	imap_search_reply(s, "a1", false, v, 4, &out);
	assert_string_equal(out.data, "* SEARCH 2 3 4 7\r\n");
	buf_reset(&out);
	imap_search_reply(s, "a1", false, v, 0, &out);
	assert_string_equal(out.data, "* SEARCH\r\n");
	imap_search_free(s);

	assert_int_equal(parse(f, "RETURN (MIN MAX COUNT ALL) UNSEEN", &s), 0);
	assert_int_equal(imap_search_return(s), IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX |
			 IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL);
	buf_reset(&out);
	imap_search_reply(s, "a1", true, v, 4, &out);
	assert_string_equal(out.data, "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 7 ALL 2:4,7 COUNT 4\r\n");
	buf_reset(&out);
	imap_search_reply(s, "a\"1", false, v, 0, &out);
	assert_string_equal(out.data, "* ESEARCH (TAG \"a\\\"1\") COUNT 0\r\n");
	imap_search_free(s);

	/* RETURN () is ALL; RETURN before CHARSET. */
	assert_int_equal(parse(f, "RETURN () CHARSET UTF-8 ALL", &s), 0);
	assert_int_equal(imap_search_return(s), IMAP_SEARCH_RETURN_ALL);
	buf_reset(&out);
	imap_search_reply(s, "t", false, v, 1, &out);
	assert_string_equal(out.data, "* ESEARCH (TAG \"t\") ALL 2\r\n");
	imap_search_free(s);
	assert_int_equal(parse(f, "RETURN (COUNT", &s), -1);
	assert_int_equal(parse(f, "RETURN (SAVE) ALL", &s), -1);
	assert_true(f->is_bad);
	buf_free(&out);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_imap_search_all_and_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_recent_new_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_internal_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_sent_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_address_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_subject_and_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_body_and_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_sequence_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_uid_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_or_not_and_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_syntax_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_charsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_flag_keys_do_not_read_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_search_reply_forms, setup, teardown),
	};
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s samples-folder\n", argv[0]);
		return 2;
	}
	testbox_samples = argv[1];
	setenv("TZ", "UTC", 1);
	tzset();
	imap_message_init();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	imap_message_shutdown();
	return ret;
}
