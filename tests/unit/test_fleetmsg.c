/* test_fleetmsg.c - unit tests for the fleet's login records (lib/relay/fleetmsg.c): the text written, and refusing what Redis should never have held. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fleetmsg.h"
#include "ipaddr.h"

#define NOW_MS INT64_C(1800000000123)
#define EXPIRE 10800L   /* relay_expire 3 h */

static struct fleet_login
login(const char *addr, int64_t ms, const char *user)
{
	struct fleet_login l = { .login_ms = ms };

	assert_int_equal(ipaddr_parse(addr, &l.addr), 0);
	snprintf(l.user, sizeof l.user, "%s", user);
	return l;
}

static enum fleet_verdict
parse_msg(const char *msg, struct fleet_login *l)
{
	return fleet_parse_message(msg, strlen(msg), NOW_MS, EXPIRE, l);
}

static enum fleet_verdict
parse_kv(const char *key, const char *value, struct fleet_login *l)
{
	return fleet_parse_key_value("osd", key, strlen(key), value, strlen(value), NOW_MS, EXPIRE, l);
}

static void
test_fleetmsg_names(void **state)
{
	struct fleet_login l = login("2001:db8::7", NOW_MS, "");
	char out[FLEET_MSG_MAX];

	(void)state;
	assert_int_equal(fleet_key("osd", &l.addr, out, sizeof out), 21);
	assert_string_equal(out, "osd:relay:2001:db8::7");
	assert_true(fleet_key_pattern("fleet1", out, sizeof out) > 0);
	assert_string_equal(out, "fleet1:relay:*");
	assert_true(fleet_channel("osd", out, sizeof out) > 0);
	assert_string_equal(out, "osd:logins");
	/* Too small: refused, never cut. */
	assert_int_equal(fleet_key("osd", &l.addr, out, 10), -1);
	assert_true(fleet_prefix_valid("osd"));
	assert_true(fleet_prefix_valid("site-1.fleet/a_b"));
	assert_false(fleet_prefix_valid(""));
	assert_false(fleet_prefix_valid("a*"));
	assert_false(fleet_prefix_valid("a:b"));
	assert_false(fleet_prefix_valid("a[b]"));
}

static void
test_fleetmsg_round_trip(void **state)
{
	struct fleet_login l = login("192.0.2.7", NOW_MS - 5000, "joe@example.org"), back;
	char msg[FLEET_MSG_MAX], value[FLEET_MSG_MAX];

	(void)state;
	assert_true(fleet_message(&l, msg, sizeof msg) > 0);
	assert_string_equal(msg, "192.0.2.7 1799999995123 joe@example.org");
	assert_int_equal(parse_msg(msg, &back), FLEET_OK);
	assert_int_equal(back.login_ms, l.login_ms);
	assert_string_equal(back.user, "joe@example.org");
	assert_true(ipaddr_equal(&back.addr, &l.addr));

	assert_true(fleet_value(&l, value, sizeof value) > 0);
	assert_string_equal(value, "1799999995123 joe@example.org");
	assert_int_equal(parse_kv("osd:relay:192.0.2.7", value, &back), FLEET_OK);
	assert_int_equal(back.login_ms, l.login_ms);
	assert_string_equal(back.user, "joe@example.org");

	/* A login that names no one: no user field at all. */
	l = login("2001:db8::1", NOW_MS, "");
	assert_true(fleet_message(&l, msg, sizeof msg) > 0);
	assert_string_equal(msg, "2001:db8::1 1800000000123");
	assert_int_equal(parse_msg(msg, &back), FLEET_OK);
	assert_string_equal(back.user, "");
	assert_true(fleet_value(&l, value, sizeof value) > 0);
	assert_string_equal(value, "1800000000123");
}

static void
test_fleetmsg_refuses_bad_addresses(void **state)
{
	struct fleet_login l;

	(void)state;
	assert_int_equal(parse_msg("192.0.2.300 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_msg("0.0.0.0 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_msg("224.0.0.1 1800000000000", &l), FLEET_BAD_ADDRESS);
	/* Not canonical: would name a second entry for one address. */
	assert_int_equal(parse_msg("2001:DB8::1 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_msg("192.0.2.07 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_msg("../etc 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_kv("osd:relay:.osd-users", "1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_kv("osd:relay:192.0.2.1/24", "1800000000000", &l), FLEET_BAD_ADDRESS);
	/* Another fleet's key, or none of ours. */
	assert_int_equal(parse_kv("other:relay:192.0.2.1", "1800000000000", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_kv("osd:relax:192.0.2.1", "1800000000000", &l), FLEET_BAD_SYNTAX);
	/* A NUL inside a Redis string. */
	assert_int_equal(fleet_parse_message("192.0.2.1\0 1800000000000", 24, NOW_MS, EXPIRE, &l),
			 FLEET_BAD_ADDRESS);
	assert_int_equal(fleet_parse_key_value("osd", "osd:relay:192.0.2.1\0x", 21, "1800000000000", 13,
					       NOW_MS, EXPIRE, &l), FLEET_BAD_ADDRESS);
}

static void
test_fleetmsg_refuses_bad_syntax_and_users(void **state)
{
	struct fleet_login l;

	(void)state;
	assert_int_equal(parse_msg("192.0.2.1", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_msg("192.0.2.1 ", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_msg("192.0.2.1 -1800000000000", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_msg("192.0.2.1 18e11", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_msg("192.0.2.1 99999999999999999999999", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_msg("192.0.2.1 1800000000000 ", &l), FLEET_BAD_USER);
	assert_int_equal(parse_msg("192.0.2.1 1800000000000 two words", &l), FLEET_BAD_USER);
	assert_int_equal(parse_msg("192.0.2.1 1800000000000 bell\a", &l), FLEET_BAD_USER);
	assert_int_equal(parse_kv("osd:relay:192.0.2.1", "", &l), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_kv("osd:relay:192.0.2.1", "x1800000000000", &l), FLEET_BAD_SYNTAX);
}

static void
test_fleetmsg_refuses_future_and_expired_times(void **state)
{
	struct fleet_login l;
	char msg[FLEET_MSG_MAX];

	(void)state;
	/* A minute ahead of our clock: nobody logged in then. */
	snprintf(msg, sizeof msg, "192.0.2.1 %lld", (long long)(NOW_MS + 60000));
	assert_int_equal(parse_msg(msg, &l), FLEET_FUTURE);
	/* Within the clock skew allowed between hosts. */
	snprintf(msg, sizeof msg, "192.0.2.1 %lld", (long long)(NOW_MS + FLEET_CLOCK_SKEW_MS));
	assert_int_equal(parse_msg(msg, &l), FLEET_OK);
	/* Expired exactly at login + relay_expire, as opensmtp_is_expired. */
	snprintf(msg, sizeof msg, "192.0.2.1 %lld", (long long)(NOW_MS - EXPIRE * 1000));
	assert_int_equal(parse_msg(msg, &l), FLEET_EXPIRED);
	snprintf(msg, sizeof msg, "192.0.2.1 %lld", (long long)(NOW_MS - EXPIRE * 1000 + 1));
	assert_int_equal(parse_msg(msg, &l), FLEET_OK);
	assert_int_equal(parse_kv("osd:relay:192.0.2.1", "0", &l), FLEET_EXPIRED);
	assert_string_equal(fleet_verdict_text(FLEET_EXPIRED), "login older than relay_expire");
}

static enum fleet_verdict
parse_rv(const char *msg, struct fleet_revocation *rv)
{
	return fleet_parse_revocation(msg, strlen(msg), NOW_MS, EXPIRE, rv);
}

static void
test_fleetmsg_revocation_round_trip(void **state)
{
	struct fleet_revocation rv = { .revoke_ms = NOW_MS - 10 }, back;
	char msg[FLEET_MSG_MAX], key[FLEET_MSG_MAX];

	(void)state;
	assert_int_equal(ipaddr_parse("2001:db8::7", &rv.addr), 0);
	assert_true(fleet_revocation_message(&rv, msg, sizeof msg) > 0);
	assert_string_equal(msg, "revoke 2001:db8::7 1800000000113");
	assert_true(fleet_message_is_revocation(msg, strlen(msg)));
	assert_int_equal(parse_rv(msg, &back), FLEET_OK);
	assert_false(back.by_user);
	assert_true(ipaddr_equal(&back.addr, &rv.addr));
	assert_int_equal(back.revoke_ms, rv.revoke_ms);
	assert_true(fleet_tombstone_key("osd", &rv, key, sizeof key) > 0);
	assert_string_equal(key, "osd:relay:revoked:2001:db8::7");
	assert_true(fleet_key_is_tombstone("osd", key, strlen(key)));
	assert_int_equal(fleet_parse_tombstone("osd", key, strlen(key), "1800000000113", 13, NOW_MS,
					       EXPIRE, &back), FLEET_OK);
	assert_true(ipaddr_equal(&back.addr, &rv.addr));
	assert_int_equal(back.revoke_ms, rv.revoke_ms);

	rv.by_user = true;
	snprintf(rv.user, sizeof rv.user, "%s", "joe@example.org");
	assert_true(fleet_revocation_message(&rv, msg, sizeof msg) > 0);
	assert_string_equal(msg, "revoke-user joe@example.org 1800000000113");
	assert_int_equal(parse_rv(msg, &back), FLEET_OK);
	assert_true(back.by_user);
	assert_string_equal(back.user, "joe@example.org");
	assert_true(fleet_tombstone_key("osd", &rv, key, sizeof key) > 0);
	assert_string_equal(key, "osd:relay:revoked-user:joe@example.org");
	assert_int_equal(fleet_parse_tombstone("osd", key, strlen(key), "1800000000113", 13, NOW_MS,
					       EXPIRE, &back), FLEET_OK);
	assert_true(back.by_user);
	assert_string_equal(back.user, "joe@example.org");
}

static void
test_fleetmsg_revocation_compatible(void **state)
{
	struct fleet_login l;
	struct fleet_revocation rv;

	(void)state;
	/* What a watcher of before revocation makes of the new records: not
	 * a login (refused, never authorizing). */
	assert_int_equal(parse_msg("revoke 192.0.2.7 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_msg("revoke-user joe 1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_kv("osd:relay:revoked:192.0.2.7", "1800000000000", &l), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_kv("osd:relay:revoked-user:joe", "1800000000000", &l), FLEET_BAD_ADDRESS);
	/* And a login is never taken for a revocation, nor a login key for a tombstone. */
	assert_false(fleet_message_is_revocation("192.0.2.7 1800000000000", 23));
	assert_false(fleet_message_is_revocation("fe80::1 1800000000000", 21));
	assert_false(fleet_key_is_tombstone("osd", "osd:relay:192.0.2.7", 19));
	assert_false(fleet_key_is_tombstone("osd", "other:relay:revoked:192.0.2.7", 29));
	assert_int_equal(parse_rv("192.0.2.7 1800000000000", &rv), FLEET_BAD_SYNTAX);
}

static void
test_fleetmsg_revocation_refused(void **state)
{
	struct fleet_revocation rv;
	char msg[FLEET_MSG_MAX];

	(void)state;
	assert_int_equal(parse_rv("revoke 192.0.2.7", &rv), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_rv("revoke 192.0.2.7 ", &rv), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_rv("revoke 192.0.2.7 1800000000000 joe", &rv), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_rv("revoke 192.0.2.7 -5", &rv), FLEET_BAD_SYNTAX);
	assert_int_equal(parse_rv("revoke ../etc 1800000000000", &rv), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_rv("revoke 2001:DB8::1 1800000000000", &rv), FLEET_BAD_ADDRESS);
	assert_int_equal(parse_rv("revoke-user bell\a 1800000000000", &rv), FLEET_BAD_USER);
	assert_int_equal(parse_rv("revoke-user  1800000000000", &rv), FLEET_BAD_USER);
	assert_int_equal(fleet_parse_revocation("revoke 192.0.2.7\0 1800000000000", 31, NOW_MS, EXPIRE, &rv),
			 FLEET_BAD_ADDRESS);
	/* A revocation from the future would refuse logins not yet made. */
	snprintf(msg, sizeof msg, "revoke 192.0.2.7 %lld", (long long)(NOW_MS + 60000));
	assert_int_equal(parse_rv(msg, &rv), FLEET_FUTURE);
	/* One older than relay_expire voids nothing that still lives. */
	snprintf(msg, sizeof msg, "revoke-user joe %lld", (long long)(NOW_MS - EXPIRE * 1000));
	assert_int_equal(parse_rv(msg, &rv), FLEET_EXPIRED);
	assert_int_equal(fleet_parse_tombstone("osd", "osd:relay:revoked:192.0.2.7", 27, "x", 1, NOW_MS,
					       EXPIRE, &rv), FLEET_BAD_SYNTAX);
	assert_int_equal(fleet_parse_tombstone("osd", "osd:relay:192.0.2.7", 19, "1800000000000", 13,
					       NOW_MS, EXPIRE, &rv), FLEET_BAD_SYNTAX);
}

static void
test_fleetmsg_revocation_voids(void **state)
{
	struct fleet_revocation rv = { .revoke_ms = NOW_MS };
	struct fleet_login before = login("192.0.2.7", NOW_MS, "joe"),
			   after = login("192.0.2.7", NOW_MS + 1, "joe"),
			   other = login("192.0.2.8", NOW_MS - 1000, "joe"),
			   nameless = login("192.0.2.8", NOW_MS - 1000, "");

	(void)state;
	assert_int_equal(ipaddr_parse("192.0.2.7", &rv.addr), 0);
	assert_true(fleet_revocation_voids(&rv, &before));      /* at the same ms: voided */
	assert_false(fleet_revocation_voids(&rv, &after));      /* a login since stands */
	assert_false(fleet_revocation_voids(&rv, &other));
	rv.by_user = true;
	snprintf(rv.user, sizeof rv.user, "%s", "joe");
	assert_true(fleet_revocation_voids(&rv, &other));
	assert_false(fleet_revocation_voids(&rv, &nameless));
	assert_false(fleet_revocation_voids(&rv, &after));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleetmsg_names),
		cmocka_unit_test(test_fleetmsg_round_trip),
		cmocka_unit_test(test_fleetmsg_refuses_bad_addresses),
		cmocka_unit_test(test_fleetmsg_refuses_bad_syntax_and_users),
		cmocka_unit_test(test_fleetmsg_refuses_future_and_expired_times),
		cmocka_unit_test(test_fleetmsg_revocation_round_trip),
		cmocka_unit_test(test_fleetmsg_revocation_compatible),
		cmocka_unit_test(test_fleetmsg_revocation_refused),
		cmocka_unit_test(test_fleetmsg_revocation_voids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
