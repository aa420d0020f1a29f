/* log.h - logging to stderr (stable format) or syslog, for every osd program. */
#ifndef OSD_LOG_H
#define OSD_LOG_H

#include <stdbool.h>
#include <stdnoreturn.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERR };

/*
 * Set the program name shown in each line and where lines go.  With
 * use_syslog false, lines go to stderr as
 *   "2026-11-25T21:13:42Z osd-watch[123]: warn: what: why"
 * With use_syslog true they go to syslog(3) with the given facility name
 * ("mail", "daemon", "local0".."local7"); an unknown name is -1.
 */
int log_init(const char *ident, bool use_syslog, const char *facility);

/* Lines below min_level are dropped (default: info). */
void log_set_level(enum log_level min_level);

/* log_warn and log_err append ": strerror(errno)"; the *x forms do not. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For start-up failures and broken invariants only: log and exit(111). */
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
