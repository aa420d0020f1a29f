/* imap_date.h - the dates of IMAP: date-time "17-Jul-1996 02:44:25 -0700" (INTERNALDATE, APPEND) and date "1-Feb-1994" (SEARCH), RFC 3501 section 9. */
#ifndef OSD_IMAP_DATE_H
#define OSD_IMAP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Room for a date-time with its quotes: "\"dd-Mon-yyyy hh:mm:ss +zzzz\"" and the NUL. */
#define IMAP_DATETIME_MAX 29

/* Write when as a quoted date-time in the server's local time zone (its offset as the zone). */
void imap_date_format_datetime(time_t when, char out[IMAP_DATETIME_MAX]);

/*
 * Parse a date-time as APPEND takes it (without its quotes; the day may
 * be " 7" or "7" or "07"): the moment it names, zone applied.  false
 * when it is not one (a BAD reply).
 */
bool imap_date_parse_datetime(const char *text, time_t *when_r);

/*
 * Parse a SEARCH date ("1-Feb-1994", day 1 or 2 digits).  *day_r is the
 * day as a count of days since 1970-01-01; SEARCH compares dates, not
 * moments (RFC 3501 section 6.4.4: "disregarding time and timezone").
 */
bool imap_date_parse_date(const char *text, long *day_r);

/* The day number of a moment in the given zone offset (minutes east of UTC), to compare with a SEARCH date. */
long imap_date_day(time_t when, int tz_offset_minutes);

#endif
