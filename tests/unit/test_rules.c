/* test_rules.c - unit tests for tcprules text compiled to table records (lib/relay/rules.c). */
#include <errno.h>
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

#include "path.h"
#include "rules.h"
#include "testutil.h"

/* Parse one NUL-terminated line into a fresh rule set; the line must be accepted. */
static void
parse_ok(struct rules *r, const char *line)
{
	char err[256] = "";

	rules_init(r);
	if (rules_parse_line(r, line, strlen(line), err, sizeof(err)) != 0)
		fail_msg("rejected \"%s\": %s", line, err);
}

static void
assert_record(const struct rules *r, size_t i, const char *key,
	      const char *value, size_t valuelen)
{
	const struct rule_record *rec;

	assert_true(i < r->count);
	rec = &r->records[i];
	if (rec->keylen != strlen(key) || memcmp(rec->key, key, rec->keylen) != 0)
		fail_msg("record %zu: want key \"%s\", got \"%.*s\"", i, key,
			 (int)rec->keylen, rec->key);
	assert_int_equal(rec->valuelen, valuelen);
	if (valuelen > 0)
		assert_memory_equal(rec->value, value, valuelen);
}

/* The line must be refused with a reason and leave r as it was. */
static void
assert_rejected(const char *line, size_t len)
{
	char err[256] = "";
	struct rules r;

	rules_init(&r);
	/* One record already there: a failed line must not add to it. */
	assert_int_equal(rules_add(&r, "k", 1, "", 0), 0);
	errno = 0;
	if (rules_parse_line(&r, line, len, err, sizeof(err)) != -1)
		fail_msg("accepted bad line \"%.*s\"", (int)(len > 60 ? 60 : len), line);
	assert_true(err[0] != '\0');
	assert_int_equal(r.count, 1);
	rules_free(&r);
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void
test_rules_allow_with_empty_variable(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "127.0.0.5:allow,RELAYCLIENT=\"\"");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "127.0.0.5", "+RELAYCLIENT=\0", 14);
	rules_free(&r);
}

static void
test_rules_plain_allow_is_empty_and_deny_is_d_nul(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "1.2.3.4:allow");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "1.2.3.4", "", 0);
	rules_free(&r);
	parse_ok(&r, "1.2.3.4:deny");
	assert_record(&r, 0, "1.2.3.4", "D\0", 2);
	rules_free(&r);
}

static void
test_rules_range_deny_expands_to_each_address(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "10.1.2.3-5:deny");
	assert_int_equal(r.count, 3);
	assert_record(&r, 0, "10.1.2.3", "D\0", 2);
	assert_record(&r, 1, "10.1.2.4", "D\0", 2);
	assert_record(&r, 2, "10.1.2.5", "D\0", 2);
	rules_free(&r);
}

static void
test_rules_prefix_with_two_variables_and_any_quote(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "192.168.:allow,RELAYCLIENT=\"\",FOO=/bar/");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "192.168.", "+RELAYCLIENT=\0+FOO=bar\0", 23);
	rules_free(&r);
}

static void
test_rules_host_name_deny(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "=host.example.com:deny");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "=host.example.com", "D\0", 2);
	rules_free(&r);
}

static void
test_rules_ipv6_keys_split_at_first_colon_before_allow_or_deny(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "2001:db8::1:allow,RELAYCLIENT=\"\"");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "2001:db8::1", "+RELAYCLIENT=\0", 14);
	rules_free(&r);

	parse_ok(&r, "2001:db8::allow");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "2001:db8:", "", 0);
	rules_free(&r);

	parse_ok(&r, "2001:db8:1:allow,A=\"1\"");
	assert_record(&r, 0, "2001:db8:1", "+A=1\0", 5);
	rules_free(&r);

	parse_ok(&r, "::ffff:1.2.3.4:allow,X=\"y\"");
	assert_record(&r, 0, "::ffff:1.2.3.4", "+X=y\0", 5);
	rules_free(&r);

	parse_ok(&r, "2001:db8::3:allow,X=/x:deny/");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "2001:db8::3", "+X=x:deny\0", 10);
	rules_free(&r);
}

static void
test_rules_default_keys(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, ":allow");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "", "", 0);
	rules_free(&r);
	parse_ok(&r, "=:deny");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "=", "D\0", 2);
	rules_free(&r);
}

static void
test_rules_value_may_contain_colon(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "1.2.3.4:allow,X=\"a:b\"");
	assert_record(&r, 0, "1.2.3.4", "+X=a:b\0", 7);
	rules_free(&r);
}

static void
test_rules_deny_with_variable(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "7.7.7.7:deny,A=\"1\"");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "7.7.7.7", "D\0+A=1\0", 7);
	rules_free(&r);
}

/* The range edge cases, with the value given as an instruction list. */
static void
check_range_edges(const char *instr, const char *value, size_t valuelen)
{
	char key[32], line[64];
	struct rules r;

	/* An empty start counts as 0. */
	snprintf(line, sizeof(line), "10.0.2.-5:%s", instr);
	parse_ok(&r, line);
	assert_int_equal(r.count, 6);
	for (unsigned i = 0; i <= 5; i++) {
		snprintf(key, sizeof(key), "10.0.2.%u", i);
		assert_record(&r, i, key, value, valuelen);
	}
	rules_free(&r);

	/* Stops at 255. */
	snprintf(line, sizeof(line), "10.0.4.250-300:%s", instr);
	parse_ok(&r, line);
	assert_int_equal(r.count, 6);
	for (unsigned i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "10.0.4.%u", 250 + i);
		assert_record(&r, i, key, value, valuelen);
	}
	rules_free(&r);

	/* An empty end counts as 0, and a reversed range is empty: no records, no error. */
	snprintf(line, sizeof(line), "10.0.1.2-:%s", instr);
	parse_ok(&r, line);
	assert_int_equal(r.count, 0);
	rules_free(&r);
	snprintf(line, sizeof(line), "10.0.3.7-2:%s", instr);
	parse_ok(&r, line);
	assert_int_equal(r.count, 0);
	rules_free(&r);

	/* What follows the end number stays at the end of each key. */
	snprintf(line, sizeof(line), "1.2.3.4-5.6:%s", instr);
	parse_ok(&r, line);
	assert_int_equal(r.count, 2);
	assert_record(&r, 0, "1.2.3.4.6", value, valuelen);
	assert_record(&r, 1, "1.2.3.5.6", value, valuelen);
	rules_free(&r);
}

static void
test_rules_range_edges(void **state)
{
	(void)state;
	check_range_edges("deny", "D\0", 2);
	check_range_edges("allow,X=\"1\"", "+X=1\0", 5);
}

static void
test_rules_range_plain_allow(void **state)
{
	(void)state;
	check_range_edges("allow", "", 0);
}

static void
test_rules_dash_in_host_or_info_is_not_a_range(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "=my-host.example.com:deny");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "=my-host.example.com", "D\0", 2);
	rules_free(&r);
	parse_ok(&r, "us-er@1.2.3.4:allow");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "us-er@1.2.3.4", "", 0);
	rules_free(&r);
}

/*
 * Found by tests/fuzz/tcprules_diff.py against Debian's tcprules: an
 * address with '=' or '@' anywhere is one key as written; a range needs
 * digits on both sides of its '-' and then the end or a '.'; an empty
 * variable name is kept; the separator is the first ':' before allow or
 * deny, whatever follows the word.
 */
static void
test_rules_tcprules_differential_regressions(void **state)
{
	/* Lines that give one record: the line, its key, its value. */
	static const struct {
		const char *line, *key, *value;
		size_t valuelen;
	} one[] = {
		{ "a@1.2.3.4-6:allow", "a@1.2.3.4-6", "", 0 },
		{ "@1-2:allow", "@1-2", "", 0 },
		{ "x=1.2.3.4-5:allow", "x=1.2.3.4-5", "", 0 },
		{ "a1.=-:allow", "a1.=-", "", 0 },
		{ "1.2.3.4:allow,=/v/", "1.2.3.4", "+=v\0", 4 },
		{ "-.a:deny", "0.a", "D\0", 2 },
	};
	static const char *const bad[] = {
		"1.2.3.4-5x:allow", "1.2.3.4-5-6:allow", "1.2.3.4--6:allow",
		"1.2.3.4:allow:deny", "1.2.3.4:deny:allow",
	};
	struct rules r;

	(void)state;
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		parse_ok(&r, one[i].line);
		assert_int_equal(r.count, 1);
		assert_record(&r, 0, one[i].key, one[i].value, one[i].valuelen);
		rules_free(&r);
	}
	/* ':' may be in a range's address: only the part before the '-' must be digits. */
	parse_ok(&r, "1.2:3.4-5:allow");
	assert_int_equal(r.count, 2);
	assert_record(&r, 1, "1.2:3.5", "", 0);
	rules_free(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i], strlen(bad[i]));
}

static void
test_rules_odd_variable_names_kept_as_tcprules_does(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "1.2.3.4:allow, X=\"1\"");
	assert_record(&r, 0, "1.2.3.4", "+ X=1\0", 6);
	rules_free(&r);
	parse_ok(&r, "8.8.8.8:allow,,Z=\"1\"");
	assert_record(&r, 0, "8.8.8.8", "+,Z=1\0", 6);
	rules_free(&r);
}

static void
test_rules_comments_and_blank_lines_add_nothing(void **state)
{
	static const char *const lines[] = { "# x", "", "   # indented", "   ", "\t", "\r" };
	struct rules r;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse_ok(&r, lines[i]);
		assert_int_equal(r.count, 0);
		rules_free(&r);
	}
}

static void
test_rules_trailing_cr_and_spaces_ignored(void **state)
{
	struct rules r;

	(void)state;
	parse_ok(&r, "1.2.3.4:deny\r");
	assert_int_equal(r.count, 1);
	assert_record(&r, 0, "1.2.3.4", "D\0", 2);
	rules_free(&r);
	parse_ok(&r, "1.2.3.4:allow,X=\"1\"   ");
	assert_record(&r, 0, "1.2.3.4", "+X=1\0", 5);
	rules_free(&r);
	parse_ok(&r, "1.2.3.4:allow \t\r");
	assert_record(&r, 0, "1.2.3.4", "", 0);
	rules_free(&r);
}

static void
test_rules_bad_lines_rejected_without_records(void **state)
{
	static const char *const bad[] = {
		"5.6.7.8:allow,A=!x!,B=",
		"1.1.1.2:allow # trailing",
		"1.1.1.3:allow,X=\"unterminated",
		"1.1.1.4",
		"1.2.3.x-5:allow",
		"2001:db8::1-3:allow",
		"1.2.3.4:allow,X=\"1\"deny",
		"1.2.3.4:deny,allow",
		"1.2.3.4:allowx",
		"1.2.3.4:DENY",
		"1.2.3.4:allow,X=\"1\",",
		"1.2.3.4:allow,=x=",
		"  9.9.9.9 : allow",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i], strlen(bad[i]));
}

static void
test_rules_overlong_line_rejected(void **state)
{
	char *line = malloc(5000);

	(void)state;
	assert_non_null(line);
	/* A valid rule padded with a long variable value: length alone refuses it. */
	memset(line, 'a', 5000);
	memcpy(line, "1.2.3.4:allow,X=\"", 17);
	line[4999] = '"';
	assert_rejected(line, 5000);
	free(line);
}

static void
test_rules_nul_byte_in_line_rejected(void **state)
{
	static const char line[] = "1.2.3.4:allow,X=\"a\0b\"";

	(void)state;
	assert_rejected(line, sizeof(line) - 1);
	/* Also where it would cut the line into a valid rule. */
	assert_rejected("1.2.3.4:allow\0junk", 18);
}

static void
test_rules_load_file_missing_returns_1(void **state)
{
	char path[PATH_MAX], err[256] = "";
	struct rules r;

	assert_int_equal(path_join(path, sizeof(path), *state, "no-such-tcp.smtp"), 0);
	assert_int_equal(rules_load_file(&r, path, err, sizeof(err)), 1);
	assert_int_equal(r.count, 0);
	rules_free(&r);
}

static void
test_rules_load_file_bad_line_names_file_and_line(void **state)
{
	char path[PATH_MAX], err[PATH_MAX + 256] = "", prefix[PATH_MAX + 8];
	struct rules r;

	assert_int_equal(path_join(path, sizeof(path), *state, "tcp.smtp"), 0);
	write_text(path, "127.:allow,RELAYCLIENT=\"\"\n# comment\n1.2.3.4:bogus\n:allow\n");
	assert_int_equal(rules_load_file(&r, path, err, sizeof(err)), -1);
	snprintf(prefix, sizeof(prefix), "%s:3: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("err \"%s\" does not start with \"%s\"", err, prefix);
	assert_true(strlen(err) > strlen(prefix));
	assert_int_equal(r.count, 0);
	rules_free(&r);
}

static void
test_rules_load_file_keeps_file_order(void **state)
{
	char path[PATH_MAX], err[256] = "";
	struct rules r;

	assert_int_equal(path_join(path, sizeof(path), *state, "tcp.smtp"), 0);
	write_text(path,
		   "# relay rules\n"
		   "127.0.0.1:allow,RELAYCLIENT=\"\"\r\n"
		   "\n"
		   "10.0.0.1-2:deny\n"
		   "2001:db8::allow,RELAYCLIENT=\"\"\n"
		   ":allow");     /* last line without newline */
	assert_int_equal(rules_load_file(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.count, 5);
	assert_record(&r, 0, "127.0.0.1", "+RELAYCLIENT=\0", 14);
	assert_record(&r, 1, "10.0.0.1", "D\0", 2);
	assert_record(&r, 2, "10.0.0.2", "D\0", 2);
	assert_record(&r, 3, "2001:db8:", "+RELAYCLIENT=\0", 14);
	assert_record(&r, 4, "", "", 0);
	rules_free(&r);
}

static void
test_rules_add_copies_key_and_value(void **state)
{
	char key[] = "1.2.3.4", value[] = "+RELAYCLIENT=";
	struct rules r;

	(void)state;
	rules_init(&r);
	assert_int_equal(rules_add(&r, key, 7, value, sizeof(value)), 0);
	key[0] = 'X';
	value[0] = 'X';
	assert_record(&r, 0, "1.2.3.4", "+RELAYCLIENT=\0", 14);
	/* Many records: the array grows and keeps earlier ones. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(rules_add(&r, "k", 1, "v", 1), 0);
	assert_int_equal(r.count, 1001);
	assert_record(&r, 0, "1.2.3.4", "+RELAYCLIENT=\0", 14);
	assert_record(&r, 1000, "k", "v", 1);
	rules_free(&r);
	assert_int_equal(r.count, 0);
}

static void
test_rules_match_finds_record_as_tcpserver_would(void **state)
{
	static const char *const lines[] = {
		"10.:deny",
		"10.1.:allow,L=\"2\"",
		"10.1.2.3:allow,L=\"exact\"",
		"10.1.2.3:deny",
		"2001:db8::allow,L=\"v6\"",
	};
	const struct rule_record *rec;
	char err[256];
	struct rules r;

	(void)state;
	rules_init(&r);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(rules_parse_line(&r, lines[i], strlen(lines[i]), err, sizeof(err)), 0);

	/* The exact key, and of two records the first. */
	rec = rules_match(&r, "10.1.2.3", 8);
	assert_non_null(rec);
	assert_ptr_equal(rec, &r.records[2]);
	assert_false(rules_record_is_deny(rec));
	/* The longest prefix ending in '.' or ':'. */
	rec = rules_match(&r, "10.1.2.4", 8);
	assert_ptr_equal(rec, &r.records[1]);
	rec = rules_match(&r, "10.11.2.4", 9);
	assert_ptr_equal(rec, &r.records[0]);
	assert_true(rules_record_is_deny(rec));
	rec = rules_match(&r, "2001:db8::5", 11);
	assert_ptr_equal(rec, &r.records[4]);
	/* No default rule: nothing. */
	assert_null(rules_match(&r, "192.0.2.1", 9));

	/* Records added after a lookup are seen by the next one. */
	assert_int_equal(rules_parse_line(&r, ":deny", 5, err, sizeof(err)), 0);
	rec = rules_match(&r, "192.0.2.1", 9);
	assert_non_null(rec);
	assert_int_equal(rec->keylen, 0);
	assert_true(rules_record_is_deny(rec));
	rules_free(&r);
}

static void
test_rules_have_deny_ignores_the_default_rule(void **state)
{
	struct rules r;
	char err[256];

	(void)state;
	rules_init(&r);
	assert_int_equal(rules_parse_line(&r, ":deny", 5, err, sizeof err), 0);
	assert_int_equal(rules_parse_line(&r, "1.2.3.4:allow", 13, err, sizeof err), 0);
	assert_false(rules_have_deny(&r));
	assert_int_equal(rules_parse_line(&r, "10.0.0.:deny", 12, err, sizeof err), 0);
	/* The index is rebuilt when records were added after it. */
	assert_true(rules_have_deny(&r));
	rules_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_allow_with_empty_variable),
		cmocka_unit_test(test_rules_plain_allow_is_empty_and_deny_is_d_nul),
		cmocka_unit_test(test_rules_range_deny_expands_to_each_address),
		cmocka_unit_test(test_rules_prefix_with_two_variables_and_any_quote),
		cmocka_unit_test(test_rules_host_name_deny),
		cmocka_unit_test(test_rules_ipv6_keys_split_at_first_colon_before_allow_or_deny),
		cmocka_unit_test(test_rules_default_keys),
		cmocka_unit_test(test_rules_value_may_contain_colon),
		cmocka_unit_test(test_rules_deny_with_variable),
		cmocka_unit_test(test_rules_range_edges),
		cmocka_unit_test(test_rules_range_plain_allow),
		cmocka_unit_test(test_rules_dash_in_host_or_info_is_not_a_range),
		cmocka_unit_test(test_rules_tcprules_differential_regressions),
		cmocka_unit_test(test_rules_odd_variable_names_kept_as_tcprules_does),
		cmocka_unit_test(test_rules_comments_and_blank_lines_add_nothing),
		cmocka_unit_test(test_rules_trailing_cr_and_spaces_ignored),
		cmocka_unit_test(test_rules_bad_lines_rejected_without_records),
		cmocka_unit_test(test_rules_overlong_line_rejected),
		cmocka_unit_test(test_rules_nul_byte_in_line_rejected),
		cmocka_unit_test_setup_teardown(test_rules_load_file_missing_returns_1,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rules_load_file_bad_line_names_file_and_line,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rules_load_file_keeps_file_order,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_rules_add_copies_key_and_value),
		cmocka_unit_test(test_rules_match_finds_record_as_tcpserver_would),
		cmocka_unit_test(test_rules_have_deny_ignores_the_default_rule),
	};

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
