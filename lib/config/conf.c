/* conf.c - osd.conf: strict "key = value" parsing over built-in defaults. */
#include "errfmt.h"
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "listen.h"
#include "path.h"
#include "rules.h"

/* Longest line of osd.conf, without its newline. */
#define CONF_LINE_MAX 4096

enum conf_kind {
	KIND_STRING,    /* any text that fits */
	KIND_PATH,      /* relative paths are taken from the config file's folder */
	KIND_DURATION,  /* relay_expire: a duration > 0, at most the row's max */
	KIND_MILLIS,    /* relay_batch: milliseconds (N, Nms or Ns), 0 up to the row's max */
	KIND_COUNT,     /* a whole number 1..1000000 (unsigned) */
	KIND_BOOL,
	KIND_LOG,       /* "stderr" or "syslog" */
	KIND_FACILITY,  /* a syslog facility name */
	KIND_SERVICES,  /* what osd run starts: known service names */
	KIND_RELAY_ENV, /* relay_env: tcprules variables, RELAYCLIENT among them */
	KIND_V6PREFIX,  /* relay_ipv6_prefix: 128 or 64 */
	KIND_SIZE,      /* octets, with an optional k or M (1024s): 1 to the row's max (size_t) */
	KIND_LISTEN,    /* a listener spec (listen_parse), or empty: off */
	KIND_CHOICE,    /* one word of the key's row in conf_choices */
	KIND_BACKEND,   /* "" or host:port ([v6]:port), port 1..65535 */
	KIND_ACTION,    /* a Postfix access(5) action: printable ASCII, one line */
};

struct conf_key {
	const char *name;
	enum conf_kind kind;
	size_t offset;
	size_t size;
	long max;       /* KIND_DURATION: the largest value in seconds (0: CONF_DURATION_MAX) */
};

#define FIELD_MAX(field, kind, max) \
	{ #field, kind, offsetof(struct osd_conf, field), sizeof(((struct osd_conf *)0)->field), max }
#define FIELD(field, kind) FIELD_MAX(field, kind, 0)

static const struct conf_key conf_keys[] = {
	FIELD(state_dir, KIND_PATH),
	FIELD(control_dir, KIND_PATH),
	FIELD(rules, KIND_PATH),
	FIELD(users_dir, KIND_PATH),
	FIELD(tls_cert, KIND_PATH),
	FIELD(tls_key, KIND_PATH),
	FIELD_MAX(relay_expire, KIND_DURATION, CONF_RELAY_EXPIRE_MAX),
	FIELD_MAX(relay_batch, KIND_MILLIS, CONF_RELAY_BATCH_MAX),
	FIELD(relay_env, KIND_RELAY_ENV),
	FIELD(relay_ipv6_prefix, KIND_V6PREFIX),
	FIELD(fleet, KIND_CHOICE),
	FIELD(redis_sentinels, KIND_STRING),
	FIELD(redis_master_name, KIND_STRING),
	FIELD(redis_server, KIND_STRING),
	FIELD(redis_user, KIND_STRING),
	FIELD(redis_password_file, KIND_PATH),
	FIELD(redis_prefix, KIND_STRING),
	FIELD(pop3_listen, KIND_LISTEN),
	FIELD(pop3s_listen, KIND_LISTEN),
	FIELD_MAX(pop3_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD_MAX(pop3_session_deadline, KIND_DURATION, CONF_SESSION_DEADLINE_MAX),
	FIELD(pop3_max_connections, KIND_COUNT),
	FIELD(pop3_max_per_ip, KIND_COUNT),
	FIELD(pop3_plaintext, KIND_BOOL),
	FIELD(pop3_loopback_plaintext, KIND_BOOL),
	FIELD(pop3_max_auth_failures, KIND_COUNT),
	FIELD(smtp_listen, KIND_LISTEN),
	FIELD(smtp_max_connections, KIND_COUNT),
	FIELD(smtp_max_per_ip, KIND_COUNT),
	FIELD_MAX(smtp_session_deadline, KIND_DURATION, CONF_SESSION_DEADLINE_MAX),
	FIELD(smtp_min_data_rate, KIND_COUNT),
	FIELD(smtp_max_errors, KIND_COUNT),
	FIELD(smtp_max_auth_failures, KIND_COUNT),
	FIELD(smtp_loopback_plaintext, KIND_BOOL),
	FIELD(smtp_process_reuse, KIND_BOOL),
	FIELD(advertise_cram_md5, KIND_BOOL),
	FIELD(received_auth_user, KIND_BOOL),
	FIELD(submission_listen, KIND_LISTEN),
	FIELD(smtps_listen, KIND_LISTEN),
	FIELD(imap_listen, KIND_LISTEN),
	FIELD(imaps_listen, KIND_LISTEN),
	FIELD_MAX(imap_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD_MAX(imap_login_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD_MAX(imap_session_deadline, KIND_DURATION, CONF_SESSION_DEADLINE_MAX),
	FIELD(imap_max_connections, KIND_COUNT),
	FIELD(imap_max_per_ip, KIND_COUNT),
	FIELD(imap_plaintext, KIND_BOOL),
	FIELD(imap_loopback_plaintext, KIND_BOOL),
	FIELD(imap_max_auth_failures, KIND_COUNT),
	FIELD_MAX(imap_max_literal, KIND_SIZE, CONF_IMAP_LITERAL_MAX),
	FIELD_MAX(imap_idle_poll, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD_MAX(imap_idle_keepalive, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD(imap_idle_inotify, KIND_BOOL),
	FIELD_MAX(maildir_tmp_max_age, KIND_DURATION, CONF_MAILDIR_TMP_AGE_MAX),
	FIELD(pop3_backend, KIND_BACKEND),
	FIELD(imap_backend, KIND_BACKEND),
	FIELD(proxy_tls, KIND_CHOICE),
	FIELD(proxy_ca_file, KIND_PATH),
	FIELD(proxy_auth, KIND_CHOICE),
	FIELD_MAX(proxy_connect_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD_MAX(proxy_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD(policy_listen, KIND_STRING),
	FIELD(policy_socket_group, KIND_STRING),
	FIELD(policy_action, KIND_ACTION),
	FIELD(policy_default_action, KIND_ACTION),
	FIELD_MAX(policy_timeout, KIND_DURATION, CONF_TIMEOUT_MAX),
	FIELD(policy_max_connections, KIND_COUNT),
	FIELD(metrics_listen, KIND_LISTEN),
	FIELD(resolver, KIND_STRING),
	FIELD(user, KIND_STRING),
	FIELD(group, KIND_STRING),
	FIELD(mail_user, KIND_STRING),
	FIELD(default_domain, KIND_STRING),
	FIELD(log, KIND_LOG),
	FIELD(log_facility, KIND_FACILITY),
	FIELD(fsync, KIND_BOOL),
	FIELD(services, KIND_SERVICES),
};

/* The words a KIND_CHOICE key takes, the default first. */
static const struct {
	const char *key;
	const char *const words[4];
} conf_choices[] = {
	{ "proxy_tls", { "none", "starttls", "implicit", NULL } },
	{ "proxy_auth", { "backend", "local", NULL } },
	{ "fleet", { "none", "redis", NULL } },
};

/* Is value one of key's words?  The list for the error message in list_r. */
static bool
known_choice(const char *key, const char *value, char *list_r, size_t listsize)
{
	size_t i, w, used = 0;

	list_r[0] = '\0';
	for (i = 0; i < sizeof(conf_choices) / sizeof(conf_choices[0]); i++) {
		if (strcmp(conf_choices[i].key, key) != 0)
			continue;
		for (w = 0; conf_choices[i].words[w] != NULL; w++) {
			if (strcmp(conf_choices[i].words[w], value) == 0)
				return true;
			used += (size_t)snprintf(list_r + used, used < listsize ? listsize - used : 0,
						 "%s%s", w > 0 ? ", " : "", conf_choices[i].words[w]);
			if (used >= listsize)
				used = listsize - 1;
		}
	}
	return false;
}

/* "host:port" or "[v6]:port" with a port 1..65535 (the host is looked up when used). */
static bool
backend_ok(const char *value)
{
	const char *colon = strrchr(value, ':');
	char *endp;
	unsigned long port;

	if (colon == NULL || colon == value)
		return false;
	if (value[0] == '[' && colon[-1] != ']')
		return false;
	if (value[0] != '[' && strchr(value, ':') != colon)
		return false;   /* a bare IPv6 address needs its brackets */
	errno = 0;
	port = strtoul(colon + 1, &endp, 10);
	return isdigit((unsigned char)colon[1]) && *endp == '\0' && errno == 0 && port >= 1 &&
	       port <= 65535;
}

/* The services osd run knows how to start (osd-<name> beside osd). */
static const char *const conf_services[] = { "watch", "pop3d", "smtpd", "queue", "imapd", "policyd",
					       "metrics" };

/* Check a space- or comma-separated service list; the first bad name in bad_r. */
static bool
known_services(const char *list, char *bad_r, size_t badsize)
{
	size_t n = 0;

	while (*list != '\0') {
		size_t len = strcspn(list, " \t,"), i;
		bool ok = false;

		for (i = 0; len > 0 && i < sizeof(conf_services) / sizeof(conf_services[0]); i++)
			ok |= strlen(conf_services[i]) == len && strncmp(list, conf_services[i], len) == 0;
		if (len > 0 && !ok) {
			snprintf(bad_r, badsize, "%.*s", (int)(len > 32 ? 32 : len), list);
			return false;
		}
		n += len > 0;
		list += len;
		list += strspn(list, " \t,");
	}
	if (n == 0) {
		snprintf(bad_r, badsize, "(none)");
		return false;
	}
	return true;
}

/* The names log_init() accepts; checked here so the error names file and line. */
static const char *const conf_facilities[] = {
	"mail", "daemon", "user", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7",
};

/* Copy s into a fixed field; -1 when it does not fit (never truncate). */
static int
set_field(char *field, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len >= size)
		return -1;
	memcpy(field, s, len + 1);
	return 0;
}

void
conf_defaults(struct osd_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	/* All literals below fit their fields; set_field cannot fail here. */
	(void)set_field(conf->state_dir, sizeof(conf->state_dir), "/var/lib/osd");
	(void)set_field(conf->control_dir, sizeof(conf->control_dir), "/etc/osd/control");
	(void)set_field(conf->rules, sizeof(conf->rules), "/etc/osd/tcp.smtp");
	/* users_dir stays empty: conf_load makes it <state_dir>/domains. */
	conf->relay_expire = CONF_DEFAULT_RELAY_EXPIRE;
	conf->relay_batch = CONF_DEFAULT_RELAY_BATCH;
	(void)set_field(conf->relay_env, sizeof(conf->relay_env), "RELAYCLIENT=\"\"");
	memcpy(conf->relay_env_value, "+RELAYCLIENT=", sizeof("+RELAYCLIENT="));
	conf->relay_env_len = sizeof("+RELAYCLIENT=");
	conf->relay_ipv6_prefix = 128;
	(void)set_field(conf->fleet, sizeof(conf->fleet), "none");
	(void)set_field(conf->redis_master_name, sizeof(conf->redis_master_name), "osd");
	(void)set_field(conf->redis_prefix, sizeof(conf->redis_prefix), "osd");
	(void)set_field(conf->pop3_listen, sizeof(conf->pop3_listen), "*:110");
	(void)set_field(conf->smtp_listen, sizeof(conf->smtp_listen), "*:25");
	(void)set_field(conf->submission_listen, sizeof(conf->submission_listen), "*:587");
	(void)set_field(conf->log, sizeof(conf->log), "stderr");
	(void)set_field(conf->log_facility, sizeof(conf->log_facility), "mail");
	conf->fsync = true;
	conf->pop3_timeout = 600;
	conf->pop3_max_connections = 200;
	conf->pop3_max_per_ip = 20;
	conf->pop3_loopback_plaintext = true;
	conf->smtp_max_connections = 200;
	conf->smtp_max_per_ip = 20;
	conf->smtp_loopback_plaintext = true;
	conf->smtp_process_reuse = true;
	conf->pop3_session_deadline = 6 * 3600;
	conf->smtp_session_deadline = 3600;
	conf->smtp_min_data_rate = 500;         /* Postfix's smtpd_min_data_rate */
	conf->smtp_max_errors = 20;             /* Postfix's smtpd_hard_error_limit */
	conf->smtp_max_auth_failures = 3;       /* as pop3d's and imapd's failed logins */
	conf->pop3_max_auth_failures = 3;
	conf->imap_max_auth_failures = 3;
	conf->imap_timeout = 30 * 60;           /* RFC 3501 section 5.4: at least 30 minutes */
	conf->imap_login_timeout = 180;         /* Dovecot's before login */
	conf->imap_session_deadline = CONF_SESSION_DEADLINE_MAX;
	conf->imap_max_connections = 200;
	conf->imap_max_per_ip = 20;
	conf->imap_loopback_plaintext = true;
	conf->imap_max_literal = 64 * 1024 * 1024;
	conf->imap_idle_poll = 30;                /* Dovecot's mailbox_idle_check_interval */
	conf->imap_idle_keepalive = 2 * 60;       /* Dovecot's imap_idle_notify_interval */
	conf->imap_idle_inotify = true;
	conf->maildir_tmp_max_age = 36 * 3600;  /* qmail's maildir(5) */
	(void)set_field(conf->proxy_tls, sizeof(conf->proxy_tls), "none");
	(void)set_field(conf->proxy_auth, sizeof(conf->proxy_auth), "backend");
	conf->proxy_connect_timeout = 10;
	conf->proxy_timeout = 30 * 60;          /* as imap_timeout: IMAP clients IDLE for 29 minutes */
	(void)set_field(conf->policy_listen, sizeof(conf->policy_listen), "127.0.0.1:10040");
	(void)set_field(conf->policy_action, sizeof(conf->policy_action), "OK");
	(void)set_field(conf->policy_default_action, sizeof(conf->policy_default_action), "DUNNO");
	conf->policy_timeout = 600;            /* beyond Postfix's smtpd_policy_service_max_idle (300 s) */
	conf->policy_max_connections = 1000;
	(void)set_field(conf->services, sizeof(conf->services), "watch");
}

int
conf_parse_duration(const char *text, long *secs_r)
{
	const char *p = text;
	long value = 0, unit = 1;

	if (text == NULL || !isdigit((unsigned char)*p)) {
		errno = EINVAL;
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		int digit = *p - '0';

		if (value > (LONG_MAX - digit) / 10) {
			errno = ERANGE;
			return -1;
		}
		value = value * 10 + digit;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (*p != '\0' && p[1] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (value > LONG_MAX / unit) {
		errno = ERANGE;
		return -1;
	}
	*secs_r = value * unit;
	return 0;
}

void
conf_format_duration(long secs, char *out, size_t size)
{
	if (secs > 0 && secs % 86400 == 0)
		snprintf(out, size, "%ldd", secs / 86400);
	else if (secs > 0 && secs % 3600 == 0)
		snprintf(out, size, "%ldh", secs / 3600);
	else if (secs > 0 && secs % 60 == 0)
		snprintf(out, size, "%ldm", secs / 60);
	else
		snprintf(out, size, "%lds", secs);
}

int
conf_parse_bool(const char *text, bool *value_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	if (text == NULL)
		goto bad;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
bad:
	errno = EINVAL;
	return -1;
}

int
conf_opensmtp_dir(const struct osd_conf *conf, char *out, size_t size)
{
	return path_join(out, size, conf->state_dir, "open-smtp");
}

int
conf_relay_cdb(const struct osd_conf *conf, char *out, size_t size)
{
	return path_join(out, size, conf->state_dir, "relay.cdb");
}

int
conf_relay_snap(const struct osd_conf *conf, char *out, size_t size)
{
	return path_join(out, size, conf->state_dir, "relay.snap");
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trim s in place (both ends) and return the new start. */
static char *
trim(char *s)
{
	size_t len;

	while (is_space(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_space(s[len - 1]))
		s[--len] = '\0';
	return s;
}

enum line_result { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_NUL, LINE_READ_ERROR };

/*
 * Read one line (without '\n') into line[CONF_LINE_MAX + 1].  A NUL byte
 * is refused rather than letting it silently cut the line short.
 */
static enum line_result
read_line(FILE *fp, char *line)
{
	size_t len = 0;
	int c;

	while ((c = getc(fp)) != EOF && c != '\n') {
		if (c == '\0')
			return LINE_NUL;
		if (len >= CONF_LINE_MAX)
			return LINE_TOO_LONG;
		line[len++] = (char)c;
	}
	line[len] = '\0';
	if (c == EOF) {
		if (ferror(fp))
			return LINE_READ_ERROR;
		if (len == 0)
			return LINE_EOF;
	}
	return LINE_OK;
}

/*
 * The folder relative paths in the file are taken from, made absolute so
 * that a daemon that later changes directory still finds them.
 */
static int
conf_base_dir(const char *path, char *out, size_t size)
{
	char dir[PATH_MAX], cwd[PATH_MAX];

	if (path_dirname(dir, sizeof(dir), path) == -1)
		return -1;
	if (dir[0] == '/')
		return path_join(out, size, "", dir);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	if (strcmp(dir, ".") == 0)
		return path_join(out, size, "", cwd);
	return path_join(out, size, cwd, dir);
}

/* Resolve a path value against base into field; -1 when too long. */
static int
set_path(char *field, size_t size, const char *base, const char *value)
{
	char joined[PATH_MAX];

	if (value[0] == '\0' || value[0] == '/')
		return set_field(field, size, value);
	/* "./state" and "." read better resolved as "state" and the folder itself. */
	while (value[0] == '.' && value[1] == '/') {
		value += 2;
		while (*value == '/')
			value++;
	}
	if (value[0] == '\0' || strcmp(value, ".") == 0)
		return set_field(field, size, base);
	if (path_join(joined, sizeof(joined), base, value) == -1)
		return -1;
	return set_field(field, size, joined);
}

static bool
known_facility(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(conf_facilities) / sizeof(conf_facilities[0]); i++)
		if (strcasecmp(name, conf_facilities[i]) == 0)
			return true;
	return false;
}

/* relay_env: encode it as tcprules would; a login that sets no RELAYCLIENT would relay nothing. */
static int
set_relay_env(struct osd_conf *conf, const char *value, char *why, size_t whysize)
{
	char reason[256];
	long len = rules_encode_env(value, conf->relay_env_value, sizeof(conf->relay_env_value),
				    reason, sizeof(reason));
	bool relayclient = false;

	if (len < 0) {
		errfmt(why, whysize, "bad variables \"%s\": %s (want VAR=\"value\",...)", value,
		       reason);
		return -1;
	}
	for (long pos = 0; pos < len; pos += (long)strlen(conf->relay_env_value + pos) + 1)
		relayclient |= strncmp(conf->relay_env_value + pos, "+RELAYCLIENT=", 13) == 0;
	if (!relayclient) {
		errfmt(why, whysize, "must set RELAYCLIENT (e.g. RELAYCLIENT=\"\",RBLSMTPD=\"\")");
		return -1;
	}
	conf->relay_env_len = (size_t)len;
	return 0;
}

/* True when s is printable ASCII only (no control character, no 8-bit octet). */
static bool
printable_line(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Apply one key = value; on error fill why and return -1. */
static int
conf_set(struct osd_conf *conf, const struct conf_key *k, const char *value,
	 const char *base, char *why, size_t whysize)
{
	char *field = (char *)conf + k->offset;
	long secs;
	bool b;

	switch (k->kind) {
	case KIND_STRING:
		break;
	case KIND_PATH:
		/* Everything hangs off these two; an empty one is surely a mistake. */
		if (value[0] == '\0' && (strcmp(k->name, "state_dir") == 0 ||
					 strcmp(k->name, "control_dir") == 0)) {
			errfmt(why, whysize, "must not be empty");
			return -1;
		}
		if (set_path(field, k->size, base, value) == -1) {
			errfmt(why, whysize, "path too long (max %zu bytes)", k->size - 1);
			return -1;
		}
		return 0;
	case KIND_DURATION:
		if (conf_parse_duration(value, &secs) == -1) {
			errfmt(why, whysize, "bad duration \"%s\" (want seconds, or a number "
				"with s, m, h or d)", value);
			return -1;
		}
		if (secs <= 0) {
			errfmt(why, whysize, "must be greater than 0");
			return -1;
		}
		/* A bound keeps every sum of a time and this duration far from overflowing. */
		if (secs > (k->max > 0 ? k->max : CONF_DURATION_MAX)) {
			char limit[32];

			conf_format_duration(k->max > 0 ? k->max : CONF_DURATION_MAX, limit,
					     sizeof(limit));
			errfmt(why, whysize, "\"%s\" is too long (at most %s)", value, limit);
			return -1;
		}
		*(long *)(void *)field = secs;  /* relay_expire, pop3_timeout */
		return 0;
	case KIND_MILLIS: {
		char *endp;
		unsigned long n, unit = 1;

		errno = 0;
		n = strtoul(value, &endp, 10);
		if (strcmp(endp, "s") == 0)
			unit = 1000;
		else if (*endp != '\0' && strcmp(endp, "ms") != 0)
			errno = EINVAL;
		if (!isdigit((unsigned char)value[0]) || errno != 0 ||
		    n > (unsigned long)k->max / unit) {
			errfmt(why, whysize, "bad duration \"%s\" (want 0 to %ld milliseconds: N, Nms "
				"or Ns)", value, k->max);
			return -1;
		}
		*(long *)(void *)field = (long)(n * unit);      /* relay_batch */
		return 0;
	}
	case KIND_COUNT: {
		char *endp;
		unsigned long n;

		errno = 0;
		n = strtoul(value, &endp, 10);
		if (!isdigit((unsigned char)value[0]) || *endp != '\0' || errno != 0 ||
		    n < 1 || n > 1000000) {
			errfmt(why, whysize, "bad number \"%s\" (want 1 to 1000000)", value);
			return -1;
		}
		*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	}
	case KIND_SIZE: {
		char *endp;
		unsigned long long n;

		errno = 0;
		n = strtoull(value, &endp, 10);
		if (*endp == 'k' || *endp == 'K' || *endp == 'M') {
			unsigned long long unit = *endp == 'M' ? 1024 * 1024 : 1024;

			n = n > ULLONG_MAX / unit ? ULLONG_MAX : n * unit;
			endp++;
		}
		if (!isdigit((unsigned char)value[0]) || *endp != '\0' || errno != 0 || n < 1 ||
		    n > (unsigned long long)k->max) {
			errfmt(why, whysize, "bad size \"%s\" (want 1 to %ld octets, k or M allowed)",
			       value, k->max);
			return -1;
		}
		*(size_t *)(void *)field = (size_t)n;    /* imap_max_literal */
		return 0;
	}
	case KIND_BOOL:
		if (conf_parse_bool(value, &b) == -1) {
			errfmt(why, whysize, "bad boolean \"%s\" (want yes or no)", value);
			return -1;
		}
		*(bool *)(void *)field = b;     /* fsync, pop3_plaintext, ... */
		return 0;
	case KIND_LISTEN: {
		char host[256], lwhy[256];
		unsigned port;

		/* Checked here, not only at bind time: osd config check and the error's line. */
		if (value[0] != '\0' &&
		    listen_parse(value, host, sizeof(host), &port, lwhy, sizeof(lwhy)) == -1) {
			errfmt(why, whysize, "%s", lwhy);
			return -1;
		}
		break;
	}
	case KIND_LOG:
		if (strcmp(value, "stderr") != 0 && strcmp(value, "syslog") != 0) {
			errfmt(why, whysize, "must be stderr or syslog, not \"%s\"", value);
			return -1;
		}
		break;
	case KIND_SERVICES: {
		char bad[40];
		if (!known_services(value, bad, sizeof bad)) {
			errfmt(why, whysize, "unknown service \"%s\" (want watch, pop3d, smtpd, "
				"queue, imapd or policyd)", bad);
			return -1;
		}
		break;
	}
	case KIND_RELAY_ENV:
		if (set_relay_env(conf, value, why, whysize) == -1)
			return -1;
		break;
	case KIND_V6PREFIX:
		if (strcmp(value, "128") != 0 && strcmp(value, "64") != 0) {
			errfmt(why, whysize, "must be 128 (the address) or 64 (its /64), not \"%s\"",
			       value);
			return -1;
		}
		*(unsigned *)(void *)field = value[0] == '1' ? 128u : 64u;
		return 0;
	case KIND_CHOICE: {
		char list[128];

		if (!known_choice(k->name, value, list, sizeof(list))) {
			errfmt(why, whysize, "must be one of %s, not \"%s\"", list, value);
			return -1;
		}
		break;
	}
	case KIND_BACKEND:
		if (value[0] != '\0' && !backend_ok(value)) {
			errfmt(why, whysize, "bad backend \"%s\" (want host:port or [IPv6]:port)",
			       value);
			return -1;
		}
		break;
	case KIND_ACTION:
		/* The answer goes out as "action=VALUE\n\n": a control character would end it early. */
		if (value[0] == '\0' || value[0] == ' ' || !printable_line(value)) {
			errfmt(why, whysize, "want one line of printable text (e.g. OK, DUNNO, "
				"\"PREPEND X-Relay-Auth: pop-before-smtp\")");
			return -1;
		}
		break;
	case KIND_FACILITY:
		if (!known_facility(value)) {
			errfmt(why, whysize, "unknown syslog facility \"%s\" (want mail, "
				"daemon, user or local0..local7)", value);
			return -1;
		}
		break;
	}
	if (set_field(field, k->size, value) == -1) {
		errfmt(why, whysize, "value too long (max %zu bytes)", k->size - 1);
		return -1;
	}
	return 0;
}

/* Parse one line already read; 0, or -1 with err filled. */
static int
conf_parse_line(struct osd_conf *conf, char *line, const char *path, unsigned long lineno,
		const char *base, char *err, size_t errsize)
{
	char why[512];
	char *eq, *key, *value;
	size_t i, vlen;

	line = trim(line);
	/* '#' starts a comment only at the start of a line, so values may hold '#'. */
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	if ((eq = strchr(line, '=')) == NULL) {
		errfmt(err, errsize, "%s:%lu: expected key = value", path, lineno);
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (key[0] == '\0') {
		errfmt(err, errsize, "%s:%lu: expected key = value", path, lineno);
		return -1;
	}
	/* A double-quoted value keeps its inner spaces; there are no escapes. */
	if (value[0] == '"') {
		vlen = strlen(value);
		if (vlen < 2 || value[vlen - 1] != '"') {
			errfmt(err, errsize, "%s:%lu: %s: unterminated quoted value", path,
				lineno, key);
			return -1;
		}
		value[vlen - 1] = '\0';
		value++;
	}
	for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
		if (strcmp(key, conf_keys[i].name) != 0)
			continue;
		/* A key given twice: the later line wins, as in most config files. */
		if (conf_set(conf, &conf_keys[i], value, base, why, sizeof(why)) == -1) {
			errfmt(err, errsize, "%s:%lu: %s: %s", path, lineno, key, why);
			return -1;
		}
		return 0;
	}
	errfmt(err, errsize, "%s:%lu: %s: unknown key", path, lineno, key);
	return -1;
}

/*
 * Every line of fp over conf, then the checks that need the whole file;
 * fp (NULL: an empty text) is closed.  path names the file in messages;
 * base is the folder relative paths are taken from.  0, or -1 with errno
 * and err.
 */
static int
conf_parse_stream(struct osd_conf *conf, FILE *fp, const char *path, const char *base, char *err,
		  size_t errsize)
{
	char line[CONF_LINE_MAX + 1];
	unsigned long lineno = 0;
	int r = 0;

	while (fp != NULL) {
		enum line_result lr = read_line(fp, line);

		if (lr == LINE_EOF)
			break;
		lineno++;
		if (lr == LINE_TOO_LONG) {
			errfmt(err, errsize, "%s:%lu: line too long (max %d bytes)", path,
				lineno, CONF_LINE_MAX);
			r = -1;
			break;
		}
		if (lr == LINE_NUL) {
			errfmt(err, errsize, "%s:%lu: NUL byte in line", path, lineno);
			r = -1;
			break;
		}
		if (lr == LINE_READ_ERROR) {
			errfmt(err, errsize, "%s:%lu: %s", path, lineno, strerror(errno));
			r = -1;
			break;
		}
		if (conf_parse_line(conf, line, path, lineno, base, err, errsize) == -1) {
			r = -1;
			break;
		}
	}
	if (fp != NULL)
		fclose(fp);
	if (r == -1) {
		/* Never ENOENT: that would read as "no config file" to cli. */
		errno = EINVAL;
		return -1;
	}

	if (conf->users_dir[0] == '\0' &&
	    path_join(conf->users_dir, sizeof(conf->users_dir), conf->state_dir, "domains") == -1) {
		errfmt(err, errsize, "%s: users_dir: <state_dir>/domains is too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Fleet mode needs somewhere to find Redis (docs/fleet.md). */
	if (strcmp(conf->fleet, "redis") == 0 && conf->redis_sentinels[0] == '\0' &&
	    conf->redis_server[0] == '\0') {
		errfmt(err, errsize, "%s: fleet = redis needs redis_sentinels or redis_server", path);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
conf_load(struct osd_conf *conf, const char *path, char *err, size_t errsize)
{
	char base[PATH_MAX];
	FILE *fp;
	int saved;

	if (set_field(conf->path, sizeof(conf->path), path) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(ENAMETOOLONG));
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		/* errno is kept: cli tells a missing default file (ENOENT) apart. */
		saved = errno;
		errfmt(err, errsize, "%s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (conf_base_dir(path, base, sizeof(base)) == -1) {
		saved = errno;
		errfmt(err, errsize, "%s: cannot tell its folder: %s", path, strerror(saved));
		fclose(fp);
		errno = saved == ENOENT ? EINVAL : saved;
		return -1;
	}
	return conf_parse_stream(conf, fp, path, base, err, errsize);
}

int
conf_parse_text(struct osd_conf *conf, const char *text, size_t len, const char *path,
		const char *base, char *err, size_t errsize)
{
	FILE *fp = NULL;

	/* A stream over the bytes, so that the text and a file are read by the same lines. */
	if (len > 0 && (fp = fmemopen((void *)text, len, "r")) == NULL) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	return conf_parse_stream(conf, fp, path, base, err, errsize);
}

int
conf_reload(const struct osd_conf *cur, struct osd_conf *n, bool *restart_r, char *err,
	    size_t errsize)
{
	conf_defaults(n);
	if (conf_load(n, cur->path, err, errsize) == -1)
		return -1;
	*restart_r = strcmp(n->pop3_listen, cur->pop3_listen) != 0 ||
		     strcmp(n->pop3s_listen, cur->pop3s_listen) != 0 ||
		     strcmp(n->smtp_listen, cur->smtp_listen) != 0 ||
		     strcmp(n->submission_listen, cur->submission_listen) != 0 ||
		     strcmp(n->smtps_listen, cur->smtps_listen) != 0 ||
		     strcmp(n->imap_listen, cur->imap_listen) != 0 ||
		     strcmp(n->imaps_listen, cur->imaps_listen) != 0 ||
		     strcmp(n->policy_listen, cur->policy_listen) != 0 ||
		     strcmp(n->policy_socket_group, cur->policy_socket_group) != 0 ||
		     strcmp(n->metrics_listen, cur->metrics_listen) != 0 ||
		     strcmp(n->user, cur->user) != 0 || strcmp(n->group, cur->group) != 0 ||
		     strcmp(n->state_dir, cur->state_dir) != 0;
	return 0;
}
