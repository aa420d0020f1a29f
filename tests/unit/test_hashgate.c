/* test_hashgate.c - unit tests for lib/auth/hashgate.c: turns across forked processes, and a dead holder's turn taken back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hashgate.h"

static void
close_pipes(int a[2], int b[2])
{
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Without a gate nothing is bounded and nothing blocks. */
static void
test_hashgate_without_a_gate_does_nothing(void **state)
{
	(void)state;
	assert_false(hashgate_enter());
	assert_false(hashgate_try_enter());
	hashgate_leave();
	assert_true(hashgate_default_slots() >= 2);
}

/*
 * One turn: a child takes it and holds it; the parent cannot; the child
 * gives it back; the parent can.  Then a child takes it and dies without
 * giving it back (as a session killed while hashing): the turn is taken
 * back from the dead holder.
 */
static void
test_hashgate_turns_are_shared_and_taken_back_from_the_dead(void **state)
{
	int to_child[2], to_parent[2], status;
	char c = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(hashgate_init(1), 0);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	if ((pid = fork()) == 0) {
		char ok = hashgate_try_enter() ? 'y' : 'n';

		(void)!write(to_parent[1], &ok, 1);
		(void)!read(to_child[0], &c, 1);        /* hold until told */
		hashgate_leave();
		(void)!write(to_parent[1], &ok, 1);
		_exit(0);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_false(hashgate_try_enter());             /* the child holds the only turn */
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(read(to_parent[0], &c, 1), 1); /* it gave it back */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(hashgate_enter());
	hashgate_leave();

	/* A holder that dies holding: reaped, its turn is free for the next. */
	if ((pid = fork()) == 0) {
		char ok = hashgate_try_enter() ? 'y' : 'n';

		(void)!write(to_parent[1], &ok, 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_false(hashgate_try_enter());
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(hashgate_try_enter());
	hashgate_leave();
	close_pipes(to_child, to_parent);
}

/* Two turns: two holders at once, a third must wait. */
static void
test_hashgate_bounds_the_holders(void **state)
{
	int to_parent[2], to_child[2], status;
	pid_t kids[2];
	char c;

	(void)state;
	assert_int_equal(hashgate_init(2), 0);
	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	for (int k = 0; k < 2; k++) {
		if ((kids[k] = fork()) == 0) {
			char ok = hashgate_try_enter() ? 'y' : 'n';

			(void)!write(to_parent[1], &ok, 1);
			(void)!read(to_child[0], &c, 1);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(read(to_parent[0], &c, 1), 1);
		assert_int_equal(c, 'y');
	}
	assert_false(hashgate_try_enter());
	assert_int_equal(write(to_child[1], "xx", 2), 2);
	for (int k = 0; k < 2; k++)
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
	assert_true(hashgate_try_enter());
	hashgate_leave();
	close_pipes(to_child, to_parent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashgate_without_a_gate_does_nothing),
		cmocka_unit_test(test_hashgate_turns_are_shared_and_taken_back_from_the_dead),
		cmocka_unit_test(test_hashgate_bounds_the_holders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
