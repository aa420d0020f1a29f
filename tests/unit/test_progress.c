/* test_progress.c - unit tests for the progress line (lib/util/progress.c): its text, and silence off a terminal. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "progress.h"

/* Count, unit, percent with one decimal, elapsed seconds with one decimal. */
static void
test_progress_format_with_percent(void **state)
{
	char out[128];
	size_t n;

	(void)state;
	n = progress_format(out, sizeof(out), "osd: import-open-smtp: f", "lines", 250000, 253,
			    3250);
	assert_string_equal(out, "osd: import-open-smtp: f: 250000 lines (25.3%), 3.2 s");
	assert_int_equal(n, strlen(out));
	progress_format(out, sizeof(out), "x", "lines", 1000000, 1000, 0);
	assert_string_equal(out, "x: 1000000 lines (100.0%), 0.0 s");
	/* Past the end (a file that grew while read) stays at 100%. */
	progress_format(out, sizeof(out), "x", "lines", 7, 1500, 999);
	assert_string_equal(out, "x: 7 lines (100.0%), 0.9 s");
}

/* No total: no percent. */
static void
test_progress_format_without_total(void **state)
{
	char out[128];

	(void)state;
	progress_format(out, sizeof(out), "osd: watch: scan", "entries", 1000000, -1, 61234);
	assert_string_equal(out, "osd: watch: scan: 1000000 entries, 61.2 s");
	progress_format(out, sizeof(out), "w", "entries", 0, -1, -5);
	assert_string_equal(out, "w: 0 entries, 0.0 s");
}

/* A small buffer cuts the line and says how much it kept. */
static void
test_progress_format_cut_to_fit(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(progress_format(out, sizeof(out), "abcdefghij", "lines", 1, -1, 0), 7);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(progress_format(out, 0, "a", "b", 1, -1, 0), 0);
}

/* Off a terminal (a file here) nothing is ever written. */
static void
test_progress_silent_when_not_a_tty(void **state)
{
	char path[] = "/tmp/test_progress.XXXXXX";
	struct progress p;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	progress_start(&p, fd, "what", "lines");
	assert_int_equal(p.fd, -1);
	p.next_ms = 0;          /* as if the interval had passed */
	progress_update(&p, 10, 10);
	progress_end(&p, 20, 20);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_format_with_percent),
		cmocka_unit_test(test_progress_format_without_total),
		cmocka_unit_test(test_progress_format_cut_to_fit),
		cmocka_unit_test(test_progress_silent_when_not_a_tty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
