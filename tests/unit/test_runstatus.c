/* test_runstatus.c - unit tests for osd run's status file (osd/runstatus.c): what osd run writes, osd status reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runstatus.h"

static void
test_runstatus_format_then_parse_round_trip(void **state)
{
	struct runstatus rs = { .pid = 812, .started = 1796600000, .n = 2 };
	struct runstatus back;
	char err[128];
	struct buf b;

	(void)state;
	snprintf(rs.conf, sizeof(rs.conf), "/etc/osd/my osd.conf");
	rs.svc[0] = (struct runstatus_service){ "watch", "running", 814, 1796600001, 0, "-" };
	rs.svc[1] = (struct runstatus_service){ "smtpd", "backoff", 0, 0, 3, "signal:9" };
	buf_init(&b, 4096);
	assert_int_equal(runstatus_format(&rs, &b), 0);
	assert_string_equal(b.data, "osd-run-status 1\n"
				    "run 812 1796600000 /etc/osd/my osd.conf\n"
				    "service watch running 814 1796600001 0 -\n"
				    "service smtpd backoff 0 0 3 signal:9\n");
	assert_int_equal(runstatus_parse(b.data, b.len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.pid, 812);
	assert_string_equal(back.conf, "/etc/osd/my osd.conf");
	assert_int_equal(back.n, 2);
	assert_string_equal(back.svc[1].name, "smtpd");
	assert_string_equal(back.svc[1].state, "backoff");
	assert_int_equal(back.svc[1].restarts, 3);
	assert_string_equal(back.svc[1].last_exit, "signal:9");
	assert_int_equal(back.svc[0].started, 1796600001);
	buf_free(&b);
}

/* Built-in defaults: an empty config path survives the trip. */
static void
test_runstatus_empty_conf(void **state)
{
	static const char text[] = "osd-run-status 1\nrun 5 6 \n";
	struct runstatus rs;
	char err[128];

	(void)state;
	assert_int_equal(runstatus_parse(text, sizeof(text) - 1, &rs, err, sizeof(err)), 0);
	assert_int_equal(rs.pid, 5);
	assert_string_equal(rs.conf, "");
	assert_int_equal(rs.n, 0);
}

/* Anything else is refused, never half-read. */
static void
test_runstatus_parse_refuses_other_text(void **state)
{
	static const char *const bad[] = {
		"garbage\n",
		"osd-run-status 2\nrun 1 2 x\n",
		"osd-run-status 1\n",
		"osd-run-status 1\nrun 1 2 x\nservice watch running 3\n",
		"osd-run-status 1\nrun 1 2 x\nservice watch running 3 4 5 - extra\n",
		"osd-run-status 1\nrun 1 2 x\nfrob\n",
	};
	struct runstatus rs;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(runstatus_parse(bad[i], strlen(bad[i]), &rs, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runstatus_format_then_parse_round_trip),
		cmocka_unit_test(test_runstatus_empty_conf),
		cmocka_unit_test(test_runstatus_parse_refuses_other_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
