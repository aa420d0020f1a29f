/* test_smtp_verdict.c - reading osd-remote's and osd-local's verdicts (smtp-gate/queue/verdict.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "verdict.h"

static void
run(const char *out, size_t n, enum verdict *v, const char **why, char **text)
{
	assert_int_equal(verdict_remote(out, strlen(out), n, v, why, text), 0);
}

static void
test_remote_mixed(void **state)
{
	enum verdict v[3];
	const char *why[3];
	char *text;

	(void)state;
	run("rok one\nh550 no such user\ns451 try later\nK250 queued\n", 3, v, why, &text);
	assert_int_equal(v[0], VERDICT_DONE);
	assert_string_equal(why[0], "ok one");
	assert_int_equal(v[1], VERDICT_FAIL);
	assert_string_equal(why[1], "550 no such user");
	assert_int_equal(v[2], VERDICT_DEFER);
	free(text);
}

/* An accepted recipient shares the message's fate: Z defers it, D fails it. */
static void
test_remote_message_verdict_wins_for_accepted(void **state)
{
	enum verdict v[2];
	const char *why[2];
	char *text;

	(void)state;
	run("rok\nh550 no\nZ451 disk full\n", 2, v, why, &text);
	assert_int_equal(v[0], VERDICT_DEFER);
	assert_string_equal(why[0], "451 disk full");
	assert_int_equal(v[1], VERDICT_FAIL);
	free(text);
	run("rok\nD554 rejected\n", 1, v, why, &text);
	assert_int_equal(v[0], VERDICT_FAIL);
	assert_string_equal(why[0], "554 rejected");
	free(text);
}

/* Anything incomplete or malformed defers everyone: never a false success or failure. */
static void
test_remote_incomplete_defers_all(void **state)
{
	static const char *const bad[] = {
		"",                             /* crashed before a word */
		"rok\n",                        /* no message line */
		"rok\nrok\nK250\n",             /* one recipient too many */
		"K250\n",                       /* no recipient lines */
		"rok\nK250",                    /* the last line cut off */
		"xok\nK250\n",                  /* unknown letter */
		"rok\nK250\nrextra\n",          /* something after the message line */
		"rok\n\nK250\n",                /* an empty line */
	};
	enum verdict v[1];
	const char *why[1];
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run(bad[i], 1, v, why, &text);
		assert_int_equal(v[0], VERDICT_DEFER);
		free(text);
	}
	/* A NUL in the output cuts it there. */
	assert_int_equal(verdict_remote("rok\0\nK250\n", 10, 1, v, why, &text), 0);
	assert_int_equal(v[0], VERDICT_DEFER);
	free(text);
}

static void
test_local_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(verdict_local(0), VERDICT_DONE);
	assert_int_equal(verdict_local(100), VERDICT_FAIL);
	assert_int_equal(verdict_local(111), VERDICT_DEFER);
	assert_int_equal(verdict_local(-1), VERDICT_DEFER);
	assert_int_equal(verdict_local(1), VERDICT_DEFER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_mixed),
		cmocka_unit_test(test_remote_message_verdict_wins_for_accepted),
		cmocka_unit_test(test_remote_incomplete_defers_all),
		cmocka_unit_test(test_local_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
