/* test_conf.c - unit tests for osd.conf parsing (lib/config/conf.c) and config loading (lib/config/cli.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "conf.h"
#include "path.h"
#include "testutil.h"

struct fixture {
	char dir[PATH_MAX];
	char file[PATH_MAX];    /* dir/osd.conf */
	char err[PATH_MAX + 512];
	struct osd_conf conf;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	memcpy(f->dir, "/tmp/osd-test-conf.XXXXXX", sizeof("/tmp/osd-test-conf.XXXXXX"));
	if (mkdtemp(f->dir) == NULL ||
	    path_join(f->file, sizeof(f->file), f->dir, "osd.conf") == -1) {
		free(f);
		return -1;
	}
	conf_defaults(&f->conf);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

/* Write len bytes (NUL bytes allowed) as the config file. */
static void
write_conf_bytes(struct fixture *f, const char *text, size_t len)
{
	FILE *fp = fopen(f->file, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
write_conf(struct fixture *f, const char *text)
{
	write_conf_bytes(f, text, strlen(text));
}

/* Load text and expect failure with exactly "osd.conf:LINE: rest". */
static void
expect_error(struct fixture *f, const char *text, const char *want_suffix)
{
	char want[PATH_MAX + 512];

	write_conf(f, text);
	f->err[0] = '\0';
	errno = 0;
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_int_not_equal(errno, ENOENT);
	snprintf(want, sizeof(want), "%s:%s", f->file, want_suffix);
	assert_string_equal(f->err, want);
}

/* relay_env: tcprules variables, encoded; RELAYCLIENT required (issue 9.5). */
static void
test_conf_relay_env_default_vpopmail_and_errors(void **state)
{
	struct fixture *f = *state;
	static const char vpop[] = "+RELAYCLIENT=\0+RBLSMTPD=";

	assert_string_equal(f->conf.relay_env, "RELAYCLIENT=\"\"");
	assert_int_equal(f->conf.relay_env_len, sizeof("+RELAYCLIENT="));
	assert_memory_equal(f->conf.relay_env_value, "+RELAYCLIENT=", sizeof("+RELAYCLIENT="));
	assert_int_equal(f->conf.relay_ipv6_prefix, 128);

	write_conf(f, "relay_env = RELAYCLIENT=\"\",RBLSMTPD=\"\"\nrelay_ipv6_prefix = 64\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->conf.relay_env_len, sizeof(vpop));
	assert_memory_equal(f->conf.relay_env_value, vpop, sizeof(vpop));
	assert_int_equal(f->conf.relay_ipv6_prefix, 64);

	expect_error(f, "relay_env = RBLSMTPD=\"\"\n",
		     "1: relay_env: must set RELAYCLIENT (e.g. RELAYCLIENT=\"\",RBLSMTPD=\"\")");
	expect_error(f, "\nrelay_env = RELAYCLIENT\n",
		     "2: relay_env: bad variables \"RELAYCLIENT\": instruction without '=': "
		     "RELAYCLIENT (want VAR=\"value\",...)");
	expect_error(f, "relay_ipv6_prefix = 48\n",
		     "1: relay_ipv6_prefix: must be 128 (the address) or 64 (its /64), not \"48\"");
}

/* Proxy mode's keys (issue 12): defaults, the words they take, backend addresses. */
static void
test_conf_proxy_keys_defaults_and_errors(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(f->conf.pop3_backend, "");
	assert_string_equal(f->conf.proxy_tls, "none");
	assert_string_equal(f->conf.proxy_auth, "backend");
	assert_int_equal(f->conf.proxy_connect_timeout, 10);
	assert_int_equal(f->conf.proxy_timeout, 1800);

	write_conf(f, "pop3_backend = mail.example.net:110\nimap_backend = [2001:db8::1]:993\n"
		      "proxy_tls = implicit\nproxy_auth = local\nproxy_timeout = 1h\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.pop3_backend, "mail.example.net:110");
	assert_string_equal(f->conf.imap_backend, "[2001:db8::1]:993");
	assert_string_equal(f->conf.proxy_tls, "implicit");
	assert_string_equal(f->conf.proxy_auth, "local");
	assert_int_equal(f->conf.proxy_timeout, 3600);

	expect_error(f, "proxy_tls = yes\n",
		     "1: proxy_tls: must be one of none, starttls, implicit, not \"yes\"");
	expect_error(f, "proxy_auth = pam\n",
		     "1: proxy_auth: must be one of backend, local, not \"pam\"");
	expect_error(f, "pop3_backend = mail.example.net\n",
		     "1: pop3_backend: bad backend \"mail.example.net\" (want host:port or [IPv6]:port)");
	expect_error(f, "imap_backend = 2001:db8::1:993\n",
		     "1: imap_backend: bad backend \"2001:db8::1:993\" (want host:port or [IPv6]:port)");
	expect_error(f, "imap_backend = host:0\n",
		     "1: imap_backend: bad backend \"host:0\" (want host:port or [IPv6]:port)");
}

/* conf_reload: the new values, whether a restart is needed, and errors that keep the old ones. */
static void
test_conf_reload_says_when_a_restart_is_needed(void **state)
{
	struct fixture *f = *state;
	struct osd_conf n;
	bool restart = true;

	write_conf(f, "smtp_listen = 127.0.0.1:2525\npop3_timeout = 60\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	write_conf(f, "smtp_listen = 127.0.0.1:2525\npop3_timeout = 90\n");
	assert_int_equal(conf_reload(&f->conf, &n, &restart, f->err, sizeof(f->err)), 0);
	assert_false(restart);
	assert_int_equal(n.pop3_timeout, 90);
	write_conf(f, "smtp_listen = 127.0.0.1:2526\n");
	assert_int_equal(conf_reload(&f->conf, &n, &restart, f->err, sizeof(f->err)), 0);
	assert_true(restart);
	write_conf(f, "smtp_listen = 127.0.0.1:2525\nuser = nobody\n");
	assert_int_equal(conf_reload(&f->conf, &n, &restart, f->err, sizeof(f->err)), 0);
	assert_true(restart);
	write_conf(f, "no_such_key = 1\n");
	assert_int_equal(conf_reload(&f->conf, &n, &restart, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no_such_key"));
}

static void
test_conf_defaults_are_production_values(void **state)
{
	struct osd_conf *c = &((struct fixture *)*state)->conf;

	assert_string_equal(c->state_dir, "/var/lib/osd");
	assert_string_equal(c->control_dir, "/etc/osd/control");
	assert_string_equal(c->rules, "/etc/osd/tcp.smtp");
	assert_string_equal(c->users_dir, "");
	assert_string_equal(c->tls_cert, "");
	assert_int_equal(c->relay_expire, 10800);
	assert_string_equal(c->pop3_listen, "*:110");
	assert_string_equal(c->pop3s_listen, "");
	assert_string_equal(c->smtp_listen, "*:25");
	assert_string_equal(c->submission_listen, "*:587");
	assert_string_equal(c->smtps_listen, "");
	assert_string_equal(c->imap_listen, "");
	assert_string_equal(c->resolver, "");
	assert_string_equal(c->user, "");
	assert_string_equal(c->group, "");
	assert_string_equal(c->mail_user, "");
	assert_string_equal(c->default_domain, "");
	assert_string_equal(c->log, "stderr");
	assert_string_equal(c->log_facility, "mail");
	assert_true(c->fsync);
	assert_string_equal(c->services, "watch");
}

static void
test_conf_load_reads_every_key(void **state)
{
	struct fixture *f = *state;
	struct osd_conf *c = &f->conf;

	write_conf(f,
		   "# osd.conf for a test\n"
		   "\n"
		   "   # an indented comment\n"
		   "state_dir = /srv/osd\n"
		   "control_dir=/var/qmail/control\n"
		   "rules =/etc/tcp.smtp\n"
		   "users_dir= /srv/users\n"
		   "tls_cert = /etc/ssl/osd.pem\n"
		   "tls_key = /etc/ssl/osd.key\n"
		   "relay_expire = 90m\n"
		   "pop3_listen = 127.0.0.1:11110\n"
		   "pop3s_listen = 127.0.0.1:11995\n"
		   "smtp_listen = 127.0.0.1:2525\n"
		   "submission_listen = 127.0.0.1:2587\n"
		   "smtps_listen = [::1]:2465\n"
		   "imap_listen = 127.0.0.1:11143\n"
		   "resolver = 127.0.0.1:5353\n"
		   "user = osd\n"
		   "group = osd\n"
		   "mail_user = vpopmail\n"
		   "default_domain = example.org\n"
		   "log = syslog\n"
		   "log_facility = local3\n"
		   "fsync = no\n"
		   "services = \"watch pop3d smtpd queue\"\n");
	assert_int_equal(conf_load(c, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(c->path, f->file);
	assert_string_equal(c->state_dir, "/srv/osd");
	assert_string_equal(c->control_dir, "/var/qmail/control");
	assert_string_equal(c->rules, "/etc/tcp.smtp");
	assert_string_equal(c->users_dir, "/srv/users");
	assert_string_equal(c->tls_cert, "/etc/ssl/osd.pem");
	assert_string_equal(c->tls_key, "/etc/ssl/osd.key");
	assert_int_equal(c->relay_expire, 5400);
	assert_string_equal(c->pop3_listen, "127.0.0.1:11110");
	assert_string_equal(c->pop3s_listen, "127.0.0.1:11995");
	assert_string_equal(c->smtp_listen, "127.0.0.1:2525");
	assert_string_equal(c->submission_listen, "127.0.0.1:2587");
	assert_string_equal(c->smtps_listen, "[::1]:2465");
	assert_string_equal(c->imap_listen, "127.0.0.1:11143");
	assert_string_equal(c->resolver, "127.0.0.1:5353");
	assert_string_equal(c->user, "osd");
	assert_string_equal(c->group, "osd");
	assert_string_equal(c->mail_user, "vpopmail");
	assert_string_equal(c->default_domain, "example.org");
	assert_string_equal(c->log, "syslog");
	assert_string_equal(c->log_facility, "local3");
	assert_false(c->fsync);
	assert_string_equal(c->services, "watch pop3d smtpd queue");
}

/* A text in memory is read as the same file would be, relative paths from base, without I/O. */
static void
test_conf_parse_text_same_as_the_file(void **state)
{
	static const char text[] = "# osd\nstate_dir = state\nrelay_expire = 2h\n";
	struct fixture *f = *state;
	char bad[] = "state_dir = /s\nrelay_expire = x\0y\n";

	assert_int_equal(conf_parse_text(&f->conf, text, sizeof(text) - 1, "mem.conf", "/etc/osd",
					 f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.state_dir, "/etc/osd/state");
	assert_string_equal(f->conf.users_dir, "/etc/osd/state/domains");
	assert_int_equal(f->conf.relay_expire, 7200);
	/* An empty text keeps the defaults. */
	conf_defaults(&f->conf);
	assert_int_equal(conf_parse_text(&f->conf, "", 0, "mem.conf", "/", f->err, sizeof(f->err)), 0);
	/* The errors name the text and the line, as for a file; a NUL is refused. */
	assert_int_equal(conf_parse_text(&f->conf, "nokey\n", 6, "mem.conf", "/", f->err,
					 sizeof(f->err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(f->err, "mem.conf:1: expected key = value");
	assert_int_equal(conf_parse_text(&f->conf, bad, sizeof(bad) - 1, "mem.conf", "/", f->err,
					 sizeof(f->err)), -1);
	assert_string_equal(f->err, "mem.conf:2: NUL byte in line");
}

static void
test_conf_load_empty_file_keeps_defaults(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.state_dir, "/var/lib/osd");
	assert_int_equal(f->conf.relay_expire, CONF_DEFAULT_RELAY_EXPIRE);
}

static void
test_conf_load_users_dir_defaults_to_state_dir_domains(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "state_dir = /srv/osd\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.users_dir, "/srv/osd/domains");
}

static void
test_conf_load_values_trimmed_empty_and_quoted(void **state)
{
	struct fixture *f = *state;

	write_conf(f,
		   "pop3_listen =\n"
		   "smtp_listen =   127.0.0.1:25   \r\n"
		   "default_domain = \"  spaced.example  \"\n"
		   "mail_user = \"\"\n"
		   "resolver = 127.0.0.1:53  # not a comment here\n"
		   "\t user\t=\tnobody\t\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.pop3_listen, "");
	assert_string_equal(f->conf.smtp_listen, "127.0.0.1:25");
	assert_string_equal(f->conf.default_domain, "  spaced.example  ");
	assert_string_equal(f->conf.mail_user, "");
	/* '#' is a comment only at the start of a line. */
	assert_string_equal(f->conf.resolver, "127.0.0.1:53  # not a comment here");
	assert_string_equal(f->conf.user, "nobody");
}

static void
test_conf_load_last_line_without_newline_counts(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "user = last");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.user, "last");
}

static void
test_conf_load_later_key_wins(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "user = first\nuser = second\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.user, "second");
}

static void
test_conf_load_services_known_names_only(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "services = watch, pop3d smtpd\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.services, "watch, pop3d smtpd");

	write_conf(f, "# x\nservices = watch frobnicate\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, ":2: services: unknown service \"frobnicate\""));

	write_conf(f, "services =  , \n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "services:"));
}

static void
test_conf_load_policyd_actions_one_printable_line(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "services = watch policyd\n"
		      "policy_action = \"PREPEND X-Relay-Auth: pop-before-smtp\"\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.policy_action, "PREPEND X-Relay-Auth: pop-before-smtp");
	assert_string_equal(f->conf.policy_default_action, "DUNNO");
	assert_string_equal(f->conf.policy_listen, "127.0.0.1:10040");

	/* A control character would end "action=...\n\n" early or smuggle a second attribute. */
	write_conf(f, "policy_default_action = DUNNO\x01\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, ":1: policy_default_action: want one line"));
	write_conf(f, "policy_action = \"\"\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
}

static void
test_conf_load_relative_paths_follow_config_folder(void **state)
{
	struct fixture *f = *state;
	char want[PATH_MAX];

	write_conf(f,
		   "state_dir = state\n"
		   "control_dir = ./control\n"
		   "rules = ../rules/tcp.smtp\n"
		   "tls_cert = tls/cert.pem\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(path_join(want, sizeof(want), f->dir, "state"), 0);
	assert_string_equal(f->conf.state_dir, want);
	assert_int_equal(path_join(want, sizeof(want), f->dir, "control"), 0);
	assert_string_equal(f->conf.control_dir, want);
	assert_int_equal(path_join(want, sizeof(want), f->dir, "../rules/tcp.smtp"), 0);
	assert_string_equal(f->conf.rules, want);
	assert_int_equal(path_join(want, sizeof(want), f->dir, "tls/cert.pem"), 0);
	assert_string_equal(f->conf.tls_cert, want);
	/* users_dir follows the resolved state_dir. */
	assert_int_equal(path_join(want, sizeof(want), f->dir, "state/domains"), 0);
	assert_string_equal(f->conf.users_dir, want);
}

static void
test_conf_load_relative_config_path_gives_absolute_dirs(void **state)
{
	struct fixture *f = *state;
	char cwd[PATH_MAX], want[PATH_MAX], sub[PATH_MAX];
	FILE *fp;

	assert_int_equal(path_join(sub, sizeof(sub), f->dir, "demo"), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(path_join(want, sizeof(want), sub, "osd.conf"), 0);
	fp = fopen(want, "w");
	assert_non_null(fp);
	fputs("state_dir = state\nusers_dir = users\n", fp);
	fclose(fp);

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(conf_load(&f->conf, "demo/osd.conf", f->err, sizeof(f->err)), 0);
	assert_int_equal(chdir(cwd), 0);
	/* A daemon that changes folder later must still find its state. */
	assert_int_equal(path_join(want, sizeof(want), sub, "state"), 0);
	assert_string_equal(f->conf.state_dir, want);
	assert_int_equal(path_join(want, sizeof(want), sub, "users"), 0);
	assert_string_equal(f->conf.users_dir, want);
}

static void
test_conf_load_missing_file_fails_enoent(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	assert_int_equal(path_join(path, sizeof(path), f->dir, "absent.conf"), 0);
	errno = 0;
	assert_int_equal(conf_load(&f->conf, path, f->err, sizeof(f->err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(f->err, "absent.conf"));
}

static void
test_conf_load_unknown_key_names_file_line_key(void **state)
{
	expect_error(*state, "# c\nuser = x\nbogus_key = 1\n", "3: bogus_key: unknown key");
}

static void
test_conf_load_key_case_matters(void **state)
{
	expect_error(*state, "State_Dir = /x\n", "1: State_Dir: unknown key");
}

static void
test_conf_load_missing_equals_is_error(void **state)
{
	expect_error(*state, "user = a\nstate_dir /srv/osd\n", "2: expected key = value");
}

static void
test_conf_load_empty_key_is_error(void **state)
{
	expect_error(*state, "= value\n", "1: expected key = value");
}

static void
test_conf_load_bad_durations_are_errors(void **state)
{
	static const char *const bad[] = {
		"3x", "-1", "", "99999999999999999999h", "0", "3 h", "h", "1.5h", "3hh", "+5",
		"9223372036854775807d",
	};
	struct fixture *f = *state;
	char text[128], want[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "relay_expire = %s\n", bad[i]);
		write_conf(f, text);
		errno = 0;
		assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
		snprintf(want, sizeof(want), "%s:1: relay_expire: ", f->file);
		assert_memory_equal(f->err, want, strlen(want));
	}
	assert_int_equal(f->conf.relay_expire, CONF_DEFAULT_RELAY_EXPIRE);
}

static void
test_conf_load_zero_relay_expire_rejected(void **state)
{
	expect_error(*state, "relay_expire = 0\n", "1: relay_expire: must be greater than 0");
}

/* relay_batch: milliseconds, 0 allowed, "ms" or "s" as the unit, at most 1000 ms. */
static void
test_conf_load_relay_batch(void **state)
{
	static const struct {
		const char *text;
		long ms;
	} good[] = { { "0", 0 }, { "5", 5 }, { "20ms", 20 }, { "1s", 1000 }, { "1000", 1000 } };
	static const char *const bad[] = { "", "-1", "1001", "2s", "5m", "1.5", "ms", "5 ms", "99999999999999999999" };
	struct fixture *f = *state;
	char text[128], want[PATH_MAX + 64];
	size_t i;

	assert_int_equal(f->conf.relay_batch, CONF_DEFAULT_RELAY_BATCH);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "relay_batch = %s\n", good[i].text);
		write_conf(f, text);
		assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
		assert_int_equal(f->conf.relay_batch, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "relay_batch = %s\n", bad[i]);
		write_conf(f, text);
		assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
		snprintf(want, sizeof(want), "%s:1: relay_batch: bad duration", f->file);
		assert_memory_equal(f->err, want, strlen(want));
	}
}

/* relay_expire: 30 days is the largest accepted, in any unit; one second more is an error. */
static void
test_conf_load_relay_expire_bound(void **state)
{
	static const char *const good[] = { "30d", "720h", "43200m", "2592000s", "2592000" };
	struct fixture *f = *state;
	char text[128];
	size_t i;

	assert_int_equal(CONF_RELAY_EXPIRE_MAX, 2592000);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "relay_expire = %s\n", good[i]);
		write_conf(f, text);
		f->conf.relay_expire = 0;
		assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
		assert_int_equal(f->conf.relay_expire, CONF_RELAY_EXPIRE_MAX);
	}
	expect_error(f, "relay_expire = 2592001\n",
		     "1: relay_expire: \"2592001\" is too long (at most 30d)");
	expect_error(f, "# a comment\nrelay_expire = 31d\n",
		     "2: relay_expire: \"31d\" is too long (at most 30d)");
	expect_error(f, "relay_expire = 721h\n", "1: relay_expire: \"721h\" is too long (at most 30d)");
	/* The value of the issue: accepted before, and its sum overflowed. */
	expect_error(f, "relay_expire = 9223372036854775807\n",
		     "1: relay_expire: \"9223372036854775807\" is too long (at most 30d)");
	/* Too large for a long at all: still the file:line: key error. */
	expect_error(f, "relay_expire = 9223372036854775808\n",
		     "1: relay_expire: bad duration \"9223372036854775808\" (want seconds, or a "
		     "number with s, m, h or d)");
}

/* pop3_timeout: at most a day (its milliseconds fit an int), one second more is an error. */
static void
test_conf_load_pop3_timeout_bound(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "pop3_timeout = 1d\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->conf.pop3_timeout, 86400);
	write_conf(f, "pop3_timeout = 86400\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->conf.pop3_timeout, CONF_TIMEOUT_MAX);
	expect_error(f, "pop3_timeout = 86401\n", "1: pop3_timeout: \"86401\" is too long (at most 1d)");
	expect_error(f, "pop3_timeout = 25h\n", "1: pop3_timeout: \"25h\" is too long (at most 1d)");
}

static void
test_conf_format_duration_largest_unit(void **state)
{
	char out[32];

	(void)state;
	conf_format_duration(2592000, out, sizeof(out));
	assert_string_equal(out, "30d");
	conf_format_duration(7200, out, sizeof(out));
	assert_string_equal(out, "2h");
	conf_format_duration(5400, out, sizeof(out));
	assert_string_equal(out, "90m");
	conf_format_duration(61, out, sizeof(out));
	assert_string_equal(out, "61s");
	conf_format_duration(0, out, sizeof(out));
	assert_string_equal(out, "0s");
}

static void
test_conf_load_bad_bool_is_error(void **state)
{
	expect_error(*state, "fsync = maybe\n",
		     "1: fsync: bad boolean \"maybe\" (want yes or no)");
}

static void
test_conf_load_log_must_be_stderr_or_syslog(void **state)
{
	expect_error(*state, "log = file\n", "1: log: must be stderr or syslog, not \"file\"");
}

static void
test_conf_load_unknown_facility_is_error(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "log_facility = local9\n");
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, ":1: log_facility: unknown syslog facility"));
}

static void
test_conf_load_value_too_long_for_field(void **state)
{
	struct fixture *f = *state;
	char text[256];

	/* user holds 63 bytes. */
	snprintf(text, sizeof(text), "user = %063d\n", 0);
	write_conf(f, text);
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(strlen(f->conf.user), 63);
	snprintf(text, sizeof(text), "user = %064d\n", 0);
	expect_error(f, text, "1: user: value too long (max 63 bytes)");
}

static void
test_conf_load_path_too_long_for_field(void **state)
{
	struct fixture *f = *state;
	char text[4200];
	size_t n;

	/*
	 * The line limit keeps an absolute path within PATH_MAX; a relative
	 * one grows when joined to the config folder and must not be cut.
	 */
	n = (size_t)snprintf(text, sizeof(text), "state_dir=");
	memset(text + n, 'd', 4096 - n);
	memcpy(text + 4096, "\n", 2);
	write_conf(f, text);
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, ":1: state_dir: path too long"));
	assert_string_equal(f->conf.state_dir, "/var/lib/osd");
}

static void
test_conf_load_overlong_line_is_error(void **state)
{
	struct fixture *f = *state;
	char text[8192];
	char want[PATH_MAX + 64];

	/* A 4096-byte comment line is fine; one byte more is not. */
	text[0] = '#';
	memset(text + 1, 'c', 4095);
	text[4096] = '\n';
	memcpy(text + 4097, "user = ok\n", 11);
	write_conf(f, text);
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->conf.user, "ok");

	memcpy(text, "user = a\n#", 10);
	memset(text + 10, 'c', 5000);
	memcpy(text + 5010, "\n", 2);
	write_conf(f, text);
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	snprintf(want, sizeof(want), "%s:2: line too long (max 4096 bytes)", f->file);
	assert_string_equal(f->err, want);
}

static void
test_conf_load_nul_byte_is_error(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "user = a\nstate_dir = /srv\0/evil\n";
	char want[PATH_MAX + 64];

	write_conf_bytes(f, text, sizeof(text) - 1);
	assert_int_equal(conf_load(&f->conf, f->file, f->err, sizeof(f->err)), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", f->file);
	assert_string_equal(f->err, want);
	assert_string_equal(f->conf.state_dir, "/var/lib/osd");
}

static void
test_conf_load_unterminated_quote_is_error(void **state)
{
	expect_error(*state, "services = \"watch pop3d\n",
		     "1: services: unterminated quoted value");
}

static void
test_conf_load_empty_state_dir_is_error(void **state)
{
	expect_error(*state, "state_dir =\n", "1: state_dir: must not be empty");
}

static void
test_conf_load_error_message_cut_to_errsize(void **state)
{
	struct fixture *f = *state;
	char small[16];

	write_conf(f, "nope = 1\n");
	memset(small, 'x', sizeof(small));
	assert_int_equal(conf_load(&f->conf, f->file, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void
test_conf_parse_duration_accepts_units(void **state)
{
	static const struct {
		const char *text;
		long secs;
	} good[] = {
		{ "0", 0 }, { "1", 1 }, { "10800", 10800 }, { "45s", 45 }, { "90m", 5400 },
		{ "3h", 10800 }, { "2d", 172800 }, { "007", 7 },
		{ "9223372036854775807", 9223372036854775807L },
	};
	size_t i;
	long secs;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		secs = -42;
		assert_int_equal(conf_parse_duration(good[i].text, &secs), 0);
		assert_int_equal(secs, good[i].secs);
	}
}

static void
test_conf_parse_duration_rejects_garbage_and_overflow(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", "3x", "3 h", " 3h", "3h ", "h", "3hh", "3H", "1.5h", "0x10",
		"99999999999999999999h", "9223372036854775808", "106751991167301d",
		"153722867280912931m",
	};
	size_t i;
	long secs = -42;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_duration(bad[i], &secs), -1);
	assert_int_equal(conf_parse_duration(NULL, &secs), -1);
	/* Failure leaves the output alone. */
	assert_int_equal(secs, -42);
}

static void
test_conf_parse_bool_accepts_words_any_case(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "True", "on", "ON", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off", "Off", "0" };
	size_t i;
	bool v;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = false;
		assert_int_equal(conf_parse_bool(yes[i], &v), 0);
		assert_true(v);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		v = true;
		assert_int_equal(conf_parse_bool(no[i], &v), 0);
		assert_false(v);
	}
}

static void
test_conf_parse_bool_rejects_others(void **state)
{
	static const char *const bad[] = { "", "y", "n", "2", "yess", " yes", "enable" };
	size_t i;
	bool v = true;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_bool(bad[i], &v), -1);
	assert_true(v);
}

static void
test_conf_state_paths_join_state_dir(void **state)
{
	struct osd_conf *c = &((struct fixture *)*state)->conf;
	char out[PATH_MAX], small[10];

	assert_int_equal(conf_opensmtp_dir(c, out, sizeof(out)), 0);
	assert_string_equal(out, "/var/lib/osd/open-smtp");
	assert_int_equal(conf_relay_cdb(c, out, sizeof(out)), 0);
	assert_string_equal(out, "/var/lib/osd/relay.cdb");
	errno = 0;
	assert_int_equal(conf_relay_cdb(c, small, sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_cli_load_conf_uses_osd_conf_env(void **state)
{
	struct fixture *f = *state;
	struct osd_conf c;

	write_conf(f, "state_dir = /srv/env\n");
	assert_int_equal(setenv("OSD_CONF", f->file, 1), 0);
	cli_load_conf(&c, NULL);
	unsetenv("OSD_CONF");
	assert_string_equal(c.state_dir, "/srv/env");
	assert_string_equal(c.users_dir, "/srv/env/domains");
}

static void
test_cli_load_conf_explicit_path_wins_over_env(void **state)
{
	struct fixture *f = *state;
	struct osd_conf c;

	write_conf(f, "user = explicit\n");
	assert_int_equal(setenv("OSD_CONF", "/nonexistent/osd.conf", 1), 0);
	cli_load_conf(&c, f->file);
	unsetenv("OSD_CONF");
	assert_string_equal(c.user, "explicit");
}

static void
test_cli_load_conf_missing_default_gives_builtin_defaults(void **state)
{
	struct osd_conf c;

	(void)state;
	if (access(CONF_DEFAULT_PATH, F_OK) == 0)
		skip();
	unsetenv("OSD_CONF");
	cli_load_conf(&c, NULL);
	assert_string_equal(c.state_dir, "/var/lib/osd");
	assert_string_equal(c.users_dir, "/var/lib/osd/domains");
}

/* Run cli_load_conf(path) in a child; its exit status and stderr. */
static int
run_cli_load_conf(const char *path, char *out, size_t size)
{
	int fds[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct osd_conf c;

		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		cli_load_conf(&c, path);
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < size && (n = read(fds[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_cli_load_conf_bad_file_exits_111_with_message(void **state)
{
	struct fixture *f = *state;
	char out[1024], want[PATH_MAX + 128];

	write_conf(f, "relay_expire = 3x\n");
	assert_int_equal(run_cli_load_conf(f->file, out, sizeof(out)), 111);
	snprintf(want, sizeof(want), "osd: config: %s:1: relay_expire: bad duration", f->file);
	assert_memory_equal(out, want, strlen(want));
	assert_int_equal(out[strlen(out) - 1], '\n');
}

static void
test_cli_load_conf_missing_named_file_exits_111(void **state)
{
	struct fixture *f = *state;
	char out[1024], path[PATH_MAX];

	assert_int_equal(path_join(path, sizeof(path), f->dir, "missing.conf"), 0);
	assert_int_equal(run_cli_load_conf(path, out, sizeof(out)), 111);
	assert_memory_equal(out, "osd: config: ", 13);
	assert_non_null(strstr(out, "No such file or directory"));
}

static void
test_cli_error_prints_osd_what_why(void **state)
{
	int fds[2], saved;
	char out[256];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	errno = EPERM;
	cli_error("check", "%s: not an address", "300.1.1.1");
	assert_int_equal(errno, EPERM);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "osd: check: 300.1.1.1: not an address\n");
}

/* The session deadlines and the DATA rate (issue 16): defaults, values, and absurd ones refused. */
static void
test_conf_load_session_deadlines_and_data_rate(void **state)
{
	struct fixture *f = *state;
	struct osd_conf *c = &f->conf;

	assert_int_equal(c->smtp_session_deadline, 3600);
	assert_int_equal(c->pop3_session_deadline, 6 * 3600);
	assert_int_equal(c->smtp_min_data_rate, 500);
	write_conf(f, "smtp_session_deadline = 30m\npop3_session_deadline = 1d\n"
		   "smtp_min_data_rate = 2000\n");
	assert_int_equal(conf_load(c, f->file, f->err, sizeof(f->err)), 0);
	assert_int_equal(c->smtp_session_deadline, 1800);
	assert_int_equal(c->pop3_session_deadline, 86400);
	assert_int_equal(c->smtp_min_data_rate, 2000);
	expect_error(f, "smtp_session_deadline = 86401\n",
		     "1: smtp_session_deadline: \"86401\" is too long (at most 1d)");
	expect_error(f, "\npop3_session_deadline = 9223372036854775807\n",
		     "2: pop3_session_deadline: \"9223372036854775807\" is too long (at most 1d)");
	expect_error(f, "pop3_session_deadline = 0\n",
		     "1: pop3_session_deadline: must be greater than 0");
	expect_error(f, "smtp_min_data_rate = 0\n",
		     "1: smtp_min_data_rate: bad number \"0\" (want 1 to 1000000)");
	expect_error(f, "smtp_min_data_rate = 1000001\n",
		     "1: smtp_min_data_rate: bad number \"1000001\" (want 1 to 1000000)");
}

/* smtp_process_reuse (issue 15): on unless the file says no. */
static void
test_conf_load_smtp_process_reuse(void **state)
{
	struct fixture *f = *state;
	struct osd_conf *c = &f->conf;

	assert_true(c->smtp_process_reuse);
	write_conf(f, "smtp_process_reuse = no\n");
	assert_int_equal(conf_load(c, f->file, f->err, sizeof(f->err)), 0);
	assert_false(c->smtp_process_reuse);
	write_conf(f, "smtp_process_reuse = yes\n");
	assert_int_equal(conf_load(c, f->file, f->err, sizeof(f->err)), 0);
	assert_true(c->smtp_process_reuse);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_conf_defaults_are_production_values),
		T(test_conf_load_reads_every_key),
		T(test_conf_load_empty_file_keeps_defaults),
		T(test_conf_parse_text_same_as_the_file),
		T(test_conf_load_users_dir_defaults_to_state_dir_domains),
		T(test_conf_load_values_trimmed_empty_and_quoted),
		T(test_conf_load_last_line_without_newline_counts),
		T(test_conf_load_later_key_wins),
		T(test_conf_load_services_known_names_only),
		T(test_conf_load_policyd_actions_one_printable_line),
		T(test_conf_load_relative_paths_follow_config_folder),
		T(test_conf_load_relative_config_path_gives_absolute_dirs),
		T(test_conf_load_missing_file_fails_enoent),
		T(test_conf_load_unknown_key_names_file_line_key),
		T(test_conf_load_key_case_matters),
		T(test_conf_load_missing_equals_is_error),
		T(test_conf_load_empty_key_is_error),
		T(test_conf_load_bad_durations_are_errors),
		T(test_conf_load_zero_relay_expire_rejected),
		T(test_conf_load_relay_expire_bound),
		T(test_conf_load_relay_batch),
		T(test_conf_load_pop3_timeout_bound),
		cmocka_unit_test(test_conf_format_duration_largest_unit),
		T(test_conf_load_bad_bool_is_error),
		T(test_conf_load_log_must_be_stderr_or_syslog),
		T(test_conf_load_unknown_facility_is_error),
		T(test_conf_load_value_too_long_for_field),
		T(test_conf_load_path_too_long_for_field),
		T(test_conf_load_overlong_line_is_error),
		T(test_conf_load_nul_byte_is_error),
		T(test_conf_load_unterminated_quote_is_error),
		T(test_conf_load_empty_state_dir_is_error),
		T(test_conf_load_session_deadlines_and_data_rate),
		T(test_conf_load_smtp_process_reuse),
		T(test_conf_load_error_message_cut_to_errsize),
		cmocka_unit_test(test_conf_parse_duration_accepts_units),
		cmocka_unit_test(test_conf_parse_duration_rejects_garbage_and_overflow),
		cmocka_unit_test(test_conf_parse_bool_accepts_words_any_case),
		cmocka_unit_test(test_conf_parse_bool_rejects_others),
		T(test_conf_state_paths_join_state_dir),
		T(test_conf_reload_says_when_a_restart_is_needed),
		T(test_cli_load_conf_uses_osd_conf_env),
		T(test_cli_load_conf_explicit_path_wins_over_env),
		cmocka_unit_test(test_cli_load_conf_missing_default_gives_builtin_defaults),
		T(test_cli_load_conf_bad_file_exits_111_with_message),
		T(test_cli_load_conf_missing_named_file_exits_111),
		cmocka_unit_test(test_cli_error_prints_osd_what_why),
		cmocka_unit_test_setup_teardown(test_conf_proxy_keys_defaults_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_relay_env_default_vpopmail_and_errors, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
