/* test_relaycheck.c - relay keys that authorize no other address, and the relay decision over rules, relay.cdb and open-smtp/. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "path.h"
#include "relaycheck.h"
#include "relaydb.h"
#include "relaykey.h"
#include "relaytable.h"
#include "rules.h"
#include "testutil.h"

#define EXPIRE 3600

/* One test's world: a state folder with open-smtp/, relay.cdb and parsed rules. */
struct world {
	char dir[PATH_MAX], opensmtp[PATH_MAX], cdb[PATH_MAX];
	int dirfd;
	struct rules rules;
	unsigned prefix;
};

static void
world_init(struct world *w, const char *tmp, unsigned prefix)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "%s", tmp);
	assert_int_equal(path_join(w->opensmtp, sizeof(w->opensmtp), tmp, "open-smtp"), 0);
	assert_int_equal(path_join(w->cdb, sizeof(w->cdb), tmp, "relay.cdb"), 0);
	assert_int_equal(mkdir(w->opensmtp, 0755), 0);
	w->dirfd = open(w->opensmtp, O_RDONLY | O_DIRECTORY);
	assert_true(w->dirfd >= 0);
	rules_init(&w->rules);
	w->prefix = prefix;
}

static void
world_free(struct world *w)
{
	close(w->dirfd);
	rules_free(&w->rules);
}

static void
add_rule(struct world *w, const char *line)
{
	char err[256];

	if (rules_parse_line(&w->rules, line, strlen(line), err, sizeof(err)) != 0)
		fail_msg("rule \"%s\": %s", line, err);
}

/* An open-smtp file for text, aged by age seconds. */
static void
add_file(struct world *w, const char *text, long age)
{
	struct timespec t[2];
	int fd = openat(w->dirfd, text, O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age;
	t[1] = t[0];
	assert_int_equal(futimens(fd, t), 0);
	close(fd);
}

struct entries {
	const char *const *texts;
	size_t pos;
};

static int
next_entry(void *ctx, struct ipaddr *entry_r)
{
	struct entries *e = ctx;

	if (e->texts == NULL || e->texts[e->pos] == NULL)
		return 0;
	assert_int_equal(ipaddr_parse(e->texts[e->pos++], entry_r), 0);
	return 1;
}

/* relay.cdb as the watcher writes it: the rules, then one record per entry. */
static void
write_table(struct world *w, const char *const *entries)
{
	struct entries e = { entries, 0 };
	struct relaydb_dynamic dyn = relaydb_dynamic_default;

	dyn.ipv6_prefix = w->prefix;
	assert_true(relaydb_write(w->cdb, &w->rules, &dyn, next_entry, &e, false) >= 0);
}

static void
decide(struct world *w, const char *text, struct relay_decision *d)
{
	struct relay_state st = { w->cdb, &w->rules, w->dirfd, EXPIRE, w->prefix };
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	assert_int_equal(relay_decide(&st, &a, d), 0);
}

/* What real tcpserver would do with the table (relaydb_lookup mirrors it; see test_relaydb). */
static bool
tcpserver_relays(struct world *w, const char *text)
{
	struct relaydb_result res;
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	assert_int_equal(relaydb_lookup(w->cdb, &a, &res), 0);
	return res.allow && relaydb_getenv(&res, "RELAYCLIENT") != NULL;
}

static void
test_relaykey_ipv6_ending_in_zero_groups_is_written_expanded(void **state)
{
	struct relaykey k;
	struct ipaddr a;

	(void)state;
	assert_int_equal(ipaddr_parse("2001:db8::", &a), 0);
	relaykey_for(&a, 128, &k);
	assert_string_equal(k.match, "2001:db8::");
	assert_string_equal(k.key, "2001:0db8:0000:0000:0000:0000:0000:0000");
	assert_false(k.tcpserver);
	assert_false(k.net64);

	assert_int_equal(ipaddr_parse("2001:db8:0:5:1:2:3:4", &a), 0);
	relaykey_for(&a, 128, &k);
	assert_string_equal(k.key, "2001:db8::5:1:2:3:4");
	assert_true(k.tcpserver);

	assert_int_equal(ipaddr_parse("192.0.2.7", &a), 0);
	relaykey_for(&a, 64, &k);
	assert_string_equal(k.key, "192.0.2.7");
	assert_true(k.tcpserver);
}

static void
test_relaykey_net64_only_where_tcpserver_can_say_exactly_that_net(void **state)
{
	struct ipaddr a, e;
	struct relaykey k;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	assert_int_equal(ipaddr_parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd", &a), 0);
	relaykey_entry_addr(&a, 64, &e);
	ipaddr_format(&e, text);
	assert_string_equal(text, "2001:db8:1:2::");
	relaykey_for(&e, 64, &k);
	assert_true(k.net64);
	assert_string_equal(k.key, "2001:db8:1:2:");
	/* With 128 the same file is the one address, written expanded. */
	relaykey_for(&e, 128, &k);
	assert_false(k.net64);
	assert_string_equal(k.key, "2001:0db8:0001:0002:0000:0000:0000:0000");

	/* A zero group in the /64: only the address itself. */
	assert_int_equal(ipaddr_parse("2001:db8:0:5:1:2:3:4", &a), 0);
	relaykey_entry_addr(&a, 64, &e);
	assert_true(ipaddr_equal(&a, &e));
	relaykey_for(&e, 64, &k);
	assert_false(k.net64);
	assert_string_equal(k.key, "2001:db8::5:1:2:3:4");
}

/* Issue 16.1: a login from 2001:db8:: must not open relaying for 2001:db8::5:1:2:3:4. */
static void
test_relay_decide_ipv6_login_authorizes_no_other_address(void **state)
{
	static const char *const entries[] = { "2001:db8::", NULL };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_file(&w, "2001:db8::", 10);
	write_table(&w, entries);

	decide(&w, "2001:db8:0:5:1:2:3:4", &d);
	assert_false(d.relay);
	assert_false(d.dynamic);
	decide(&w, "2001:db8::1", &d);
	assert_false(d.relay);
	assert_false(tcpserver_relays(&w, "2001:db8:0:5:1:2:3:4"));
	assert_false(tcpserver_relays(&w, "2001:db8::1"));
	/* The login itself still relays through osd. */
	decide(&w, "2001:db8::", &d);
	assert_true(d.relay);
	assert_true(d.dynamic);
	world_free(&w);
}

/* A table written by an older osd with the prefix-shaped key: osd no longer honours it for others. */
static void
test_relay_decide_prefix_shaped_login_record_only_counts_for_its_owner(void **state)
{
	struct relay_decision d;
	struct world w;
	struct rules legacy;
	char err[256];

	world_init(&w, *state, 128);
	rules_init(&legacy);
	assert_int_equal(rules_parse_line(&legacy, "2001:db8:::allow,RELAYCLIENT=\"\"", 31, err,
					  sizeof(err)), 0);
	assert_true(relaydb_write(w.cdb, &legacy, NULL, NULL, NULL, false) == 1);
	rules_free(&legacy);
	add_file(&w, "2001:db8::", 10);
	decide(&w, "2001:db8:0:5:1:2:3:4", &d);
	assert_false(d.relay);
	decide(&w, "::1", &d);
	assert_false(d.relay);
	world_free(&w);
}

/* Issue 16.2: a record whose file is gone is not static and does not relay. */
static void
test_relay_decide_record_without_its_file_never_relays(void **state)
{
	static const char *const entries[] = { "192.0.2.7", NULL };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_file(&w, "192.0.2.7", 10);
	write_table(&w, entries);
	decide(&w, "192.0.2.7", &d);
	assert_true(d.relay);
	assert_true(d.dynamic);

	assert_int_equal(unlinkat(w.dirfd, "192.0.2.7", 0), 0);
	decide(&w, "192.0.2.7", &d);
	assert_false(d.relay);
	assert_false(d.dynamic);
	assert_true(d.orphan);
	assert_true(d.connect);
	world_free(&w);
}

static void
test_relay_decide_expired_file_does_not_relay(void **state)
{
	static const char *const entries[] = { "192.0.2.8", NULL };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_file(&w, "192.0.2.8", EXPIRE + 5);
	write_table(&w, entries);
	decide(&w, "192.0.2.8", &d);
	assert_false(d.relay);
	assert_true(d.stale);
	assert_false(d.dynamic);
	world_free(&w);
}

/* Static is what the rules file says: such a rule needs no file and has no expiry. */
static void
test_relay_decide_static_rule_from_the_rules_file(void **state)
{
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_rule(&w, "192.0.2.9:allow,RELAYCLIENT=\"\"");
	add_rule(&w, "10.:allow,RELAYCLIENT=\"@gw\"");
	write_table(&w, NULL);
	decide(&w, "192.0.2.9", &d);
	assert_true(d.relay);
	assert_false(d.dynamic);
	assert_string_equal(d.rule.key, "192.0.2.9");
	decide(&w, "10.1.2.3", &d);
	assert_true(d.relay);
	assert_string_equal(relaydb_getenv(&d.rule, "RELAYCLIENT"), "@gw");
	/* A rule added since the table was written counts at once. */
	add_rule(&w, "192.0.2.10:deny");
	decide(&w, "192.0.2.10", &d);
	assert_false(d.connect);
	world_free(&w);
}

static void
test_relay_decide_static_deny_beats_login(void **state)
{
	static const char *const entries[] = { "10.0.0.5", "192.0.2.11", NULL };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_rule(&w, "10.0.0.:deny");
	add_rule(&w, "192.0.2.11:allow");
	add_rule(&w, ":deny");
	add_file(&w, "10.0.0.5", 1);
	add_file(&w, "192.0.2.11", 1);
	add_file(&w, "192.0.2.12", 1);
	write_table(&w, entries);
	decide(&w, "10.0.0.5", &d);
	assert_false(d.connect);
	/* An exact static rule comes before the login's record. */
	decide(&w, "192.0.2.11", &d);
	assert_true(d.connect);
	assert_false(d.relay);
	/* A file whose login is not in relay.cdb yet: the default rule decides. */
	decide(&w, "192.0.2.12", &d);
	assert_false(d.connect);
	world_free(&w);
}

/* relay_ipv6_prefix = 64: the /64 and nothing wider, in osd and in tcpserver. */
static void
test_relay_decide_net64_covers_exactly_its_net(void **state)
{
	static const char *const entries[] = { "2001:db8:1:2::", "2001:db8:0:5:1:2:3:4", NULL };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 64);
	add_file(&w, "2001:db8:1:2::", 10);
	add_file(&w, "2001:db8:0:5:1:2:3:4", 10);
	write_table(&w, entries);
	decide(&w, "2001:db8:1:2:dead:beef:1:2", &d);
	assert_true(d.relay);
	assert_true(d.dynamic);
	assert_string_equal(d.rule.key, "2001:db8:1:2:");
	assert_true(tcpserver_relays(&w, "2001:db8:1:2:dead:beef:1:2"));
	assert_true(tcpserver_relays(&w, "2001:db8:1:2::"));
	decide(&w, "2001:db8:1:3::1", &d);
	assert_false(d.relay);
	assert_false(tcpserver_relays(&w, "2001:db8:1:3::1"));
	assert_false(tcpserver_relays(&w, "2001:db8:1:20::1"));
	/* The /64 with a zero group was recorded as its one address. */
	decide(&w, "2001:db8:0:5:1:2:3:4", &d);
	assert_true(d.relay);
	decide(&w, "2001:db8:0:5:1:2:3:5", &d);
	assert_false(d.relay);
	assert_false(tcpserver_relays(&w, "2001:db8:0:5:1:2:3:5"));
	world_free(&w);
}

static void
test_relay_decide_login_gets_relay_env(void **state)
{
	static const char *const entries[] = { "192.0.2.13", NULL };
	static const char value[] = "+RELAYCLIENT=\0+RBLSMTPD=";
	struct relaydb_dynamic dyn = { value, sizeof(value), 128 };
	struct entries e = { entries, 0 };
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_file(&w, "192.0.2.13", 1);
	assert_int_equal(relaydb_write(w.cdb, &w.rules, &dyn, next_entry, &e, false), 1);
	decide(&w, "192.0.2.13", &d);
	assert_true(d.relay);
	assert_string_equal(relaydb_getenv(&d.rule, "RBLSMTPD"), "");
	world_free(&w);
}

static void
test_relay_decide_missing_table_means_rules_only(void **state)
{
	struct relay_decision d;
	struct world w;

	world_init(&w, *state, 128);
	add_file(&w, "192.0.2.14", 1);
	decide(&w, "192.0.2.14", &d);
	assert_true(d.connect);
	assert_false(d.relay);
	assert_false(d.rule.matched);
	world_free(&w);
}

static void
test_relay_decide_cdb_kept_open_until_the_watcher_replaces_it(void **state)
{
	static const char *const one[] = { "192.0.2.21", NULL };
	static const char *const two[] = { "192.0.2.21", "192.0.2.22", NULL };
	struct relay_table rt;
	struct relay_decision d;
	struct world w;
	struct ipaddr a21, a22;
	struct relay_state st;

	world_init(&w, *state, 128);
	st = (struct relay_state){ w.cdb, &w.rules, w.dirfd, EXPIRE, w.prefix };
	assert_int_equal(ipaddr_parse("192.0.2.21", &a21), 0);
	assert_int_equal(ipaddr_parse("192.0.2.22", &a22), 0);
	relay_table_init(&rt);
	/* No file yet: an empty table, nobody's login counts. */
	assert_int_equal(relay_table_refresh(&rt, w.cdb), 0);
	assert_null(relay_table_cdb(&rt));
	add_file(&w, "192.0.2.21", 1);
	add_file(&w, "192.0.2.22", 1);
	write_table(&w, one);
	assert_int_equal(relay_table_refresh(&rt, w.cdb), 0);
	assert_non_null(relay_table_cdb(&rt));
	assert_int_equal(relay_decide_cdb(&st, relay_table_cdb(&rt), &a21, &d), 0);
	assert_true(d.relay && d.dynamic);
	/* The watcher writes a new table (rename): the open one is kept until a refresh. */
	write_table(&w, two);
	assert_int_equal(relay_decide_cdb(&st, relay_table_cdb(&rt), &a22, &d), 0);
	assert_false(d.relay);
	assert_int_equal(relay_table_refresh(&rt, w.cdb), 0);
	assert_int_equal(relay_decide_cdb(&st, relay_table_cdb(&rt), &a22, &d), 0);
	assert_true(d.relay);
	/* A login expired or removed stops relaying at once, whatever the open table says. */
	assert_int_equal(unlinkat(w.dirfd, "192.0.2.21", 0), 0);
	assert_int_equal(relay_decide_cdb(&st, relay_table_cdb(&rt), &a21, &d), 0);
	assert_false(d.relay);
	add_file(&w, "192.0.2.22", EXPIRE + 1);
	assert_int_equal(relay_decide_cdb(&st, relay_table_cdb(&rt), &a22, &d), 0);
	assert_false(d.relay);
	assert_true(d.stale);
	/* relay.cdb gone: no table again. */
	assert_int_equal(unlink(w.cdb), 0);
	assert_int_equal(relay_table_refresh(&rt, w.cdb), 0);
	assert_null(relay_table_cdb(&rt));
	relay_table_close(&rt);
	world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relaykey_ipv6_ending_in_zero_groups_is_written_expanded),
		cmocka_unit_test(test_relaykey_net64_only_where_tcpserver_can_say_exactly_that_net),
#define T(f) cmocka_unit_test_setup_teardown(f, testutil_setup_tmpdir, testutil_teardown_tmpdir)
		T(test_relay_decide_ipv6_login_authorizes_no_other_address),
		T(test_relay_decide_prefix_shaped_login_record_only_counts_for_its_owner),
		T(test_relay_decide_record_without_its_file_never_relays),
		T(test_relay_decide_expired_file_does_not_relay),
		T(test_relay_decide_static_rule_from_the_rules_file),
		T(test_relay_decide_static_deny_beats_login),
		T(test_relay_decide_net64_covers_exactly_its_net),
		T(test_relay_decide_login_gets_relay_env),
		T(test_relay_decide_missing_table_means_rules_only),
		T(test_relay_decide_cdb_kept_open_until_the_watcher_replaces_it),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
