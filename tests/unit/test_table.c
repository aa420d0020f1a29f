/* test_table.c - unit tests for the watcher's hash + heap of live entries (osd/table.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "conf.h"
#include "ipaddr.h"
#include "relaydb.h"
#include "rules.h"
#include "table.h"
#include "timecalc.h"

/* A small fixed-seed generator, so every run does the same operations. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static struct ipaddr
addr(const char *text)
{
	struct ipaddr a;

	if (ipaddr_parse(text, &a) != 0)
		fail_msg("bad test address %s", text);
	return a;
}

/* Address number i of a pool: IPv4 and IPv6 mixed, many differing in one byte only. */
static struct ipaddr
pool_addr(unsigned i)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	if (i % 2 == 0) {
		a.family = AF_INET;
		a.bytes[0] = 10;
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
	} else {
		a.family = AF_INET6;
		a.bytes[0] = 0x20;
		a.bytes[1] = 0x01;
		a.bytes[14] = (uint8_t)(i >> 8);
		a.bytes[15] = (uint8_t)i;
	}
	return a;
}

static struct timespec
ts(time_t sec, long nsec)
{
	return (struct timespec){ .tv_sec = sec, .tv_nsec = nsec };
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static void
assert_ts_equal(struct timespec a, struct timespec b)
{
	if (ts_cmp(&a, &b) != 0)
		fail_msg("time %lld.%09ld != %lld.%09ld", (long long)a.tv_sec, a.tv_nsec,
			 (long long)b.tv_sec, b.tv_nsec);
}

/*
 * table_oldest must give the true minimum over all entries (found by
 * walking them), and the entry it names must have that mtime.
 */
static void
assert_oldest_is_minimum(const struct table *t)
{
	struct ipaddr a, oldest;
	struct timespec m, min = { 0, 0 }, oldest_m, got;
	size_t pos = 0, n = 0;

	while (table_next(t, &pos, &a, &m)) {
		if (n == 0 || ts_cmp(&m, &min) < 0)
			min = m;
		n++;
	}
	assert_int_equal(n, table_count(t));
	if (n == 0) {
		assert_false(table_oldest(t, &oldest, &oldest_m));
		return;
	}
	assert_true(table_oldest(t, &oldest, &oldest_m));
	assert_ts_equal(oldest_m, min);
	assert_true(table_get(t, &oldest, &got));
	assert_ts_equal(got, min);
}

static void
test_table_set_get_remove(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.7"), b = addr("2001:db8::7"), c = addr("192.0.2.8");
	struct timespec m;

	(void)state;
	assert_int_equal(table_count(t), 0);
	assert_false(table_get(t, &a, &m));
	assert_int_equal(table_set(t, &a, &(struct timespec){ 100, 1 }), 1);
	assert_int_equal(table_set(t, &b, &(struct timespec){ 200, 2 }), 1);
	assert_int_equal(table_count(t), 2);
	assert_true(table_get(t, &a, &m));
	assert_ts_equal(m, ts(100, 1));
	assert_false(table_get(t, &c, &m));

	/* An update is not a new address. */
	assert_int_equal(table_set(t, &a, &(struct timespec){ 300, 3 }), 0);
	assert_int_equal(table_count(t), 2);
	assert_true(table_get(t, &a, &m));
	assert_ts_equal(m, ts(300, 3));
	assert_int_equal(table_set(t, &a, &(struct timespec){ 300, 3 }), 0);

	assert_true(table_remove(t, &a));
	assert_false(table_remove(t, &a));
	assert_false(table_remove(t, &c));
	assert_int_equal(table_count(t), 1);
	assert_false(table_get(t, &a, &m));
	assert_true(table_get(t, &b, &m));
	assert_ts_equal(m, ts(200, 2));
	/* Back again: new once more. */
	assert_int_equal(table_set(t, &a, &(struct timespec){ 50, 0 }), 1);
	assert_int_equal(table_count(t), 2);
	table_free(t);
}

static void
test_table_ipv4_and_ipv6_with_same_bytes_are_distinct(void **state)
{
	struct table *t = table_new();
	struct ipaddr v4 = addr("1.2.3.4"), v6;
	struct timespec m;

	(void)state;
	memset(&v6, 0, sizeof(v6));
	v6.family = AF_INET6;
	memcpy(v6.bytes, v4.bytes, 4);
	assert_int_equal(table_set(t, &v4, &(struct timespec){ 1, 0 }), 1);
	assert_int_equal(table_set(t, &v6, &(struct timespec){ 2, 0 }), 1);
	assert_int_equal(table_count(t), 2);
	assert_true(table_get(t, &v4, &m));
	assert_ts_equal(m, ts(1, 0));
	table_free(t);
}

static void
test_table_oldest_follows_mtime_through_updates(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("10.0.0.1"), b = addr("10.0.0.2"), c = addr("2001:db8::3"), o;
	struct timespec m;

	(void)state;
	assert_false(table_oldest(t, &o, &m));
	assert_int_equal(table_set(t, &b, &(struct timespec){ 20, 0 }), 1);
	assert_int_equal(table_set(t, &a, &(struct timespec){ 10, 0 }), 1);
	assert_int_equal(table_set(t, &c, &(struct timespec){ 30, 0 }), 1);
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &a));
	assert_ts_equal(m, ts(10, 0));

	/* A login moves a's time forward: it leaves the top. */
	assert_int_equal(table_set(t, &a, &(struct timespec){ 40, 0 }), 0);
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &b));
	assert_ts_equal(m, ts(20, 0));

	/* An import moving c back in time brings it to the top. */
	assert_int_equal(table_set(t, &c, &(struct timespec){ 5, 0 }), 0);
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &c));

	/* Nanoseconds count. */
	assert_int_equal(table_set(t, &b, &(struct timespec){ 5, 0 }), 0);
	assert_int_equal(table_set(t, &c, &(struct timespec){ 5, 1 }), 0);
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &b));
	assert_ts_equal(m, ts(5, 0));

	assert_true(table_remove(t, &b));
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &c));
	assert_true(table_remove(t, &c));
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &a));
	assert_true(table_remove(t, &a));
	assert_false(table_oldest(t, &o, &m));
	table_free(t);
}

static void
test_table_random_removals_keep_heap_valid(void **state)
{
	enum { N = 1500 };
	struct table *t = table_new();
	unsigned order[N];
	uint64_t seed = 0xdeadbeefcafef00dull;

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		struct ipaddr a = pool_addr(i);
		/* Few distinct seconds, so ties are common. */
		struct timespec m = ts((time_t)(rnd(&seed) % 50), (long)(rnd(&seed) % 3));

		assert_int_equal(table_set(t, &a, &m), 1);
		order[i] = i;
	}
	assert_int_equal(table_count(t), N);
	assert_oldest_is_minimum(t);
	for (unsigned i = N - 1; i > 0; i--) {
		unsigned j = (unsigned)(rnd(&seed) % (i + 1)), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	/* Half in random order... */
	for (unsigned i = 0; i < N / 2; i++) {
		struct ipaddr a = pool_addr(order[i]);

		assert_true(table_remove(t, &a));
		assert_int_equal(table_count(t), N - 1 - i);
		assert_oldest_is_minimum(t);
	}
	/* ...then the rest oldest first, as expiry does: a heap damaged
	 * anywhere below the top shows here as an out-of-order entry. */
	while (table_count(t) > 0) {
		struct ipaddr o;
		struct timespec m;

		assert_true(table_oldest(t, &o, &m));
		assert_true(table_remove(t, &o));
		assert_oldest_is_minimum(t);
	}
	table_free(t);
}

static void
test_table_matches_reference_under_random_operations(void **state)
{
	enum { POOL = 600, OPS = 100000 };
	struct table *t = table_new();
	bool present[POOL] = { false };
	struct timespec mtime[POOL];
	size_t count = 0;
	uint64_t seed = 0x0123456789abcdefull;

	(void)state;
	for (long op = 0; op < OPS; op++) {
		unsigned i = (unsigned)(rnd(&seed) % POOL), kind = (unsigned)(rnd(&seed) % 10);
		struct ipaddr a = pool_addr(i), o;
		struct timespec m, min = { 0, 0 };
		bool any = false;

		if (kind < 6) {
			/* Mostly forward in time, sometimes back (imports). */
			m = ts((time_t)(1000 + op / 4 - (long)(rnd(&seed) % 40)),
			       (long)(rnd(&seed) % 1000000000));
			assert_int_equal(table_set(t, &a, &m), present[i] ? 0 : 1);
			if (!present[i])
				count++;
			present[i] = true;
			mtime[i] = m;
		} else if (kind < 9) {
			assert_int_equal(table_remove(t, &a), present[i]);
			if (present[i])
				count--;
			present[i] = false;
		} else if (rnd(&seed) % 300 == 0) {
			table_clear(t);
			memset(present, 0, sizeof(present));
			count = 0;
		} else if (table_oldest(t, &o, &m)) {
			/* Expire the oldest entry, as the watcher does. */
			for (unsigned k = 0; k < POOL; k++) {
				struct ipaddr p = pool_addr(k);

				if (ipaddr_equal(&p, &o)) {
					assert_true(present[k]);
					present[k] = false;
					count--;
					break;
				}
			}
			assert_true(table_remove(t, &o));
		}

		assert_int_equal(table_count(t), count);
		if (present[i]) {
			assert_true(table_get(t, &a, &m));
			assert_ts_equal(m, mtime[i]);
		} else {
			assert_false(table_get(t, &a, &m));
		}
		for (unsigned k = 0; k < POOL; k++)
			if (present[k] && (!any || ts_cmp(&mtime[k], &min) < 0)) {
				min = mtime[k];
				any = true;
			}
		if (!any) {
			assert_false(table_oldest(t, &o, &m));
			continue;
		}
		assert_true(table_oldest(t, &o, &m));
		assert_ts_equal(m, min);
		/* The named entry really has that time (ties may name any of them). */
		for (unsigned k = 0; k < POOL; k++) {
			struct ipaddr p = pool_addr(k);

			if (ipaddr_equal(&p, &o)) {
				assert_true(present[k]);
				assert_ts_equal(mtime[k], min);
				break;
			}
		}
	}
	/* Finally every entry, through get and through the walk. */
	{
		struct ipaddr a;
		struct timespec m;
		size_t pos = 0, walked = 0;

		for (unsigned k = 0; k < POOL; k++) {
			a = pool_addr(k);
			assert_int_equal(table_get(t, &a, &m), present[k]);
		}
		while (table_next(t, &pos, &a, &m)) {
			walked++;
			assert_true(table_get(t, &a, &m));
		}
		assert_int_equal(walked, count);
	}
	table_free(t);
}

static void
test_table_clear_empties_and_allows_reuse(void **state)
{
	struct table *t = table_new();
	struct ipaddr a, o;
	struct timespec m;

	(void)state;
	for (unsigned i = 0; i < 200; i++) {
		a = pool_addr(i);
		assert_int_equal(table_set(t, &a, &(struct timespec){ 100 + i, 0 }), 1);
	}
	table_clear(t);
	assert_int_equal(table_count(t), 0);
	assert_false(table_oldest(t, &o, &m));
	a = pool_addr(5);
	assert_false(table_get(t, &a, &m));
	assert_int_equal(table_set(t, &a, &(struct timespec){ 7, 0 }), 1);
	a = pool_addr(6);
	assert_int_equal(table_set(t, &a, &(struct timespec){ 3, 0 }), 1);
	assert_true(table_oldest(t, &o, &m));
	assert_true(ipaddr_equal(&o, &a));
	assert_int_equal(table_count(t), 2);
	table_free(t);
}

static void
test_table_ms_until_expiry(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.7");
	struct timespec now;

	(void)state;
	now = ts(10000, 0);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), -1);

	assert_int_equal(table_set(t, &a, &(struct timespec){ 10000, 0 }), 1);
	/* Already expired, and exactly at the deadline. */
	now = ts(10000 + 3600 + 5, 0);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 0);
	now = ts(10000 + 3600, 0);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 0);
	/* 1.5 s left. */
	now = ts(10000 + 3600 - 2, 500000000);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 1500);
	/* 1 ns left rounds up to 1 ms, never to 0 (no early wake-up). */
	now = ts(10000 + 3600 - 1, 999999999);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 1);
	/* 1 ms and 1 ns left: 2 ms. */
	now = ts(10000 + 3600 - 1, 998999999);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 2);
	/* Exactly 1 ms left. */
	now = ts(10000 + 3600 - 1, 999000000);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 1);
	/* Nanoseconds of the mtime count too. */
	assert_int_equal(table_set(t, &a, &(struct timespec){ 10000, 600000000 }), 0);
	now = ts(10000 + 3600, 0);
	assert_int_equal(table_ms_until_expiry(t, 3600, &now), 600);
	table_free(t);
}

/* At the bounds: relay_expire at its largest, and an mtime near the end of time (tmpfs takes one). */
static void
test_table_ms_until_expiry_at_the_limits(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.7");
	struct timespec now = ts(1700000000, 0);

	(void)state;
	assert_int_equal(table_set(t, &a, &(struct timespec){ 1700000000, 0 }), 1);
	/* 30 days away: the wait is capped at a day. */
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 86400000);
	now = ts(1700000000 + CONF_RELAY_EXPIRE_MAX - 86400, 1);
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 86400000);
	now = ts(1700000000 + CONF_RELAY_EXPIRE_MAX - 2, 0);
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 2000);
	now = ts(1700000000 + CONF_RELAY_EXPIRE_MAX, 0);
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 0);
	table_free(t);

	t = table_new();
	now = ts(1700000000, 0);
	assert_int_equal(table_set(t, &a, &(struct timespec){ TIMECALC_TIME_MAX, 999999999 }), 1);
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 86400000);
	table_free(t);

	/* Now at the end of time, an old entry: expired, not a wrapped huge wait. */
	t = table_new();
	now = ts(TIMECALC_TIME_MAX, 0);
	assert_int_equal(table_set(t, &a, &(struct timespec){ TIMECALC_TIME_MIN, 0 }), 1);
	assert_int_equal(table_ms_until_expiry(t, CONF_RELAY_EXPIRE_MAX, &now), 0);
	table_free(t);
}

/*
 * The written mark (relay_batch): a new entry starts unwritten, table_mark
 * sets the mark of the entry the walk just returned, a later table_set
 * keeps it, and it moves with the entry when a removal fills its hole.
 */
static void
test_table_written_marks(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.1"), b = addr("192.0.2.2"), c = addr("192.0.2.3"), o;
	struct timespec cm;
	size_t pos = 0;

	(void)state;
	table_set(t, &a, &(struct timespec){ 10, 0 });
	table_set(t, &b, &(struct timespec){ 20, 0 });
	table_set(t, &c, &(struct timespec){ 30, 0 });
	assert_false(table_written(t, &a) || table_written(t, &b) || table_written(t, &c));
	while (table_next_clock(t, &pos, &o, &cm))
		table_mark(t, pos, !ipaddr_equal(&o, &b));      /* b left out */
	assert_true(table_written(t, &a));
	assert_false(table_written(t, &b));
	assert_true(table_written(t, &c));
	/* A refresh keeps the mark. */
	assert_int_equal(table_set(t, &a, &(struct timespec){ 40, 0 }), 0);
	assert_true(table_written(t, &a));
	/* a's removal moves c into its place, with c's mark. */
	assert_true(table_remove(t, &a));
	assert_false(table_written(t, &a));
	assert_true(table_written(t, &c));
	assert_false(table_written(t, &b));
	table_free(t);
}

/* The record table_rec keeps for the entry at pos must be the one relaydb_rec_for makes now. */
static void
assert_rec_fresh(struct table *t, size_t pos, const struct ipaddr *a, uint32_t gen,
		 struct rules *statics)
{
	const struct relaydb_rec *got = table_rec(t, pos, gen, statics, NULL);
	struct relaydb_rec want;

	assert_non_null(got);
	relaydb_rec_for(statics, NULL, a, &want);
	assert_int_equal(got->keylen, want.keylen);
	assert_memory_equal(got->key, want.key, want.keylen);
	assert_int_equal(got->hash, want.hash);
	assert_int_equal(got->left_out, want.left_out);
}

/*
 * The kept relay.cdb records (table_rec): made once per generation, moved
 * with their entry when a removal fills a hole, and made again in a new
 * generation (here: a static deny that now covers one of them).
 */
static void
test_table_keeps_records_per_generation(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.1"), b = addr("2001:db8::"), c = addr("192.0.2.3"), o;
	struct rules statics;
	struct timespec cm;
	char err[128];
	size_t pos = 0;

	(void)state;
	rules_init(&statics);
	table_set(t, &a, &(struct timespec){ 10, 0 });
	table_set(t, &b, &(struct timespec){ 20, 0 });
	table_set(t, &c, &(struct timespec){ 30, 0 });
	assert_null(table_rec(t, 0, 1, &statics, NULL));
	assert_null(table_rec(t, 4, 1, &statics, NULL));
	while (table_next_clock(t, &pos, &o, &cm))
		assert_rec_fresh(t, pos, &o, 1, &statics);
	/* a's removal moves c into its place, record and all. */
	assert_true(table_remove(t, &a));
	pos = 0;
	while (table_next_clock(t, &pos, &o, &cm))
		assert_rec_fresh(t, pos, &o, 1, &statics);
	/* Same generation: the kept record, even though the rules changed. */
	assert_int_equal(rules_parse_line(&statics, "192.0.2.3:deny", 14, err, sizeof err), 0);
	pos = 0;
	while (table_next_clock(t, &pos, &o, &cm))
		if (ipaddr_equal(&o, &c))
			assert_false(table_rec(t, pos, 1, &statics, NULL)->left_out);
	/* A new generation: made again, and the deny leaves c out. */
	pos = 0;
	while (table_next_clock(t, &pos, &o, &cm)) {
		assert_rec_fresh(t, pos, &o, 2, &statics);
		assert_int_equal(table_rec(t, pos, 2, &statics, NULL)->left_out, ipaddr_equal(&o, &c));
	}
	rules_free(&statics);
	table_free(t);
}

static bool
before_threshold(void *ctx, const struct timespec *clock_mtime)
{
	return clock_mtime->tv_sec < *(const time_t *)ctx;
}

/*
 * A rewrite's walk (table_mark_gone, table_next_rec) against the plain
 * one: every entry in table order but those older than the threshold,
 * the marks set to match, through random sets, removals and refreshes.
 */
static void
test_table_rewrite_walk_leaves_out_the_gone(void **state)
{
	struct table *t = table_new();
	struct rules statics;
	uint64_t seed = 12345;

	(void)state;
	rules_init(&statics);
	for (int round = 0; round < 200; round++) {
		time_t threshold = (time_t)(rnd(&seed) % 1100);
		size_t pos = 0, walk = 0, n_gone = 0, marked;
		struct ipaddr a, o;
		struct timespec cm;

		for (int i = 0; i < 50; i++) {
			a = addr("10.0.0.0");
			a.bytes[2] = (uint8_t)(rnd(&seed) % 4);
			a.bytes[3] = (uint8_t)rnd(&seed);
			if (rnd(&seed) % 4 == 0)
				table_remove(t, &a);
			else
				table_set(t, &a, &(struct timespec){ (time_t)(rnd(&seed) % 1000), 0 });
		}
		/* The entries the walk takes out of relay.cdb: written last time, gone now. */
		size_t taken_out = 0;

		while (table_next_clock(t, &pos, &o, &cm))
			taken_out += table_written(t, &o) && cm.tv_sec < threshold;
		pos = 0;
		marked = table_mark_gone(t, before_threshold, &threshold);
		while (table_next_clock(t, &pos, &o, &cm)) {
			const struct relaydb_rec *want;
			const struct relaydb_rec *got;
			size_t at = pos;

			if (cm.tv_sec < threshold) {
				n_gone++;
				continue;
			}
			/* The walk's next record is this entry's. */
			got = table_next_rec(t, &walk, 1, &statics, NULL);
			assert_non_null(got);
			assert_int_equal(walk, at);
			want = table_rec(t, at, 1, &statics, NULL);
			assert_ptr_equal(got, want);
		}
		assert_null(table_next_rec(t, &walk, 1, &statics, NULL));
		assert_int_equal(marked, n_gone);
		/* What osd watch's durable rename goes by (table_unwritten). */
		assert_int_equal(table_unwritten(t), taken_out);
		pos = 0;
		while (table_next_clock(t, &pos, &o, &cm))
			assert_int_equal(table_written(t, &o), cm.tv_sec >= threshold);
	}
	rules_free(&statics);
	table_free(t);
}

/*
 * After a step of the wall clock the file mtimes and the watcher's clock
 * disagree: the heap and the expiry wait go by the clock mtime, while the
 * file's own mtime is kept for the expiry's check of the file.
 */
static void
test_table_clock_mtime_orders_the_heap(void **state)
{
	struct table *t = table_new();
	struct ipaddr a = addr("192.0.2.1"), b = addr("192.0.2.2"), o;
	struct timespec m, cm;

	(void)state;
	/* a: stamped before a 100 s step back; b: after it, so its mtime is smaller but its life later. */
	assert_int_equal(table_set_clock(t, &a, &(struct timespec){ 1000, 0 }, &(struct timespec){ 1000, 0 }), 1);
	assert_int_equal(table_set_clock(t, &b, &(struct timespec){ 950, 0 }, &(struct timespec){ 1050, 0 }), 1);
	assert_true(table_oldest_clock(t, &o, &m, &cm));
	assert_true(ipaddr_equal(&o, &a));
	assert_ts_equal(m, ts(1000, 0));
	assert_ts_equal(cm, ts(1000, 0));
	assert_int_equal(table_ms_until_expiry(t, 60, &(struct timespec){ 1030, 0 }), 30000);
	assert_true(table_get_clock(t, &b, &m, &cm));
	assert_ts_equal(m, ts(950, 0));
	assert_ts_equal(cm, ts(1050, 0));
	/* a refreshed after the step: now b is first. */
	assert_int_equal(table_set_clock(t, &a, &(struct timespec){ 960, 0 }, &(struct timespec){ 1060, 0 }), 0);
	assert_true(table_oldest_clock(t, &o, &m, &cm));
	assert_true(ipaddr_equal(&o, &b));
	table_free(t);
}

/*
 * Bulk loading (a start-up scan) ends as one table_set_clock and
 * table_set_ino each would: every entry found with its times and inode,
 * the heap giving them oldest first; an address added twice (the second
 * pass: the fallback) or already in the table keeps the last one added.
 */
static void
check_bulk(unsigned first, unsigned n, bool duplicate)
{
	struct table *t = table_new(), *ref = table_new();
	uint64_t seed = 0x1234567890abcdefull + n + first;
	struct timespec prev = { 0, 0 };

	for (unsigned i = 0; i < first; i++) {
		struct ipaddr a = pool_addr(i);
		struct timespec m = ts((time_t)(rnd(&seed) % 100), 0);

		table_set(t, &a, &m);
		table_set(ref, &a, &m);
	}
	for (unsigned i = 0; i < n; i++) {
		/* With duplicate, the last few repeat earlier ones (or filed ones). */
		unsigned k = duplicate && i >= n - 3 ? (unsigned)(rnd(&seed) % (first + i)) : first + i;
		struct ipaddr a = pool_addr(k);
		struct timespec m = ts((time_t)(rnd(&seed) % 100), (long)(rnd(&seed) % 3)), cm = m;

		cm.tv_sec += 7;
		table_bulk_add(t, &a, &m, &cm, 1000 + k + i);
		table_set_clock(ref, &a, &m, &cm);
		table_set_ino(ref, &a, 1000 + k + i);
	}
	table_bulk_end(t);
	assert_int_equal(table_count(t), table_count(ref));
	for (size_t pos = 0; pos < table_count(ref);) {
		struct ipaddr a;
		struct timespec m, m2, cm, cm2;
		uint64_t ino;

		assert_true(table_next(ref, &pos, &a, NULL));
		ino = table_ino(ref, pos);
		assert_true(table_get_clock(ref, &a, &m, &cm));
		assert_true(table_get_clock(t, &a, &m2, &cm2));
		assert_ts_equal(m2, m);
		assert_ts_equal(cm2, cm);
		/* The inode, found by walking t. */
		for (size_t p2 = 0;;) {
			struct ipaddr b;

			assert_true(table_next(t, &p2, &b, NULL));
			if (ipaddr_equal(&a, &b)) {
				assert_int_equal(table_ino(t, p2), ino);
				/* And by address (osd watch's mirrored entries). */
				assert_int_equal(table_get_ino(t, &a), ino);
				break;
			}
		}
	}
	assert_oldest_is_minimum(t);
	/* Oldest first all the way down: the heap is whole. */
	while (table_count(t) > 0) {
		struct ipaddr o;
		struct timespec m, cm;

		assert_true(table_oldest_clock(t, &o, &m, &cm));
		assert_true(ts_cmp(&prev, &cm) <= 0);
		prev = cm;
		assert_true(table_remove(t, &o));
	}
	table_free(t);
	table_free(ref);
}

static void
test_table_bulk_load_matches_one_by_one(void **state)
{
	(void)state;
	check_bulk(0, 0, false);
	check_bulk(0, 1, false);
	check_bulk(0, 3000, false);
	check_bulk(0, 3000, true);
	check_bulk(500, 2000, false);
	check_bulk(500, 2000, true);
}

/*
 * Mass expiry gives the memory back (a quarter left: half the capacity,
 * the slots likewise), and what is left is whole: every entry, its time,
 * its kept record, the heap.
 */
static void
test_table_gives_memory_back_after_mass_removal(void **state)
{
	struct table *t = table_new();
	struct rules statics;
	size_t full, pos = 0;
	struct ipaddr o;
	struct timespec m, cm;

	(void)state;
	rules_init(&statics);
	for (unsigned i = 0; i < 60000; i++) {
		struct ipaddr a = pool_addr(i);

		assert_int_equal(table_set(t, &a, &(struct timespec){ (time_t)i, 0 }), 1);
	}
	full = table_bytes(t);
	while (table_next_clock(t, &pos, &o, &cm))
		(void)table_rec(t, pos, 1, &statics, NULL);
	for (unsigned i = 0; i < 59000; i++) {
		assert_true(table_oldest(t, &o, &m));
		assert_int_equal(m.tv_sec, (time_t)i);
		assert_true(table_remove(t, &o));
	}
	assert_int_equal(table_count(t), 1000);
	assert_true(table_bytes(t) * 8 < full);
	assert_oldest_is_minimum(t);
	for (unsigned i = 59000; i < 60000; i++) {
		struct ipaddr a = pool_addr(i);

		assert_true(table_get(t, &a, &m));
		assert_int_equal(m.tv_sec, (time_t)i);
	}
	pos = 0;
	while (table_next_clock(t, &pos, &o, &cm))
		assert_rec_fresh(t, pos, &o, 1, &statics);
	rules_free(&statics);
	table_free(t);
}

/*
 * Entries loaded in bulk start with no kept record, whatever their places
 * held before: in a fresh table (zeroed memory), after table_clear, and
 * after removals left old records behind the last entry.
 */
static void
test_table_bulk_entries_start_without_records(void **state)
{
	struct table *t = table_new();
	struct rules statics;
	struct timespec zero = { 0, 0 }, cm;
	struct ipaddr o;
	size_t pos;

	(void)state;
	rules_init(&statics);
	for (int round = 0; round < 3; round++) {
		if (round == 0) {
			table_reserve(t, 100);
		} else if (round == 1) {
			table_clear(t);
		} else {
			for (unsigned i = 0; i < 50; i++) {
				struct ipaddr a = pool_addr(1000 + 100 * (unsigned)round + i);

				assert_true(table_remove(t, &a));
			}
		}
		for (unsigned i = 0; i < (round == 2 ? 50u : 100u); i++) {
			struct ipaddr a = pool_addr(1000 + 100 * (unsigned)round + 50 + i);

			if (round == 2)
				a = pool_addr(5000 + i);
			table_bulk_add(t, &a, &zero, &zero, 0);
		}
		table_bulk_end(t);
		assert_int_equal(table_count(t), 100);
		/* Generation 1 in every round: a stale kept record would be taken as made. */
		pos = 0;
		while (table_next_clock(t, &pos, &o, &cm))
			assert_rec_fresh(t, pos, &o, 1, &statics);
		if (round == 1) {
			/* Round 2 removes the first 50 of these, whose places the last 50 take. */
			table_clear(t);
			for (unsigned i = 0; i < 100; i++) {
				struct ipaddr a = pool_addr(1200 + i);

				table_set(t, &a, &zero);
			}
			pos = 0;
			while (table_next_clock(t, &pos, &o, &cm))
				(void)table_rec(t, pos, 1, &statics, NULL);
		}
	}
	rules_free(&statics);
	table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_set_get_remove),
		cmocka_unit_test(test_table_ipv4_and_ipv6_with_same_bytes_are_distinct),
		cmocka_unit_test(test_table_oldest_follows_mtime_through_updates),
		cmocka_unit_test(test_table_random_removals_keep_heap_valid),
		cmocka_unit_test(test_table_matches_reference_under_random_operations),
		cmocka_unit_test(test_table_clear_empties_and_allows_reuse),
		cmocka_unit_test(test_table_ms_until_expiry),
		cmocka_unit_test(test_table_ms_until_expiry_at_the_limits),
		cmocka_unit_test(test_table_clock_mtime_orders_the_heap),
		cmocka_unit_test(test_table_written_marks),
		cmocka_unit_test(test_table_keeps_records_per_generation),
		cmocka_unit_test(test_table_rewrite_walk_leaves_out_the_gone),
		cmocka_unit_test(test_table_bulk_load_matches_one_by_one),
		cmocka_unit_test(test_table_gives_memory_back_after_mass_removal),
		cmocka_unit_test(test_table_bulk_entries_start_without_records),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
