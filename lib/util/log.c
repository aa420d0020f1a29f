/* log.c - logging to stderr (one stable line format) or syslog, for every osd program. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Internal level above LOG_LEVEL_ERR: fatal lines are never filtered. */
#define LEVEL_FATAL (LOG_LEVEL_ERR + 1)

/* Longest message kept; longer ones are cut (a log line is not worth failing for). */
#define LOG_MSG_MAX 4096

static char log_ident[64] = "osd";
static bool log_to_syslog;
static enum log_level log_min_level = LOG_LEVEL_INFO;

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "mail", LOG_MAIL },
	{ "daemon", LOG_DAEMON },
	{ "user", LOG_USER },
	{ "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 },
	{ "local7", LOG_LOCAL7 },
};

static int
facility_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].facility;
	return -1;
}

int
log_init(const char *ident, bool use_syslog, const char *facility)
{
	const char *slash;
	size_t len;
	int fac = LOG_MAIL;

	/* Check first, so a bad call changes nothing. */
	if (facility != NULL && *facility != '\0' &&
	    (fac = facility_by_name(facility)) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (ident == NULL || *ident == '\0')
		ident = "osd";
	/* argv[0] may be a full path; the line wants the program name only. */
	if ((slash = strrchr(ident, '/')) != NULL && slash[1] != '\0')
		ident = slash + 1;
	len = strlen(ident);
	if (len >= sizeof(log_ident))
		len = sizeof(log_ident) - 1;
	memmove(log_ident, ident, len);  /* ident may be log_ident itself */
	log_ident[len] = '\0';

	if (log_to_syslog)
		closelog();
	log_to_syslog = use_syslog;
	/* log_ident is static storage, as openlog(3) requires. */
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, fac);
	return 0;
}

void
log_set_level(enum log_level min_level)
{
	log_min_level = min_level;
}

static const char *
level_name(int level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG:
		return "debug";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_WARN:
		return "warn";
	case LOG_LEVEL_ERR:
		return "error";
	default:
		return "fatal";
	}
}

static int
level_priority(int level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG:
		return LOG_DEBUG;
	case LOG_LEVEL_INFO:
		return LOG_INFO;
	case LOG_LEVEL_WARN:
		return LOG_WARNING;
	case LOG_LEVEL_ERR:
		return LOG_ERR;
	default:
		return LOG_CRIT;
	}
}

/*
 * Format one message.  Control characters become '?' so that text from
 * the network (an SMTP command, a user name) cannot forge extra lines.
 */
static void __attribute__((format(printf, 4, 0)))
log_vemit(int level, int saved_errno, bool with_errno, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	char line[LOG_MSG_MAX + 256];
	char stamp[32];
	struct tm tm;
	time_t now;
	size_t i, len;
	int n;

	if (level < (int)log_min_level && level != LEVEL_FATAL)
		return;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable log message: %s)", fmt);
	len = strlen(msg);
	if (with_errno && len < sizeof(msg) - 1)
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved_errno));
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = msg[i] == '\t' ? ' ' : '?';

	if (log_to_syslog) {
		syslog(level_priority(level), "%s: %s", level_name(level), msg);
		return;
	}

	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: %s\n", stamp, log_ident,
		     (long)getpid(), level_name(level), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* Cut, but keep the newline so the next line starts clean. */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write(2) per line keeps lines whole when processes share stderr. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_BODY(level, with_errno)                              \
	do {                                                     \
		int saved_errno_ = errno;                        \
		va_list ap_;                                     \
		va_start(ap_, fmt);                              \
		log_vemit(level, saved_errno_, with_errno, fmt, ap_); \
		va_end(ap_);                                     \
		errno = saved_errno_;                            \
	} while (0)

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, false);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, false);
}

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, true);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, false);
}

void
log_err(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, true);
}

void
log_errx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, false);
}

noreturn void
fatal(const char *fmt, ...)
{
	LOG_BODY(LEVEL_FATAL, true);
	exit(111);
}

noreturn void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LEVEL_FATAL, false);
	exit(111);
}
