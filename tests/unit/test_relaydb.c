/* test_relaydb.c - unit tests for writing relay.cdb and looking up as tcpserver -x (lib/relay/relaydb.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "ipaddr.h"
#include "path.h"
#include "relaydb.h"
#include "rules.h"
#include "testutil.h"

/* Yields keys[] one by one; fail_at >= 0 makes that call an error. */
struct key_list {
	const char *const *keys;
	size_t count, next;
	long fail_at;
};

static int
next_key(void *ctx, struct ipaddr *entry_r)
{
	struct key_list *kl = ctx;

	if (kl->fail_at >= 0 && (size_t)kl->fail_at == kl->next) {
		errno = EIO;
		return -1;
	}
	if (kl->next >= kl->count)
		return 0;
	assert_int_equal(ipaddr_parse(kl->keys[kl->next], entry_r), 0);
	kl->next++;
	return 1;
}

/*
 * Write dir/relay.cdb from static rule lines (NULL-terminated) and dynamic
 * keys (NULL-terminated); path_r gets the path.  Returns what
 * relaydb_write returned: the number of records written.
 */
static long
write_table_as(const char *dir, const char *const *lines, const char *const *dyn,
	       const struct relaydb_dynamic *dynamic, char *path_r, size_t size)
{
	struct key_list kl = { dyn, 0, 0, -1 };
	char err[256];
	struct rules statics;
	long n;

	assert_int_equal(path_join(path_r, size, dir, "relay.cdb"), 0);
	rules_init(&statics);
	for (size_t i = 0; lines != NULL && lines[i] != NULL; i++)
		if (rules_parse_line(&statics, lines[i], strlen(lines[i]), err, sizeof(err)) != 0)
			fail_msg("rejected \"%s\": %s", lines[i], err);
	while (dyn != NULL && dyn[kl.count] != NULL)
		kl.count++;
	n = relaydb_write(path_r, &statics, dynamic, next_key, &kl, false);
	assert_true(n >= 0);
	/* Every key was asked for, whether written or not. */
	assert_int_equal(kl.next, kl.count);
	rules_free(&statics);
	return n;
}

static long
write_table(const char *dir, const char *const *lines, const char *const *dyn,
	    char *path_r, size_t size)
{
	return write_table_as(dir, lines, dyn, NULL, path_r, size);
}

static void
lookup(const char *path, const char *text, struct relaydb_result *res)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	memset(res, 0x5a, sizeof(*res));       /* lookup must fill all of it */
	assert_int_equal(relaydb_lookup(path, &a, res), 0);
}

/* Names in dir other than "." and ".." and keep. */
static int
count_other_files(const char *dir, const char *keep)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, keep) != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_relaydb_exact_match_beats_prefix(void **state)
{
	static const char *const lines[] = {
		"192.168.:deny",
		"192.168.1.1:allow,WHO=\"exact\"",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "192.168.1.1", &res);
	assert_true(res.matched);
	assert_true(res.allow);
	assert_string_equal(res.key, "192.168.1.1");
	assert_string_equal(relaydb_getenv(&res, "WHO"), "exact");

	lookup(path, "192.168.7.7", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "192.168.");
	assert_int_equal(res.env_count, 0);
	assert_int_equal(res.nrecords, 1);
}

static void
test_relaydb_longest_prefix_wins(void **state)
{
	static const char *const lines[] = {
		"10.:deny",
		"10.1.:allow,LEVEL=\"2\"",
		"10.1.2.:allow,LEVEL=\"3\"",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "10.1.2.3", &res);
	assert_string_equal(res.key, "10.1.2.");
	assert_string_equal(relaydb_getenv(&res, "LEVEL"), "3");
	lookup(path, "10.1.9.3", &res);
	assert_string_equal(res.key, "10.1.");
	assert_string_equal(relaydb_getenv(&res, "LEVEL"), "2");
	lookup(path, "10.9.9.9", &res);
	assert_string_equal(res.key, "10.");
	assert_false(res.allow);
	/* "10.1" is not a prefix at a '.' of 10.11.0.1's key. */
	lookup(path, "10.11.0.1", &res);
	assert_string_equal(res.key, "10.");
}

static void
test_relaydb_ipv6_prefix_matches_in_key_form(void **state)
{
	static const char *const lines[] = {
		"2001:db8::allow,RELAYCLIENT=\"\"",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "2001:db8:1::5", &res);
	assert_true(res.matched);
	assert_true(res.allow);
	assert_string_equal(res.key, "2001:db8:");
	assert_non_null(relaydb_getenv(&res, "RELAYCLIENT"));
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
	/* The key form "2001:db8::5" is cut at each ':' as well. */
	lookup(path, "2001:db8::5", &res);
	assert_string_equal(res.key, "2001:db8:");
	lookup(path, "2001:db9::5", &res);
	assert_false(res.matched);
}

static void
test_relaydb_ipv6_exact_key_is_tcpserver_form(void **state)
{
	/* inet_ntop writes 2001:db8:0:1:1:1:1:1; tcpserver's key is this. */
	static const char *const lines[] = {
		"2001:db8::1:1:1:1:1:deny",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "2001:db8:0:1:1:1:1:1", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "2001:db8::1:1:1:1:1");
}

static void
test_relaydb_default_rule_used_when_nothing_else_matches(void **state)
{
	static const char *const lines[] = {
		"127.:allow,RELAYCLIENT=\"\"",
		":deny",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "198.51.100.1", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "");
	lookup(path, "2001:db8::1", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "");
	lookup(path, "127.0.0.1", &res);
	assert_true(res.allow);
	assert_string_equal(res.key, "127.");
}

static void
test_relaydb_no_rule_is_unmatched_allow(void **state)
{
	static const char *const lines[] = { "127.:allow", NULL };
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "198.51.100.1", &res);
	assert_false(res.matched);
	assert_true(res.allow);
	assert_int_equal(res.env_count, 0);
	assert_null(relaydb_getenv(&res, "RELAYCLIENT"));
}

static void
test_relaydb_lookup_exact_key_beats_prefix_deny(void **state)
{
	/* tcpserver tries the exact address first, so an exact allow inside
	 * a denied prefix wins at lookup time.  Written here as static
	 * records, since relaydb_write filters dynamic ones (next test). */
	char path[PATH_MAX];
	struct relaydb_result res;
	struct rules statics;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	rules_init(&statics);
	assert_int_equal(rules_add(&statics, "10.0.0.", 7, "D", 2), 0);
	assert_int_equal(rules_add(&statics, "10.0.0.5", 8, RELAYDB_DYNAMIC_VALUE,
				   RELAYDB_DYNAMIC_VALUE_LEN), 0);
	assert_int_equal(relaydb_write(path, &statics, NULL, NULL, NULL, false), 2);
	rules_free(&statics);

	lookup(path, "10.0.0.5", &res);
	assert_true(res.matched);
	assert_true(res.allow);
	assert_string_equal(res.key, "10.0.0.5");
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
	lookup(path, "10.0.0.6", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "10.0.0.");
}

static void
test_relaydb_write_skips_dynamic_keys_a_static_deny_covers(void **state)
{
	/* relaydb.h: an administrator's deny (exact or prefix) stays a deny
	 * whoever logs in; only the default rule does not count. */
	static const char *const lines[] = {
		"10.0.0.:deny",
		"10.0.0.9:allow",
		"1.2.3.4:deny",
		"2001:db8::deny",
		NULL,
	};
	static const char *const dyn[] = {
		"10.0.0.5", "1.2.3.4", "2001:db8::5", "10.0.0.9", "10.1.0.1", NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	/* 4 static records + 10.0.0.9 (its exact rule allows) + 10.1.0.1. */
	assert_int_equal(write_table(*state, lines, dyn, path, sizeof(path)), 6);
	lookup(path, "10.0.0.5", &res);
	assert_true(res.matched);
	assert_false(res.allow);
	assert_string_equal(res.key, "10.0.0.");
	assert_null(relaydb_getenv(&res, "RELAYCLIENT"));

	lookup(path, "1.2.3.4", &res);
	assert_false(res.allow);
	assert_string_equal(res.key, "1.2.3.4");
	assert_int_equal(res.nrecords, 1);

	lookup(path, "2001:db8::5", &res);
	assert_false(res.allow);
	assert_string_equal(res.key, "2001:db8:");

	lookup(path, "10.0.0.9", &res);
	assert_true(res.allow);
	assert_int_equal(res.nrecords, 2);
	assert_null(relaydb_getenv(&res, "RELAYCLIENT"));   /* the static record is first */

	lookup(path, "10.1.0.1", &res);
	assert_true(res.allow);
	assert_int_equal(res.nrecords, 1);
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
}

static void
test_relaydb_write_default_deny_does_not_block_dynamic_keys(void **state)
{
	static const char *const lines[] = { ":deny", NULL };
	static const char *const dyn[] = { "192.0.2.7", NULL };
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_int_equal(write_table(*state, lines, dyn, path, sizeof(path)), 2);
	lookup(path, "192.0.2.7", &res);
	assert_true(res.allow);
	assert_string_equal(res.key, "192.0.2.7");
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
	lookup(path, "192.0.2.8", &res);
	assert_false(res.allow);
	assert_string_equal(res.key, "");
}

static void
test_relaydb_static_exact_rule_beats_same_dynamic_key(void **state)
{
	static const char *const lines[] = { "1.2.3.4:allow,DATABYTES=\"10\"", NULL };
	static const char *const dyn[] = { "1.2.3.4", NULL };
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_int_equal(write_table(*state, lines, dyn, path, sizeof(path)), 2);
	lookup(path, "1.2.3.4", &res);
	assert_true(res.matched);
	assert_true(res.allow);
	assert_string_equal(res.key, "1.2.3.4");
	assert_int_equal(res.nrecords, 2);
	assert_string_equal(relaydb_getenv(&res, "DATABYTES"), "10");
	assert_null(relaydb_getenv(&res, "RELAYCLIENT"));
}

static void
test_relaydb_dynamic_only_key_sets_relayclient(void **state)
{
	char key[IPADDR_TEXT_MAX];
	const char *dyn[3] = { "192.0.2.7", key, NULL };
	char path[PATH_MAX];
	struct relaydb_result res;
	struct ipaddr a;

	/* The watcher writes IPv6 keys in tcpserver's form. */
	assert_int_equal(ipaddr_parse("2001:db8:0:1:1:1:1:1", &a), 0);
	ipaddr_format_key(&a, key);
	assert_int_equal(write_table(*state, NULL, dyn, path, sizeof(path)), 2);

	lookup(path, "192.0.2.7", &res);
	assert_true(res.matched);
	assert_true(res.allow);
	assert_int_equal(res.nrecords, 1);
	assert_int_equal(res.env_count, 1);
	assert_string_equal(res.env[0].name, "RELAYCLIENT");
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");

	lookup(path, "2001:db8:0:1:1:1:1:1", &res);
	assert_true(res.matched);
	assert_int_equal(res.nrecords, 1);
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
	/* An IPv4 client seen as IPv4-mapped finds its IPv4 key. */
	lookup(path, "::ffff:192.0.2.7", &res);
	assert_true(res.matched);
	assert_string_equal(res.key, "192.0.2.7");
}

static void
test_relaydb_getenv_finds_each_variable(void **state)
{
	static const char *const lines[] = {
		"127.0.0.1:allow,RELAYCLIENT=\"\",DATABYTES=/1000/,QMAILQUEUE='q:x'",
		NULL,
	};
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_true(write_table(*state, lines, NULL, path, sizeof(path)) > 0);
	lookup(path, "127.0.0.1", &res);
	assert_int_equal(res.env_count, 3);
	assert_string_equal(relaydb_getenv(&res, "RELAYCLIENT"), "");
	assert_string_equal(relaydb_getenv(&res, "DATABYTES"), "1000");
	assert_string_equal(relaydb_getenv(&res, "QMAILQUEUE"), "q:x");
	assert_null(relaydb_getenv(&res, "DATA"));
	assert_null(relaydb_getenv(&res, "relayclient"));
}

static void
test_relaydb_write_counts_and_leaves_no_temp(void **state)
{
	static const char *const lines[] = { "10.1.2.3-5:deny", ":allow", NULL };
	static const char *const dyn[] = { "1.1.1.1", "2.2.2.2", NULL };
	char path[PATH_MAX];

	assert_int_equal(write_table(*state, lines, dyn, path, sizeof(path)), 6);
	assert_int_equal(count_other_files(*state, "relay.cdb"), 0);
	/* Replacing it again leaves only the one file, too. */
	assert_int_equal(write_table(*state, NULL, dyn, path, sizeof(path)), 2);
	assert_int_equal(count_other_files(*state, "relay.cdb"), 0);
}

static void
test_relaydb_write_callback_error_keeps_old_table(void **state)
{
	static const char *const dyn[] = { "1.1.1.1", "2.2.2.2", NULL };
	struct key_list kl = { dyn, 2, 0, 1 };
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_int_equal(write_table(*state, NULL, dyn, path, sizeof(path)), 2);
	errno = 0;
	assert_int_equal(relaydb_write(path, NULL, NULL, next_key, &kl, false), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(count_other_files(*state, "relay.cdb"), 0);
	lookup(path, "2.2.2.2", &res);
	assert_true(res.matched);
}

static void
test_relaydb_write_empty_table(void **state)
{
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	assert_int_equal(relaydb_write(path, NULL, NULL, NULL, NULL, true), 0);
	lookup(path, "1.2.3.4", &res);
	assert_false(res.matched);
	assert_true(res.allow);
}

static void
test_relaydb_missing_file_is_unmatched(void **state)
{
	char path[PATH_MAX];
	struct relaydb_result res;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	lookup(path, "1.2.3.4", &res);
	assert_false(res.matched);
	assert_true(res.allow);
	assert_int_equal(res.env_count, 0);
}

static void
test_relaydb_garbage_file_fails_cleanly(void **state)
{
	char path[PATH_MAX];
	struct relaydb_result res;
	struct ipaddr a;
	int fd, r;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "abc", 3), 0);
	close(fd);
	assert_int_equal(ipaddr_parse("1.2.3.4", &a), 0);
	r = relaydb_lookup(path, &a, &res);
	if (r == 0)
		assert_false(res.matched);
	else
		assert_int_equal(r, -1);
}

/* Decode len bytes from an exact-size heap copy, so that reading past the
 * end is caught by the sanitizer build. */
static int
decode(const char *value, size_t len, struct relaydb_result *res)
{
	char *copy = malloc(len ? len : 1);
	int r, saved;

	assert_non_null(copy);
	memcpy(copy, value, len);
	memset(res, 0, sizeof(*res));
	errno = 0;
	r = relaydb_decode_value(copy, len, res);
	saved = errno;
	free(copy);
	errno = saved;
	return r;
}

static void
assert_decode_invalid(const char *value, size_t len)
{
	struct relaydb_result res;

	if (decode(value, len, &res) != -1)
		fail_msg("accepted malformed value of %zu bytes", len);
	assert_int_equal(errno, EINVAL);
}

static void
test_relaydb_decode_value_accepts_tcprules_values(void **state)
{
	struct relaydb_result res;

	(void)state;
	assert_int_equal(decode("", 0, &res), 0);
	assert_true(res.allow);
	assert_int_equal(res.env_count, 0);
	assert_int_equal(decode("D\0", 2, &res), 0);
	assert_false(res.allow);
	assert_int_equal(decode("D\0+A=1\0+B=\0", 11, &res), 0);
	assert_false(res.allow);
	assert_int_equal(res.env_count, 2);
	assert_string_equal(relaydb_getenv(&res, "A"), "1");
	assert_string_equal(relaydb_getenv(&res, "B"), "");
	/* The value may itself hold '='. */
	assert_int_equal(decode("+X=a=b\0", 7, &res), 0);
	assert_string_equal(relaydb_getenv(&res, "X"), "a=b");
}

static void
test_relaydb_decode_value_rejects_hostile_input(void **state)
{
	char name100[128], many[40 * 8];
	size_t len = 0;

	(void)state;
	assert_decode_invalid("+\0", 2);
	assert_decode_invalid("+", 1);
	assert_decode_invalid("+=x\0", 4);
	assert_decode_invalid("X\0", 2);
	assert_decode_invalid("DD\0", 3);

	/* A variable name longer than the result can hold. */
	name100[0] = '+';
	memset(name100 + 1, 'N', 100);
	memcpy(name100 + 101, "=v", 3);
	assert_decode_invalid(name100, 104);

	/* A value longer than the result can hold. */
	{
		char *big = malloc(1100);

		assert_non_null(big);
		memcpy(big, "+V=", 3);
		memset(big + 3, 'v', 1096);
		big[1099] = '\0';
		assert_decode_invalid(big, 1100);
		free(big);
	}

	/* More variables than RELAYDB_ENV_MAX. */
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "+V%02d=x", i) + 1;
	assert_decode_invalid(many, len);
}

static void
test_relaydb_decode_value_rejects_missing_nul(void **state)
{
	(void)state;
	/* tcprules ends every item with NUL; an unterminated one is malformed. */
	assert_decode_invalid("+A=b", 4);
	assert_decode_invalid("D\0+A=b", 6);
	assert_decode_invalid("D", 1);
}

static void
test_relaydb_decode_value_survives_random_bytes(void **state)
{
	static const char alphabet[] = { '+', '=', 'D', '\0', 'A', 'x', '\0', '+' };
	uint64_t s = 0x0123456789abcdefull;
	char buf[2200];
	struct relaydb_result res;

	(void)state;
	for (int n = 0; n < 20000; n++) {
		size_t len;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		len = (size_t)(s % sizeof(buf));
		if (n % 2 == 0)
			len %= 64;
		for (size_t i = 0; i < len; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			buf[i] = n % 3 ? alphabet[s % sizeof(alphabet)] : (char)(s >> 24);
		}
		int r = decode(buf, len, &res);
		assert_true(r == 0 || (r == -1 && errno == EINVAL));
		assert_true(res.env_count <= RELAYDB_ENV_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_relaydb_exact_match_beats_prefix,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_longest_prefix_wins,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_ipv6_prefix_matches_in_key_form,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_ipv6_exact_key_is_tcpserver_form,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_default_rule_used_when_nothing_else_matches,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_no_rule_is_unmatched_allow,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_lookup_exact_key_beats_prefix_deny,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_write_skips_dynamic_keys_a_static_deny_covers,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_write_default_deny_does_not_block_dynamic_keys,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_static_exact_rule_beats_same_dynamic_key,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_dynamic_only_key_sets_relayclient,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_getenv_finds_each_variable,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_write_counts_and_leaves_no_temp,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_write_callback_error_keeps_old_table,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_write_empty_table,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_missing_file_is_unmatched,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relaydb_garbage_file_fails_cleanly,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_relaydb_decode_value_accepts_tcprules_values),
		cmocka_unit_test(test_relaydb_decode_value_rejects_hostile_input),
		cmocka_unit_test(test_relaydb_decode_value_rejects_missing_nul),
		cmocka_unit_test(test_relaydb_decode_value_survives_random_bytes),
	};

	return cmocka_run_group_tests_name("relaydb", tests, NULL, NULL);
}
