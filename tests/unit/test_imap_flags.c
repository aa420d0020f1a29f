/* test_imap_flags.c - unit tests for the flag lists of STORE and APPEND (imapd/imap_flags.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "imap_flags.h"
#include "imap_mailbox.h"

#define ATOM(s) { .type = IMAP_ARG_ATOM, .str = (s), .len = sizeof(s) - 1 }
#define STR(s) { .type = IMAP_ARG_STRING, .str = (s), .len = sizeof(s) - 1 }
#define LIST(a) { .type = IMAP_ARG_LIST, .list = (a), .count = sizeof(a) / sizeof((a)[0]) }
#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* A list, one bare flag, several bare flags (STORE); system flags without case; keywords kept once. */
static void
test_imap_flags_parse_forms(void **state)
{
	struct imap_arg inner[] = { ATOM("\\seen"), ATOM("\\DELETED"), ATOM("$Label1"), ATOM("$label1"),
				    ATOM("Junk") };
	struct imap_arg list[] = { LIST(inner) };
	struct imap_arg one[] = { ATOM("\\Flagged") };
	struct imap_arg bare[] = { ATOM("\\Answered"), ATOM("\\Draft"), ATOM("kw") };
	struct imap_arg nil[] = { { .type = IMAP_ARG_NIL, .str = "NIL", .len = 3 } };
	struct imap_arg empty_inner[1];
	struct imap_arg empty[] = { { .type = IMAP_ARG_LIST, .list = empty_inner, .count = 0 } };
	struct imap_flag_list fl;
	const char *err;

	(void)state;
	assert_int_equal(imap_flags_parse(list, NARGS(list), &fl, &err), 0);
	assert_int_equal(fl.flags, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED);
	assert_int_equal(fl.n_keywords, 2);
	assert_string_equal(fl.keywords[0], "$Label1");
	assert_string_equal(fl.keywords[1], "Junk");
	assert_int_equal(imap_flags_parse(one, NARGS(one), &fl, &err), 0);
	assert_int_equal(fl.flags, IMAP_FLAG_FLAGGED);
	assert_int_equal(fl.n_keywords, 0);
	assert_int_equal(imap_flags_parse(bare, NARGS(bare), &fl, &err), 0);
	assert_int_equal(fl.flags, IMAP_FLAG_ANSWERED | IMAP_FLAG_DRAFT);
	assert_int_equal(fl.n_keywords, 1);
	/* NIL is the keyword "NIL", as Dovecot (and imaptest's "nil" test) take it. */
	assert_int_equal(imap_flags_parse(nil, NARGS(nil), &fl, &err), 0);
	assert_int_equal(fl.flags, 0);
	assert_int_equal(fl.n_keywords, 1);
	assert_string_equal(fl.keywords[0], "NIL");
	assert_int_equal(imap_flags_parse(empty, NARGS(empty), &fl, &err), 0);
	assert_int_equal(fl.flags, 0);
	assert_int_equal(fl.n_keywords, 0);
}

/* BAD: \Recent, \*, an unknown system flag, a quoted keyword, atom-specials, a nested list, too many. */
static void
test_imap_flags_parse_bad(void **state)
{
	static const struct imap_arg bad[] = {
		ATOM("\\Recent"), ATOM("\\*"), ATOM("\\Foo"), ATOM("\\"), STR("kw"), ATOM("k%w"),
		ATOM("k*w"), ATOM("k]w"), ATOM("k\"w"), ATOM("k\\w"), ATOM("k{w"), ATOM("k\x01w"),
		ATOM("k\xc3\xa9"),
	};
	struct imap_arg nested_inner[] = { ATOM("\\Seen") };
	struct imap_arg nested[] = { LIST(nested_inner) };
	struct imap_arg outer[] = { ATOM("\\Seen"), LIST(nested) };
	struct imap_arg many[IMAP_FLAGS_KEYWORDS_MAX + 1];
	char names[IMAP_FLAGS_KEYWORDS_MAX + 1][8];
	struct imap_arg many_list[] = { LIST(many) };
	struct imap_flag_list fl;
	const char *err;

	(void)state;
	for (size_t i = 0; i < NARGS(bad); i++) {
		struct imap_arg list[] = { { .type = IMAP_ARG_LIST, .list = &bad[i], .count = 1 } };

		err = NULL;
		if (imap_flags_parse(list, 1, &fl, &err) == 0)
			fail_msg("accepted flag %zu", i);
		assert_non_null(err);
	}
	assert_int_equal(imap_flags_parse(outer, NARGS(outer), &fl, &err), -1);
	for (size_t i = 0; i < NARGS(many); i++) {
		int len = snprintf(names[i], sizeof(names[i]), "k%zu", i);

		many[i] = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = names[i], .len = (size_t)len };
	}
	assert_int_equal(imap_flags_parse(many_list, 1, &fl, &err), -1);
	many_list[0].count--;
	assert_int_equal(imap_flags_parse(many_list, 1, &fl, &err), 0);
	assert_int_equal(fl.n_keywords, IMAP_FLAGS_KEYWORDS_MAX);
}

/* Keyword validity: atoms only, not starting with '\', not empty, bounded. */
static void
test_imap_flags_keyword_ok(void **state)
{
	char longkw[IMAP_FLAGS_KEYWORD_LEN_MAX + 2];

	(void)state;
	assert_true(imap_flags_keyword_ok("$Forwarded", 10));
	assert_true(imap_flags_keyword_ok("NonJunk", 7));
	assert_true(imap_flags_keyword_ok("a[b", 3));
	assert_false(imap_flags_keyword_ok("", 0));
	assert_false(imap_flags_keyword_ok("a b", 3));
	assert_false(imap_flags_keyword_ok("a(b", 3));
	assert_false(imap_flags_keyword_ok("a)b", 3));
	assert_false(imap_flags_keyword_ok("\\Seen", 5));
	assert_false(imap_flags_keyword_ok("a\x7f", 2));
	memset(longkw, 'k', sizeof(longkw));
	assert_true(imap_flags_keyword_ok(longkw, IMAP_FLAGS_KEYWORD_LEN_MAX));
	assert_false(imap_flags_keyword_ok(longkw, IMAP_FLAGS_KEYWORD_LEN_MAX + 1));
}

/* STORE's item: FLAGS, +FLAGS, -FLAGS, each with .SILENT, any case; nothing else. */
static void
test_imap_flags_store_op(void **state)
{
	static const struct {
		struct imap_arg a;
		enum imap_store_op op;
		bool silent;
	} good[] = {
		{ ATOM("FLAGS"), IMAP_STORE_REPLACE, false },
		{ ATOM("flags.silent"), IMAP_STORE_REPLACE, true },
		{ ATOM("+FLAGS"), IMAP_STORE_ADD, false },
		{ ATOM("+Flags.Silent"), IMAP_STORE_ADD, true },
		{ ATOM("-FLAGS"), IMAP_STORE_REMOVE, false },
		{ ATOM("-FLAGS.SILENT"), IMAP_STORE_REMOVE, true },
	};
	static const struct imap_arg bad[] = {
		ATOM("FLAG"), ATOM("+-FLAGS"), ATOM("*FLAGS"), ATOM("FLAGS.LOUD"), ATOM("FLAGS.SILENTX"),
		STR("FLAGS"), ATOM("+"), ATOM(""), ATOM("X-GM-LABELS"),
	};
	enum imap_store_op op;
	bool silent;
	const char *err;

	(void)state;
	for (size_t i = 0; i < NARGS(good); i++) {
		assert_int_equal(imap_flags_parse_store_op(&good[i].a, &op, &silent, &err), 0);
		assert_int_equal(op, good[i].op);
		assert_int_equal(silent, good[i].silent);
	}
	for (size_t i = 0; i < NARGS(bad); i++)
		if (imap_flags_parse_store_op(&bad[i], &op, &silent, &err) == 0)
			fail_msg("accepted item %zu", i);
}

/* Replace, add and remove on flags and keyword bits alike. */
static void
test_imap_flags_apply(void **state)
{
	unsigned f;
	uint32_t k;

	(void)state;
	imap_flags_apply(IMAP_STORE_REPLACE, IMAP_FLAG_SEEN, 0x3, IMAP_FLAG_DELETED, 0x4, &f, &k);
	assert_int_equal(f, IMAP_FLAG_DELETED);
	assert_int_equal(k, 0x4);
	imap_flags_apply(IMAP_STORE_ADD, IMAP_FLAG_SEEN, 0x3, IMAP_FLAG_DELETED, 0x4, &f, &k);
	assert_int_equal(f, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED);
	assert_int_equal(k, 0x7);
	imap_flags_apply(IMAP_STORE_REMOVE, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED, 0x3, IMAP_FLAG_DELETED,
			 0x2, &f, &k);
	assert_int_equal(f, IMAP_FLAG_SEEN);
	assert_int_equal(k, 0x1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_flags_parse_forms),
		cmocka_unit_test(test_imap_flags_parse_bad),
		cmocka_unit_test(test_imap_flags_keyword_ok),
		cmocka_unit_test(test_imap_flags_store_op),
		cmocka_unit_test(test_imap_flags_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
