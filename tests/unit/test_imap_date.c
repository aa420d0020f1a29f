/* test_imap_date.c - unit tests for the IMAP date-time and date (imapd/imap_date.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "imap_date.h"

static void
set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

/* The RFC 3501 example and the three ways of writing a one-digit day name the same moment. */
static void
test_imap_date_datetime_forms(void **state)
{
	time_t t;

	(void)state;
	/* 17-Jul-1996 02:44:25 -0700 is 09:44:25 UTC: 837596665. */
	assert_true(imap_date_parse_datetime("17-Jul-1996 02:44:25 -0700", &t));
	assert_true(t == 837596665);
	assert_true(imap_date_parse_datetime(" 7-Jul-2020 10:00:00 +0000", &t));
	assert_true(t == 1594116000);
	assert_true(imap_date_parse_datetime("07-Jul-2020 10:00:00 +0000", &t));
	assert_true(t == 1594116000);
	assert_true(imap_date_parse_datetime("7-Jul-2020 10:00:00 +0000", &t));
	assert_true(t == 1594116000);
	/* Months in any case, as Dovecot takes them. */
	assert_true(imap_date_parse_datetime("7-JUL-2020 10:00:00 +0000", &t));
	assert_true(t == 1594116000);
	assert_true(imap_date_parse_datetime("01-Jan-1970 00:00:00 +0000", &t));
	assert_true(t == 0);
	assert_true(imap_date_parse_datetime("31-Dec-1969 23:59:59 +0000", &t));
	assert_true(t == -1);
}

/* The zone is applied: east of UTC is earlier in UTC, minutes of the zone count. */
static void
test_imap_date_datetime_zones(void **state)
{
	time_t utc, east, west, half;

	(void)state;
	assert_true(imap_date_parse_datetime("01-Jan-2021 12:00:00 +0000", &utc));
	assert_true(imap_date_parse_datetime("01-Jan-2021 12:00:00 +0200", &east));
	assert_true(imap_date_parse_datetime("01-Jan-2021 12:00:00 -0500", &west));
	assert_true(imap_date_parse_datetime("01-Jan-2021 12:00:00 +0530", &half));
	assert_true(east == utc - 2 * 3600);
	assert_true(west == utc + 5 * 3600);
	assert_true(half == utc - (5 * 3600 + 30 * 60));
	/* Across a day and a year boundary. */
	assert_true(imap_date_parse_datetime("01-Jan-2021 01:00:00 +0200", &east));
	assert_true(imap_date_parse_datetime("31-Dec-2020 23:00:00 +0000", &utc));
	assert_true(east == utc);
}

/* Anything off the grammar is refused, *when_r untouched. */
static void
test_imap_date_datetime_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"17-Jul-1996 02:44:25",          /* no zone */
		"17-Jul-1996 02:44:25 0700",     /* zone without a sign */
		"17-Jul-1996 02:44:25 -070",     /* short zone */
		"17-Jul-1996 02:44:25 -07000",   /* long zone */
		"17-Jul-1996 02:44:25 -0760",    /* zone minutes */
		"17-Jul-1996 24:00:00 +0000",    /* hour */
		"17-Jul-1996 23:60:00 +0000",    /* minute */
		"17-Jul-1996 23:59:61 +0000",    /* second */
		"17-Jul-1996 2:44:25 +0000",     /* one-digit hour */
		"17-Jly-1996 02:44:25 +0000",    /* month */
		"17-July-1996 02:44:25 +0000",   /* long month */
		"17-Jul-96 02:44:25 +0000",      /* two-digit year */
		"00-Jul-1996 02:44:25 +0000",    /* day 0 */
		"32-Jul-1996 02:44:25 +0000",    /* day 32 */
		"31-Apr-1996 02:44:25 +0000",    /* April has 30 */
		"117-Jul-1996 02:44:25 +0000",   /* three-digit day */
		"  7-Jul-1996 02:44:25 +0000",   /* two spaces */
		"17 Jul 1996 02:44:25 +0000",    /* RFC 5322, not IMAP */
		"17-Jul-1996  02:44:25 +0000",   /* two spaces */
		"17-Jul-1996 02:44:25 +0000 ",   /* trailing space */
		"\"17-Jul-1996 02:44:25 +0000\"", /* the quotes are the parser's */
		"17-Ju",
	};
	time_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 42;
		if (imap_date_parse_datetime(bad[i], &t))
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(t == 42);
	}
}

/* 29 February exists in leap years only: by 4, not by 100, by 400. */
static void
test_imap_date_leap_years(void **state)
{
	time_t t;
	long d, next;

	(void)state;
	assert_true(imap_date_parse_datetime("29-Feb-2020 00:00:00 +0000", &t));
	assert_true(t == 1582934400);
	assert_true(imap_date_parse_datetime("29-Feb-2000 00:00:00 +0000", &t));
	assert_false(imap_date_parse_datetime("29-Feb-1900 00:00:00 +0000", &t));
	assert_false(imap_date_parse_datetime("29-Feb-2021 00:00:00 +0000", &t));
	assert_false(imap_date_parse_datetime("30-Feb-2020 00:00:00 +0000", &t));
	assert_true(imap_date_parse_date("29-Feb-2024", &d));
	assert_true(imap_date_parse_date("1-Mar-2024", &next));
	assert_true(next == d + 1);
	assert_false(imap_date_parse_date("29-Feb-2100", &d));
	assert_true(imap_date_parse_date("28-Feb-2100", &d));
	assert_true(imap_date_parse_date("1-Mar-2100", &next));
	assert_true(next == d + 1);
}

/* SEARCH dates: day numbers since 1970, one or two digits, no time, no space-padded day. */
static void
test_imap_date_search_date(void **state)
{
	long d;

	(void)state;
	assert_true(imap_date_parse_date("1-Jan-1970", &d));
	assert_true(d == 0);
	assert_true(imap_date_parse_date("01-Jan-1970", &d));
	assert_true(d == 0);
	assert_true(imap_date_parse_date("1-Feb-1994", &d));
	assert_true(d == 8797);
	assert_true(imap_date_parse_date("31-dec-1969", &d));
	assert_true(d == -1);
	d = 42;
	assert_false(imap_date_parse_date(" 1-Feb-1994", &d));
	assert_false(imap_date_parse_date("1-Feb-1994 00:00:00 +0000", &d));
	assert_false(imap_date_parse_date("1-Feb-94", &d));
	assert_false(imap_date_parse_date("1-Feb-1994x", &d));
	assert_false(imap_date_parse_date("0-Feb-1994", &d));
	assert_false(imap_date_parse_date("", &d));
	assert_true(d == 42);
}

/* imap_date_day takes the zone into account and floors before 1970. */
static void
test_imap_date_day_of_moment(void **state)
{
	long d;

	(void)state;
	assert_true(imap_date_day(0, 0) == 0);
	assert_true(imap_date_day(86399, 0) == 0);
	assert_true(imap_date_day(86400, 0) == 1);
	assert_true(imap_date_day(-1, 0) == -1);
	assert_true(imap_date_day(-86400, 0) == -1);
	assert_true(imap_date_day(-86401, 0) == -2);
	/* 23:30 UTC on 1 Feb 1994 is already 2 Feb in +0100, still 1 Feb in -0500. */
	assert_true(imap_date_parse_date("1-Feb-1994", &d));
	assert_true(imap_date_day((time_t)d * 86400 + 23 * 3600 + 1800, 60) == d + 1);
	assert_true(imap_date_day((time_t)d * 86400 + 23 * 3600 + 1800, -300) == d);
	assert_true(imap_date_day((time_t)d * 86400 + 1800, -300) == d - 1);
}

/* The written form: quoted, two-digit day, the local zone's offset; and it parses back to the moment. */
static void
test_imap_date_format_round_trip(void **state)
{
	static const time_t moments[] = { 0, 837596665, 1582934400, 1594116000, 951782400 - 1, 4102444799 };
	static const char *const zones[] = { "UTC0", "<-07>7", "<+0530>-5:30", "<+14>-14" };
	char out[IMAP_DATETIME_MAX];
	char inner[IMAP_DATETIME_MAX];
	time_t t;

	(void)state;
	set_tz("UTC0");
	imap_date_format_datetime(837596665, out);
	assert_string_equal(out, "\"17-Jul-1996 09:44:25 +0000\"");
	imap_date_format_datetime(1594116000, out);
	assert_string_equal(out, "\"07-Jul-2020 10:00:00 +0000\"");
	set_tz("<-07>7");
	imap_date_format_datetime(837596665, out);
	assert_string_equal(out, "\"17-Jul-1996 02:44:25 -0700\"");
	set_tz("<+0530>-5:30");
	imap_date_format_datetime(0, out);
	assert_string_equal(out, "\"01-Jan-1970 05:30:00 +0530\"");
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		set_tz(zones[z]);
		for (size_t i = 0; i < sizeof(moments) / sizeof(moments[0]); i++) {
			size_t len;

			imap_date_format_datetime(moments[i], out);
			len = strlen(out);
			assert_int_equal(len, IMAP_DATETIME_MAX - 1);
			assert_true(out[0] == '"' && out[len - 1] == '"');
			memcpy(inner, out + 1, len - 2);
			inner[len - 2] = '\0';
			assert_true(imap_date_parse_datetime(inner, &t));
			assert_true(t == moments[i]);
		}
	}
	set_tz("UTC0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_date_datetime_forms),
		cmocka_unit_test(test_imap_date_datetime_zones),
		cmocka_unit_test(test_imap_date_datetime_bad),
		cmocka_unit_test(test_imap_date_leap_years),
		cmocka_unit_test(test_imap_date_search_date),
		cmocka_unit_test(test_imap_date_day_of_moment),
		cmocka_unit_test(test_imap_date_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
