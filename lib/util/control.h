/* control.h - qmail-style control files, read afresh on every call. */
#ifndef OSD_CONTROL_H
#define OSD_CONTROL_H

#include <stddef.h>

/* Longest line honoured in a control file; longer lines are an error. */
#define CONTROL_LINE_MAX 1024
/* Largest control file read (morercpthosts can be big). */
#define CONTROL_FILE_MAX (64u * 1024 * 1024)

struct control_lines {
	char **lines;   /* trimmed, no comments or blank lines */
	size_t count;
	unsigned long *linenos; /* the file's line number of each (for messages: osd config check) */
	unsigned long bad_line; /* after a failed read: the line that could not be read */
};

/*
 * The first line of dir/name, trimmed, into out.  A missing file gives
 * def (or -1 with errno = ENOENT when def is NULL).  Returns 0 or -1.
 */
int control_read_line(const char *dir, const char *name, const char *def,
		      char *out, size_t size);

/* A non-negative number from dir/name, or def when the file is missing. */
int control_read_ulong(const char *dir, const char *name, unsigned long def,
		       unsigned long *value_r);

/*
 * Bounds of the control files that hold seconds (docs/config.md).  A value
 * beyond its bound is not used: the default is, with a warning, as for any
 * bad value.
 */
#define CONTROL_TIMEOUT_MAX 86400UL                     /* timeoutsmtpd, timeoutremote, timeoutconnect: 1 day */
#define CONTROL_QUEUELIFETIME_MAX (100UL * 86400)       /* queuelifetime: 100 days, Postfix's cap */

/*
 * A number of seconds from dir/name, min..max.  A missing (or empty) file
 * gives def and 0.  A file that cannot be read, is not a number or is
 * outside min..max gives -1 with errno (EINVAL not a number, ERANGE out
 * of bounds, else the read's), *secs_r = def, and err saying what was
 * wrong and that def is used, for the caller to log.
 */
int control_read_seconds(const char *dir, const char *name, unsigned long def,
			 unsigned long min, unsigned long max, unsigned long *secs_r,
			 char *err, size_t errsize);

/*
 * Every meaningful line of dir/name: trailing white space removed, blank
 * lines and '#' comments skipped.  A missing file is an empty list.
 */
int control_read_lines(const char *dir, const char *name, struct control_lines *out);

/*
 * The same for the text of a control file already in memory (len octets,
 * need not be NUL-terminated): what control_read_lines makes of a file
 * holding it, without the I/O.  0, or -1 with errno (EMSGSIZE a line over
 * CONTROL_LINE_MAX, EINVAL a NUL byte, EFBIG over CONTROL_FILE_MAX) and
 * out->bad_line; out is then empty.
 */
int control_parse_lines(const char *text, size_t len, struct control_lines *out);
void control_lines_free(struct control_lines *cl);

/*
 * This host's mail name: control/me, else the host name, else
 * "localhost" (qmail's rule; the name smtpd greets with, bounces come from
 * and osd-remote says EHLO with).
 */
void control_me(const char *dir, char *out, size_t size);

#endif
