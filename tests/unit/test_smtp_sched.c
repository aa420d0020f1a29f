/* test_smtp_sched.c - the retry schedule and the heap of deferred messages (smtp-gate/qmgr/sched.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sched.h"

/* qmail's schedule: c·n² after arrival, c = 400 s remote, 100 s local. */
static void
test_schedule_is_qmails(void **state)
{
	const time_t t0 = 1700000000;

	(void)state;
	assert_int_equal(sched_next_try(t0, 1, true, 604800, t0), t0 + 400);
	assert_int_equal(sched_next_try(t0, 2, true, 604800, t0), t0 + 1600);
	assert_int_equal(sched_next_try(t0, 3, true, 604800, t0), t0 + 3600);
	assert_int_equal(sched_next_try(t0, 1, false, 604800, t0), t0 + 100);
	assert_int_equal(sched_next_try(t0, 4, false, 604800, t0), t0 + 1600);
}

/* Never after arrival + lifetime (the last try and the bounce come on time), never in the past. */
static void
test_schedule_bounds(void **state)
{
	const time_t t0 = 1700000000;
	unsigned n;

	(void)state;
	assert_int_equal(sched_next_try(t0, 50, true, 3600, t0), t0 + 3600);
	/* A try that ran late: the next is at least a second away. */
	assert_int_equal(sched_next_try(t0, 1, true, 604800, t0 + 100000), t0 + 100001);
	/* Past the lifetime: still a time in the future, for the final try. */
	assert_int_equal(sched_next_try(t0, 3, true, 10, t0 + 50), t0 + 51);
	/* No overflow with absurd counts. */
	assert_true(sched_next_try(t0, ~0u, true, 604800, t0) <= t0 + 604800);
	for (n = 1; n < 1000; n++)
		assert_true(sched_next_try(t0, n, true, 604800, t0) >=
			    sched_next_try(t0, n - 1 > 0 ? n - 1 : 1, true, 604800, t0));
}

/*
 * At the bounds: queuelifetime at its largest, and an arrival time read
 * from a damaged envelope near the end of time (the parser takes up to
 * INT64_MAX): no sum overflows (UBSan), the answer stays in the future.
 */
static void
test_schedule_no_overflow_at_the_limits(void **state)
{
	const time_t t0 = 1700000000, tmax = (time_t)INT64_MAX;

	(void)state;
	assert_int_equal(sched_next_try(t0, ~0u, true, 100L * 86400, t0), t0 + 100L * 86400);
	assert_int_equal(sched_next_try(t0, 1, true, 100L * 86400, t0), t0 + 400);
	assert_true(sched_next_try(tmax, ~0u, true, 100L * 86400, t0) == tmax);
	assert_true(sched_next_try(tmax - 10, 1, true, 100L * 86400, t0) == tmax);
	assert_true(sched_next_try(t0, 1, true, LONG_MAX, t0) == t0 + 400);
	assert_true(sched_next_try(t0, ~0u, true, LONG_MAX, t0) == t0 + 400LL * 100000 * 100000);
	assert_true(sched_next_try(t0, 1, true, 10, tmax) == tmax);
}

/* The heap against a reference: random pushes, pops, removals and updates. */
static void
test_heap_random(void **state)
{
	enum { N = 2000 };
	static struct sched_entry e[N];
	static bool in[N];
	struct sched_heap h;
	unsigned step, i;

	(void)state;
	srandom(42);
	sched_heap_init(&h);
	for (step = 0; step < 100000; step++) {
		i = (unsigned)random() % N;
		switch (random() % 4) {
		case 0:
			if (!in[i]) {
				e[i].next = random() % 5000;
				e[i].item = &e[i];
				assert_int_equal(sched_heap_push(&h, &e[i]), 0);
				in[i] = true;
			}
			break;
		case 1:
			if (in[i]) {
				sched_heap_remove(&h, &e[i]);
				in[i] = false;
			}
			break;
		case 2:
			if (in[i]) {
				e[i].next = random() % 5000;
				sched_heap_update(&h, &e[i]);
			}
			break;
		default: {
			struct sched_entry *top = sched_heap_peek(&h);
			time_t min = -1;
			unsigned k;

			for (k = 0; k < N; k++)
				if (in[k] && (min == -1 || e[k].next < min))
					min = e[k].next;
			if (top == NULL) {
				assert_int_equal(min, -1);
			} else {
				assert_int_equal(top->next, min);
				assert_ptr_equal(sched_heap_pop(&h), top);
				in[top - e] = false;
			}
		}
		}
	}
	sched_heap_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_is_qmails),
		cmocka_unit_test(test_schedule_bounds),
		cmocka_unit_test(test_schedule_no_overflow_at_the_limits),
		cmocka_unit_test(test_heap_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
