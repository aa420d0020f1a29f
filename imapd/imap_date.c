/* imap_date.c - the dates of IMAP: date-time (INTERNALDATE, APPEND) and date (SEARCH), RFC 3501 section 9, by civil-day arithmetic that no TZ setting changes. */
#include "imap_date.h"

#include <stdio.h>

#include "ascii.h"

static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool
is_leap(long year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
month_days(long year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/*
 * The days since 1970-01-01 of a proleptic Gregorian date (month 1..12):
 * counted from 1 March so that the leap day ends a year, eras of 400 years.
 */
static long
days_from_civil(long year, int month, int day)
{
	long y = month <= 2 ? year - 1 : year;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long mp = month > 2 ? month - 3 : month + 9;
	long doy = (153 * mp + 2) / 5 + day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n digits at *p as a number, *p moved past them; false if one is not a digit. */
static bool
take_digits(const char **p, int n, long *v_r)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v_r = v;
	return true;
}

/* "Jan".."Dec" in any case (Dovecot takes any case too) at *p: the month 1..12, *p past it. */
static int
take_month(const char **p)
{
	for (int m = 0; m < 12; m++) {
		if ((*p)[0] != '\0' && (*p)[1] != '\0' && (*p)[2] != '\0' &&
		    ascii_eq_nocase(*p, month_names[m], 3)) {
			*p += 3;
			return m + 1;
		}
	}
	return 0;
}

/*
 * "d-Mon-yyyy" at *p, *p past it: the day number.  allow_space lets the
 * day be " d" (date-day-fixed of a date-time); one or two digits always.
 */
static bool
take_date(const char **p, bool allow_space, long *day_r)
{
	const char *s = *p;
	long day, year;
	int month;

	if (allow_space && s[0] == ' ' && is_digit(s[1])) {
		day = s[1] - '0';
		s += 2;
	} else if (is_digit(s[0]) && is_digit(s[1])) {
		day = (s[0] - '0') * 10 + (s[1] - '0');
		s += 2;
	} else if (is_digit(s[0])) {
		day = s[0] - '0';
		s++;
	} else {
		return false;
	}
	if (*s++ != '-')
		return false;
	month = take_month(&s);
	if (month == 0 || *s++ != '-')
		return false;
	if (!take_digits(&s, 4, &year))
		return false;
	if (day < 1 || day > month_days(year, month))
		return false;
	*day_r = days_from_civil(year, month, (int)day);
	*p = s;
	return true;
}

bool
imap_date_parse_date(const char *text, long *day_r)
{
	const char *p = text;
	long day;

	if (!take_date(&p, false, &day) || *p != '\0')
		return false;
	*day_r = day;
	return true;
}

bool
imap_date_parse_datetime(const char *text, time_t *when_r)
{
	const char *p = text;
	long day, hh, mm, ss, zh, zm;
	long long secs;
	int sign;

	if (!take_date(&p, true, &day) || *p++ != ' ')
		return false;
	if (!take_digits(&p, 2, &hh) || *p++ != ':' || !take_digits(&p, 2, &mm) || *p++ != ':' ||
	    !take_digits(&p, 2, &ss) || *p++ != ' ')
		return false;
	/* 60 is a leap second (RFC 5322 section 3.3); it counts as the next second. */
	if (hh > 23 || mm > 59 || ss > 60)
		return false;
	if (*p != '+' && *p != '-')
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (!take_digits(&p, 2, &zh) || !take_digits(&p, 2, &zm) || *p != '\0' || zm > 59)
		return false;
	/* The zone is the local time's offset from UTC: UTC = local - offset. */
	secs = (long long)day * 86400 + hh * 3600 + mm * 60 + ss - sign * (zh * 3600 + zm * 60);
	if ((long long)(time_t)secs != secs)
		return false;
	*when_r = (time_t)secs;
	return true;
}

long
imap_date_day(time_t when, int tz_offset_minutes)
{
	long long t = (long long)when + (long long)tz_offset_minutes * 60;

	/* Floor division: a moment before 1970 belongs to the day before. */
	return (long)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
}

void
imap_date_format_datetime(time_t when, char out[IMAP_DATETIME_MAX])
{
	struct tm tm;
	long off, year;

	if (localtime_r(&when, &tm) == NULL) {
		when = 0;
		gmtime_r(&when, &tm);
		tm.tm_gmtoff = 0;
	}
	off = tm.tm_gmtoff / 60;
	year = (long)tm.tm_year + 1900;
	/* Four digits is all the grammar has: hold a year outside them at the edge. */
	if (year < 0)
		year = 0;
	if (year > 9999)
		year = 9999;
	snprintf(out, IMAP_DATETIME_MAX, "\"%02d-%s-%04ld %02d:%02d:%02d %c%02ld%02ld\"",
		 tm.tm_mday, month_names[tm.tm_mon % 12], year, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60 % 100, (off < 0 ? -off : off) % 60);
}
