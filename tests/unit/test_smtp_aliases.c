/* test_smtp_aliases.c - unit tests for the aliases file and the Delivered-To loop check (smtp-gate/aliases.c). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aliases.h"
#include "buf.h"
#include "path.h"
#include "testutil.h"

/* Look name up in text (a C string) of example.test; the return value of aliases_lookup. */
static int
lookup(const char *text, const char *name, struct aliases_targets *t)
{
	char err[256];

	return aliases_lookup(text, strlen(text), name, "example.test", t, err, sizeof(err));
}

static void
test_smtp_aliases_targets_in_order_bare_names_get_the_domain(void **state)
{
	struct aliases_targets t;

	(void)state;
	assert_int_equal(lookup("# staff\n"
				"\n"
				"info: bob, carol@Example.NET ,  <dave@example.org>\n"
				"sales: eve\n", "info", &t), 1);
	assert_int_equal(t.count, 3);
	assert_string_equal(t.addrs[0], "bob@example.test");
	/* Domains are lower-cased, local parts kept as written. */
	assert_string_equal(t.addrs[1], "carol@example.net");
	assert_string_equal(t.addrs[2], "dave@example.org");
	aliases_targets_free(&t);
	assert_int_equal(lookup("info: bob\nsales: eve\n", "sales", &t), 1);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.addrs[0], "eve@example.test");
	aliases_targets_free(&t);
}

static void
test_smtp_aliases_names_ignore_case_and_blanks(void **state)
{
	struct aliases_targets t;

	(void)state;
	assert_int_equal(lookup("  PostMaster\t:\tbob\r\n", "postmaster", &t), 1);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.addrs[0], "bob@example.test");
	aliases_targets_free(&t);
	assert_int_equal(lookup("postmaster: bob\n", "POSTMASTER", &t), 1);
	aliases_targets_free(&t);
	/* A prefix or a longer name is another name. */
	assert_int_equal(lookup("post: bob\npostmasters: bob\n", "postmaster", &t), 0);
	assert_int_equal(t.count, 0);
}

static void
test_smtp_aliases_not_an_alias(void **state)
{
	struct aliases_targets t;

	(void)state;
	assert_int_equal(lookup("", "bob", &t), 0);
	assert_int_equal(lookup("# bob: carol\n", "bob", &t), 0);
	assert_int_equal(lookup("bob carol\n", "bob", &t), 0);      /* no ':' */
	assert_int_equal(lookup("bob: carol\n", "", &t), 0);
	assert_int_equal(t.count, 0);
}

static void
test_smtp_aliases_catchall_is_just_the_name_star(void **state)
{
	struct aliases_targets t;

	(void)state;
	assert_int_equal(lookup("info: bob\n*: catch@example.net\n", ALIASES_CATCHALL, &t), 1);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.addrs[0], "catch@example.net");
	aliases_targets_free(&t);
	/* The catch-all never answers for another name: the caller asks for it last. */
	assert_int_equal(lookup("*: catch\n", "nobody", &t), 0);
}

static void
test_smtp_aliases_first_line_wins_and_duplicates_go(void **state)
{
	struct aliases_targets t;

	(void)state;
	assert_int_equal(lookup("a: x, X@EXAMPLE.TEST, x@example.test,, y,\na: z\n", "a", &t), 1);
	assert_int_equal(t.count, 2);
	assert_string_equal(t.addrs[0], "x@example.test");
	assert_string_equal(t.addrs[1], "y@example.test");
	aliases_targets_free(&t);
}

static void
test_smtp_aliases_one_level_only(void **state)
{
	struct aliases_targets t;

	(void)state;
	/* a -> b -> a: the targets are returned as written, never followed. */
	assert_int_equal(lookup("a: b\nb: a\n", "a", &t), 1);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.addrs[0], "b@example.test");
	aliases_targets_free(&t);
	assert_int_equal(lookup("a: a\n", "a", &t), 1);
	assert_string_equal(t.addrs[0], "a@example.test");
	aliases_targets_free(&t);
}

static void
test_smtp_aliases_bad_lines_for_the_name_are_errors(void **state)
{
	static const char *const bad[] = {
		"a:\n", "a: ,  ,\n", "a: b c\n", "a: @example.net\n", "a: b@\n", "a: b@exa/mple\n",
		"a: <b\n", "a: b\x01\n", "a: \"b c\"@example.net\n",
	};
	struct aliases_targets t;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(aliases_lookup(bad[i], strlen(bad[i]), "a", "example.test", &t, err,
						sizeof(err)), -1);
		assert_int_equal(t.count, 0);
		assert_true(strstr(err, "line 1") != NULL);
	}
	/* The same lines for another name do not matter. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lookup(bad[i], "b", &t), 0);
}

static void
test_smtp_aliases_hostile_long_lines(void **state)
{
	size_t big = 4 * ALIASES_LINE_MAX;
	char *text = malloc(big + 64), err[256];
	struct aliases_targets t;
	size_t n;

	(void)state;
	assert_non_null(text);
	/* A huge line for another name is skipped; the next line still counts. */
	memcpy(text, "spam: ", 6);
	memset(text + 6, 'x', big);
	n = 6 + big;
	n += (size_t)sprintf(text + n, "\nbob: carol\n");
	assert_int_equal(aliases_lookup(text, n, "bob", "example.test", &t, err, sizeof(err)), 1);
	assert_string_equal(t.addrs[0], "carol@example.test");
	aliases_targets_free(&t);
	/* A huge line for the name looked up is an error, not a silent miss. */
	assert_int_equal(aliases_lookup(text, n, "spam", "example.test", &t, err, sizeof(err)), -1);
	assert_true(strstr(err, "too long") != NULL);
	/* A line without any newline at all, and NUL bytes, do no harm. */
	memset(text, '\0', 100);
	assert_int_equal(aliases_lookup(text, 100, "bob", "example.test", &t, err, sizeof(err)), 0);
	free(text);
}

static void
test_smtp_aliases_target_count_is_bounded(void **state)
{
	size_t size = 16 + (ALIASES_TARGETS_MAX + 1) * 16, n;
	char *text = malloc(size), err[256];
	struct aliases_targets t;

	(void)state;
	assert_non_null(text);
	n = (size_t)sprintf(text, "list:");
	for (int i = 0; i < ALIASES_TARGETS_MAX; i++)
		n += (size_t)sprintf(text + n, " u%d,", i);
	assert_int_equal(aliases_lookup(text, n, "list", "example.test", &t, err, sizeof(err)), 1);
	assert_int_equal(t.count, ALIASES_TARGETS_MAX);
	assert_string_equal(t.addrs[ALIASES_TARGETS_MAX - 1], "u999@example.test");
	aliases_targets_free(&t);
	n += (size_t)sprintf(text + n, " one-too-many");
	assert_int_equal(aliases_lookup(text, n, "list", "example.test", &t, err, sizeof(err)), -1);
	assert_true(strstr(err, "more than") != NULL);
	assert_int_equal(t.count, 0);
	free(text);
}

static void
test_smtp_aliases_text_need_not_end_in_newline(void **state)
{
	const char text[] = "a: b, c";
	struct aliases_targets t;
	char err[64];

	(void)state;
	/* Only len bytes are read: "a: b" here. */
	assert_int_equal(aliases_lookup(text, 4, "a", "example.test", &t, err, sizeof(err)), 1);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.addrs[0], "b@example.test");
	aliases_targets_free(&t);
}

static void
test_smtp_aliases_delivered_to_found_ignoring_case(void **state)
{
	const char *h = "Received: from x\nDELIVERED-TO:   Bob@Example.Test  \nSubject: hi\n\nbody\n";

	(void)state;
	assert_true(aliases_delivered_to(h, strlen(h), "bob@example.test"));
	assert_false(aliases_delivered_to(h, strlen(h), "bo@example.test"));
	assert_false(aliases_delivered_to(h, strlen(h), "bob@example.tes"));
	h = "Delivered-To: a@example.test\r\nDelivered-To: b@example.test\r\n\r\n";
	assert_true(aliases_delivered_to(h, strlen(h), "b@example.test"));
}

static void
test_smtp_aliases_delivered_to_only_in_the_header(void **state)
{
	const char *h = "Subject: hi\n\nDelivered-To: bob@example.test\n";
	const char *other = "X-Delivered-To: bob@example.test\nDelivered-To-Not: bob@example.test\n"
			    " Delivered-To: bob@example.test\n\n";

	(void)state;
	/* A body line or another field is no loop. */
	assert_false(aliases_delivered_to(h, strlen(h), "bob@example.test"));
	assert_false(aliases_delivered_to(other, strlen(other), "bob@example.test"));
	/* A header cut by the caller's bound is still searched as far as it goes. */
	h = "Delivered-To: bob@example.test\nSubject: a very long";
	assert_true(aliases_delivered_to(h, strlen(h), "bob@example.test"));
	assert_false(aliases_delivered_to("", 0, "bob@example.test"));
}

/*
 * aliases_read: a FIFO in place of the aliases file is an error at once
 * (the delivery is deferred), not osd-local waiting in open(2) for ever;
 * alarm() makes a regression fail instead of hang.  A regular file reads.
 */
static void
test_smtp_aliases_read_fifo_is_an_error_at_once(void **state)
{
	char dom[PATH_MAX], path[PATH_MAX], err[PATH_MAX + 64];
	struct buf b;
	FILE *fp;

	alarm(20);
	assert_int_equal(path_join(dom, sizeof(dom), *state, "example.test"), 0);
	assert_int_equal(mkdir(dom, 0700), 0);
	assert_int_equal(path_join(path, sizeof(path), dom, "aliases"), 0);
	buf_init(&b, 0);
	/* Missing: no aliases, no error. */
	assert_int_equal(aliases_read(*state, "example.test", &b, err, sizeof(err)), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(aliases_read(*state, "example.test", &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "aliases: not a regular file"));
	assert_int_equal(unlink(path), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("postmaster: bob\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(aliases_read(*state, "example.test", &b, err, sizeof(err)), 0);
	assert_int_equal(b.len, strlen("postmaster: bob\n"));
	buf_free(&b);
	alarm(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_aliases_targets_in_order_bare_names_get_the_domain),
		cmocka_unit_test(test_smtp_aliases_names_ignore_case_and_blanks),
		cmocka_unit_test(test_smtp_aliases_not_an_alias),
		cmocka_unit_test(test_smtp_aliases_catchall_is_just_the_name_star),
		cmocka_unit_test(test_smtp_aliases_first_line_wins_and_duplicates_go),
		cmocka_unit_test(test_smtp_aliases_one_level_only),
		cmocka_unit_test(test_smtp_aliases_bad_lines_for_the_name_are_errors),
		cmocka_unit_test(test_smtp_aliases_hostile_long_lines),
		cmocka_unit_test(test_smtp_aliases_target_count_is_bounded),
		cmocka_unit_test(test_smtp_aliases_text_need_not_end_in_newline),
		cmocka_unit_test(test_smtp_aliases_delivered_to_found_ignoring_case),
		cmocka_unit_test(test_smtp_aliases_delivered_to_only_in_the_header),
		cmocka_unit_test_setup_teardown(test_smtp_aliases_read_fifo_is_an_error_at_once,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
