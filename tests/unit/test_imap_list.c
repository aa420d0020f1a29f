/* test_imap_list.c - unit tests for LIST and LSUB (imapd/imap_list.c): '*' and '%', options, the reply lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_list.h"

/* Arguments as the parser gives them. */
#define ATOM(s) { .type = IMAP_ARG_ATOM, .str = (s), .len = sizeof(s) - 1 }
#define STR(s) { .type = IMAP_ARG_STRING, .str = (s), .len = sizeof(s) - 1 }
#define LIST(a) { .type = IMAP_ARG_LIST, .list = (a), .count = sizeof(a) / sizeof((a)[0]) }
#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* '*' matches everything, '%' everything up to a separator; literal octets match themselves. */
static void
test_imap_list_match_wildcards(void **state)
{
	(void)state;
	assert_true(imap_list_match("*", "INBOX"));
	assert_true(imap_list_match("*", "Lists.osd.dev"));
	assert_true(imap_list_match("%", "Sent"));
	assert_false(imap_list_match("%", "Lists.osd"));
	assert_true(imap_list_match("Lists.%", "Lists.osd"));
	assert_false(imap_list_match("Lists.%", "Lists.osd.dev"));
	assert_false(imap_list_match("Lists.%", "Lists"));
	assert_true(imap_list_match("Lists.*", "Lists.osd.dev"));
	assert_true(imap_list_match("Lists*", "Lists"));
	assert_true(imap_list_match("%.%", "Lists.osd"));
	assert_false(imap_list_match("%.%", "Lists.osd.dev"));
	assert_true(imap_list_match("S%t", "Sent"));
	assert_true(imap_list_match("*t", "Lists.osd.dev.rust"));
	assert_false(imap_list_match("S%t", "Sen.t"));
	assert_true(imap_list_match("Sent", "Sent"));
	assert_false(imap_list_match("sent", "Sent"));
	assert_false(imap_list_match("Sent", "Sent2"));
	assert_false(imap_list_match("Sent2", "Sent"));
	assert_true(imap_list_match("%%*%", "a.b"));
	assert_false(imap_list_match("", "a"));
}

/* INBOX, and only INBOX, matches without case (RFC 3501 section 5.1). */
static void
test_imap_list_match_inbox_case(void **state)
{
	(void)state;
	assert_true(imap_list_match("inbox", "INBOX"));
	assert_true(imap_list_match("InBoX", "INBOX"));
	assert_true(imap_list_match("in%", "INBOX"));
	assert_true(imap_list_match("INBOX", "INBOX"));
	assert_false(imap_list_match("inbox2", "INBOX"));
	assert_false(imap_list_match("inbox", "INBOX2"));
	assert_false(imap_list_match("inboxes", "Inboxes"));
	assert_true(imap_list_match("Inboxes", "Inboxes"));
}

/* Many wildcards against a long name: linear work, answered at once, right. */
static void
test_imap_list_match_no_backtracking(void **state)
{
	char pattern[IMAP_LIST_PATTERN_MAX + 1], name[1001];

	(void)state;
	for (size_t i = 0; i < 500; i++) {
		pattern[2 * i] = '*';
		pattern[2 * i + 1] = 'a';
	}
	pattern[1000] = 'b';
	pattern[1001] = '\0';
	memset(name, 'a', 1000);
	name[1000] = '\0';
	assert_false(imap_list_match(pattern, name));
	name[999] = 'b';
	pattern[1000] = '\0';
	pattern[999] = 'b';
	assert_true(imap_list_match(pattern, name));
	/* ... "*aa%" against "...aa.": the last '%' cannot take the '.'. */
	name[999] = '.';
	pattern[998] = 'a';
	pattern[999] = '%';
	assert_false(imap_list_match(pattern, name));
}

/* The reference is joined with each pattern; an empty pattern asks for the root. */
static void
test_imap_list_parse_reference(void **state)
{
	struct imap_arg a1[] = { STR("Lists."), STR("%") };
	struct imap_arg a2[] = { STR("Lists."), ATOM(".osd") };
	struct imap_arg a3[] = { STR(""), STR("") };
	struct imap_arg a4[] = { STR(""), { .type = IMAP_ARG_NIL, .str = "NIL", .len = 3 } };
	struct imap_list_cmd cmd;
	const char *err;

	(void)state;
	assert_int_equal(imap_list_parse(a1, NARGS(a1), false, &cmd, &err), 0);
	assert_int_equal(cmd.n_patterns, 1);
	assert_string_equal(cmd.patterns[0], "Lists.%");
	assert_false(cmd.root);
	imap_list_cmd_free(&cmd);
	assert_int_equal(imap_list_parse(a2, NARGS(a2), false, &cmd, &err), 0);
	assert_string_equal(cmd.patterns[0], "Lists.osd");
	imap_list_cmd_free(&cmd);
	assert_int_equal(imap_list_parse(a3, NARGS(a3), true, &cmd, &err), 0);
	assert_int_equal(cmd.n_patterns, 0);
	assert_true(cmd.root);
	assert_true(cmd.lsub);
	imap_list_cmd_free(&cmd);
	/* The atom NIL is the name "NIL" (imaptest "nil": LIST "" NIL is OK). */
	assert_int_equal(imap_list_parse(a4, NARGS(a4), false, &cmd, &err), 0);
	assert_string_equal(cmd.patterns[0], "NIL");
	imap_list_cmd_free(&cmd);
}

/* LIST-EXTENDED: selection options, pattern lists, RETURN options; SUBSCRIBED implies its return option. */
static void
test_imap_list_parse_extended(void **state)
{
	struct imap_arg sel[] = { ATOM("subscribed"), ATOM("RECURSIVEMATCH") };
	struct imap_arg pats[] = { STR("INBOX"), ATOM("Lists.*") };
	struct imap_arg items[] = { ATOM("MESSAGES"), ATOM("unseen") };
	struct imap_arg ret[] = { ATOM("CHILDREN"), ATOM("SPECIAL-USE"), ATOM("STATUS"), LIST(items) };
	struct imap_arg a[] = { LIST(sel), STR(""), LIST(pats), ATOM("RETURN"), LIST(ret) };
	struct imap_list_cmd cmd;
	const char *err;

	(void)state;
	assert_int_equal(imap_list_parse(a, NARGS(a), false, &cmd, &err), 0);
	assert_int_equal(cmd.select, IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH);
	assert_int_equal(cmd.ret, IMAP_LIST_RET_SUBSCRIBED | IMAP_LIST_RET_CHILDREN |
			 IMAP_LIST_RET_SPECIAL_USE | IMAP_LIST_RET_STATUS);
	assert_int_equal(cmd.status_items, IMAP_STATUS_MESSAGES | IMAP_STATUS_UNSEEN);
	assert_int_equal(cmd.n_patterns, 2);
	assert_string_equal(cmd.patterns[0], "INBOX");
	assert_string_equal(cmd.patterns[1], "Lists.*");
	imap_list_cmd_free(&cmd);
}

/* BAD: unknown options, RECURSIVEMATCH alone, extended forms in LSUB, missing or extra arguments. */
static void
test_imap_list_parse_bad(void **state)
{
	struct imap_arg rm[] = { ATOM("RECURSIVEMATCH") };
	struct imap_arg rm_remote[] = { ATOM("RECURSIVEMATCH"), ATOM("REMOTE") };
	struct imap_arg unknown[] = { ATOM("FOO") };
	struct imap_arg pats[] = { STR("a"), STR("b") };
	struct imap_arg empty_items[] = { ATOM("STATUS") };
	struct imap_arg bad_item[] = { ATOM("FOO") };
	struct imap_arg st_bad[] = { ATOM("STATUS"), LIST(bad_item) };
	struct imap_arg b1[] = { LIST(rm), STR(""), STR("*") };
	struct imap_arg b2[] = { LIST(rm_remote), STR(""), STR("*") };
	struct imap_arg b3[] = { LIST(unknown), STR(""), STR("*") };
	struct imap_arg b4[] = { STR(""), STR("*"), ATOM("RETURN"), LIST(unknown) };
	struct imap_arg b5[] = { STR(""), LIST(pats) };         /* LSUB takes no pattern list */
	struct imap_arg b6[] = { STR("") };
	struct imap_arg b7[] = { STR(""), STR("*"), ATOM("EXTRA") };
	struct imap_arg b8[] = { STR(""), STR("*"), ATOM("RETURN"), LIST(empty_items) };
	struct imap_arg b9[] = { STR(""), STR("*"), ATOM("RETURN"), LIST(st_bad) };
	struct imap_arg b11[] = { STR("a\0b"), STR("*") };
	struct {
		struct imap_arg *a;
		size_t n;
		bool lsub;
	} bad[] = {
		{ b1, NARGS(b1), false }, { b2, NARGS(b2), false }, { b3, NARGS(b3), false },
		{ b4, NARGS(b4), false }, { b5, NARGS(b5), true }, { b6, NARGS(b6), false },
		{ b7, NARGS(b7), false }, { b8, NARGS(b8), false }, { b9, NARGS(b9), false },
		{ b11, NARGS(b11), false }, { b1, NARGS(b1), true },
	};
	struct imap_list_cmd cmd;

	(void)state;
	for (size_t i = 0; i < NARGS(bad); i++) {
		const char *err = NULL;

		if (imap_list_parse(bad[i].a, bad[i].n, bad[i].lsub, &cmd, &err) == 0)
			fail_msg("case %zu accepted", i);
		assert_non_null(err);
	}
}

/* A folder tree as imap_folders_list gives it. */
static const struct imap_folder tree[] = {
	{ .name = "INBOX", .subscribed = true },
	{ .name = "Drafts", .special_use = "\\Drafts" },
	{ .name = "Gone", .noselect = true, .subscribed = true },      /* subscribed, folder deleted */
	{ .name = "Lists", .noselect = true, .has_children = true },
	{ .name = "Lists.osd", .has_children = true },
	{ .name = "Lists.osd.dev", .subscribed = true },
	{ .name = "Sent", .subscribed = true, .special_use = "\\Sent" },
	{ .name = "Trash", .special_use = "\\Trash" },
	{ .name = "we \"q\"" },
	{ .name = "caf\xc3\xa9" },
};

/* Run LIST/LSUB with args over tree, return the reply (static). */
static const char *
run(struct imap_arg *args, size_t n, bool lsub)
{
	static struct buf out;
	struct imap_list_cmd cmd;
	const char *err;

	buf_free(&out);
	buf_init(&out, 0);
	assert_int_equal(imap_list_parse(args, n, lsub, &cmd, &err), 0);
	imap_list_reply(&cmd, tree, NARGS(tree), NULL, NULL, &out);
	imap_list_cmd_free(&cmd);
	return out.data != NULL ? out.data : "";
}

/* Plain LIST: children attributes and special use in Dovecot's order, names quoted or literal; no subscription without a folder. */
static void
test_imap_list_reply_plain(void **state)
{
	struct imap_arg all[] = { STR(""), STR("*") };
	struct imap_arg top[] = { STR(""), STR("%") };
	struct imap_arg root[] = { STR(""), STR("") };
	struct imap_arg root2[] = { STR("Lists.osd"), STR("") };
	struct imap_arg sub[] = { STR("Lists."), STR("%") };

	(void)state;
	assert_string_equal(run(all, NARGS(all), false),
			    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
			    "* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\r\n"
			    "* LIST (\\Noselect \\HasChildren) \".\" \"Lists\"\r\n"
			    "* LIST (\\HasChildren) \".\" \"Lists.osd\"\r\n"
			    "* LIST (\\HasNoChildren) \".\" \"Lists.osd.dev\"\r\n"
			    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
			    "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\r\n"
			    "* LIST (\\HasNoChildren) \".\" \"we \\\"q\\\"\"\r\n"
			    "* LIST (\\HasNoChildren) \".\" {5}\r\ncaf\xc3\xa9\r\n");
	assert_string_equal(run(top, NARGS(top), false),
			    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
			    "* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\r\n"
			    "* LIST (\\Noselect \\HasChildren) \".\" \"Lists\"\r\n"
			    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
			    "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\r\n"
			    "* LIST (\\HasNoChildren) \".\" \"we \\\"q\\\"\"\r\n"
			    "* LIST (\\HasNoChildren) \".\" {5}\r\ncaf\xc3\xa9\r\n");
	assert_string_equal(run(root, NARGS(root), false), "* LIST (\\Noselect) \".\" \"\"\r\n");
	assert_string_equal(run(root2, NARGS(root2), false), "* LIST (\\Noselect) \".\" \"Lists.\"\r\n");
	assert_string_equal(run(sub, NARGS(sub), false),
			    "* LIST (\\HasChildren) \".\" \"Lists.osd\"\r\n");
}

/* LSUB: subscribed folders only; a '%' that stops at an unsubscribed parent lists it \Noselect. */
static void
test_imap_list_reply_lsub(void **state)
{
	struct imap_arg all[] = { STR(""), STR("*") };
	struct imap_arg top[] = { STR(""), STR("%") };
	struct imap_arg lists[] = { STR("Lists."), STR("%") };

	(void)state;
	assert_string_equal(run(all, NARGS(all), true),
			    "* LSUB () \".\" \"INBOX\"\r\n"
			    "* LSUB (\\Noselect) \".\" \"Gone\"\r\n"
			    "* LSUB () \".\" \"Lists.osd.dev\"\r\n"
			    "* LSUB (\\Sent) \".\" \"Sent\"\r\n");
	assert_string_equal(run(top, NARGS(top), true),
			    "* LSUB () \".\" \"INBOX\"\r\n"
			    "* LSUB (\\Noselect) \".\" \"Gone\"\r\n"
			    "* LSUB (\\Noselect) \".\" \"Lists\"\r\n"
			    "* LSUB (\\Sent) \".\" \"Sent\"\r\n");
	assert_string_equal(run(lists, NARGS(lists), true),
			    "* LSUB (\\Noselect) \".\" \"Lists.osd\"\r\n");
}

/* Selection options: SUBSCRIBED (with \Subscribed), RECURSIVEMATCH's CHILDINFO, SPECIAL-USE; multiple patterns. */
static void
test_imap_list_reply_extended(void **state)
{
	struct imap_arg subscribed[] = { ATOM("SUBSCRIBED") };
	struct imap_arg recursive[] = { ATOM("SUBSCRIBED"), ATOM("RECURSIVEMATCH") };
	struct imap_arg special[] = { ATOM("SPECIAL-USE") };
	struct imap_arg ret_sub[] = { ATOM("SUBSCRIBED") };
	struct imap_arg pats[] = { STR("Sent"), STR("inbox"), STR("Sent") };
	struct imap_arg s1[] = { LIST(subscribed), STR(""), STR("*") };
	struct imap_arg s2[] = { LIST(recursive), STR(""), STR("%") };
	struct imap_arg s3[] = { LIST(special), STR(""), STR("*") };
	struct imap_arg s4[] = { STR(""), LIST(pats), ATOM("RETURN"), LIST(ret_sub) };

	(void)state;
	assert_string_equal(run(s1, NARGS(s1), false),
			    "* LIST (\\Subscribed \\HasNoChildren) \".\" \"INBOX\"\r\n"
			    "* LIST (\\Subscribed \\NonExistent \\HasNoChildren) \".\" \"Gone\"\r\n"
			    "* LIST (\\Subscribed \\HasNoChildren) \".\" \"Lists.osd.dev\"\r\n"
			    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" \"Sent\"\r\n");
	assert_string_equal(run(s2, NARGS(s2), false),
			    "* LIST (\\Subscribed \\HasNoChildren) \".\" \"INBOX\"\r\n"
			    "* LIST (\\Subscribed \\NonExistent \\HasNoChildren) \".\" \"Gone\"\r\n"
			    "* LIST (\\NonExistent \\HasChildren) \".\" \"Lists\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
			    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" \"Sent\"\r\n");
	assert_string_equal(run(s3, NARGS(s3), false),
			    "* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\r\n"
			    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
			    "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\r\n");
	/* Each mailbox once, in the tree's order, whatever the patterns' order. */
	assert_string_equal(run(s4, NARGS(s4), false),
			    "* LIST (\\Subscribed \\HasNoChildren) \".\" \"INBOX\"\r\n"
			    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" \"Sent\"\r\n");
}

static void
fake_status(void *ctx, const char *name, unsigned items, struct buf *out)
{
	struct imap_folder_status st = { .messages = 3, .unseen = 1, .uidnext = 9, .size = 1234 };

	(*(int *)ctx)++;
	imap_status_write(out, name, items, &st);
}

/* RETURN (STATUS ...): a STATUS line after each selectable mailbox, items in RFC order (RFC 5819). */
static void
test_imap_list_reply_status(void **state)
{
	struct imap_arg items[] = { ATOM("UNSEEN"), ATOM("SIZE"), ATOM("MESSAGES") };
	struct imap_arg ret[] = { ATOM("STATUS"), LIST(items) };
	struct imap_arg a[] = { STR(""), STR("Lists*"), ATOM("RETURN"), LIST(ret) };
	struct imap_list_cmd cmd;
	struct buf out;
	const char *err;
	int calls = 0;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(imap_list_parse(a, NARGS(a), false, &cmd, &err), 0);
	imap_list_reply(&cmd, tree, NARGS(tree), fake_status, &calls, &out);
	imap_list_cmd_free(&cmd);
	assert_int_equal(calls, 2);
	assert_string_equal(out.data,
			    "* LIST (\\Noselect \\HasChildren) \".\" \"Lists\"\r\n"
			    "* LIST (\\HasChildren) \".\" \"Lists.osd\"\r\n"
			    "* STATUS \"Lists.osd\" (MESSAGES 3 UNSEEN 1 SIZE 1234)\r\n"
			    "* LIST (\\HasNoChildren) \".\" \"Lists.osd.dev\"\r\n"
			    "* STATUS \"Lists.osd.dev\" (MESSAGES 3 UNSEEN 1 SIZE 1234)\r\n");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_list_match_wildcards),
		cmocka_unit_test(test_imap_list_match_inbox_case),
		cmocka_unit_test(test_imap_list_match_no_backtracking),
		cmocka_unit_test(test_imap_list_parse_reference),
		cmocka_unit_test(test_imap_list_parse_extended),
		cmocka_unit_test(test_imap_list_parse_bad),
		cmocka_unit_test(test_imap_list_reply_plain),
		cmocka_unit_test(test_imap_list_reply_lsub),
		cmocka_unit_test(test_imap_list_reply_extended),
		cmocka_unit_test(test_imap_list_reply_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
