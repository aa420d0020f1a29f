/* checkpassword.c - osd checkpassword: a checkpassword-compatible login for qmail-popup against vpasswd that records TCPREMOTEIP for POP-before-SMTP, then runs the next program as vchkpw does. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ascii.h"
#include "checkpw_input.h"
#include "checkpw_login.h"
#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "ipaddr.h"
#include "log.h"
#include "loginrecord.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "runas.h"
#include "userdb.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: osd checkpassword [-c FILE] PROG [ARGS...]\n"
		"\n"
		"A checkpassword-compatible login (cr.yp.to/checkpwd/interface.html) for\n"
		"qmail-popup, against osd's vpasswd users, that opens POP-before-SMTP\n"
		"relaying for the client as vpopmail's vchkpw does:\n"
		"\n"
		"  tcpserver 0 110 qmail-popup pop.example.org \\\n"
		"      osd checkpassword qmail-pop3d Maildir\n"
		"\n"
		"INPUT  Descriptor 3 is read through end of file and closed: at most 512\n"
		"  bytes, the login name, the password and qmail-popup's timestamp, each\n"
		"  ended by \\0 (the timestamp's may be missing; more data is ignored).\n"
		"\n"
		"LOGIN  Root is dropped first, to the config's user (else mail_user), as\n"
		"  the osd daemons do; with neither set, as root, it refuses (111).  The\n"
		"  login is a POP3 login against <users_dir>/DOMAIN/vpasswd (a bare name\n"
		"  is in default_domain; the vpasswd flag NO_POP refuses it).  A password\n"
		"  of 32 hex digits that is not the password is also taken, as vchkpw\n"
		"  takes it, as an APOP digest of the timestamp and the cleartext vpasswd\n"
		"  field (qmail-popup's APOP command hands the digest over that way).\n"
		"\n"
		"SUCCESS  It changes to the user's home (the vpasswd home field); sets\n"
		"  USER (the name without its domain), HOME (that home), SHELL=NOLOGIN\n"
		"  and VPOPUSER (the login name as given); records $TCPREMOTEIP (set by\n"
		"  tcpserver) in <state_dir>/open-smtp/, unless the user has the vpasswd\n"
		"  flag NO_RELAY or the address is no single client's (0.0.0.0,\n"
		"  multicast, ...); and runs PROG with ARGS in its place (PATH searched).\n"
		"\n"
		"FAILURES  wait for nothing, as with vchkpw: the delay osd pop3d adds is\n"
		"  counted in that server's memory, which a program started per login\n"
		"  cannot reach; qmail-popup ends the connection after one failure and\n"
		"  tcpserver -c bounds the connections at once.\n"
		"\n"
		"LOG  One line per login on stderr (or syslog, as `log' says), e.g.\n"
		"  osd-checkpassword[PID]: info: login: addr=192.0.2.7 user=bob@example.org recorded\n"
		"  The password is never logged.\n"
		"\n"
		"EXIT STATUS (the checkpassword interface)  PROG's own on success;\n"
		"  1 the login is refused; 2 misuse (no PROG, descriptor 3 not open, more\n"
		"  than 512 bytes, no \\0 after the login name or the password); 111 a\n"
		"  temporary error (the config, vpasswd or the home unreadable, root\n"
		"  without a user, PROG cannot be run).\n"
		"\n"
		"-c FILE, else $OSD_CONF, else " CONF_DEFAULT_PATH ".\n"
		"See docs/integrations.md, \"qmail\".\n");
}

/* The command line: -c FILE and --help before PROG (getopt stops at PROG: "+"). */
static const char *
options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: cli_bad_option("checkpassword", optopt); exit(CHECKPW_EXIT_MISUSE);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		exit(CHECKPW_EXIT_MISUSE);
	}
	return conf_arg;
}

/* The client, from tcpserver's TCPREMOTEIP. */
struct client {
	char text[IPADDR_TEXT_MAX + 16];        /* for the log line */
	struct ipaddr addr;
	const char *unrecordable;               /* why a login cannot be recorded; NULL: it can */
};

static void
client_from_env(struct client *c)
{
	const char *ip = getenv("TCPREMOTEIP");

	c->unrecordable = NULL;
	if (ip == NULL || ip[0] == '\0') {
		snprintf(c->text, sizeof(c->text), "-");
		c->unrecordable = "no TCPREMOTEIP";
		return;
	}
	(void)ascii_sanitize(c->text, sizeof(c->text), ip, strlen(ip), ASCII_KEEP_PRINTABLE, '?');
	if (ipaddr_parse(ip, &c->addr) == -1)
		c->unrecordable = "TCPREMOTEIP is not an IPv4 or IPv6 address";
	else if (!ipaddr_is_unicast(&c->addr))
		c->unrecordable = "not a client's own address";
}

/* The login name made fit for one log field: printable, no spaces. */
static void
shown_user(const char *login, char *out, size_t size)
{
	char *p;

	(void)ascii_sanitize(out, size, login, strlen(login), ASCII_KEEP_PRINTABLE, '?');
	for (p = out; *p != '\0'; p++)
		if (*p == ' ')
			*p = '?';
	if (out[0] == '\0')
		snprintf(out, size, "-");
}

/* Root with no user to become: the next program would run as root, which vchkpw never does. */
static void
refuse_root(const struct osd_conf *conf)
{
	if (geteuid() == 0 && runas_user(conf)[0] == '\0') {
		log_errx("running as root with neither user nor mail_user set in %s: "
			 "refusing to run the mail program as root", conf->path);
		exit(CHECKPW_EXIT_TEMP);
	}
}

/* vchkpw's environment for the next program (USER, HOME, SHELL, VPOPUSER). */
static int
set_env(const struct osd_conf *conf, const char *login, const char *home)
{
	struct userdb_name name;
	char err[256];

	/* The login passed: its name splits. */
	if (userdb_split_login(login, conf->default_domain, &name, err, sizeof(err)) == -1) {
		log_errx("%s", err);
		return -1;
	}
	if (setenv("USER", name.user, 1) == -1 || setenv("HOME", home, 1) == -1 ||
	    setenv("SHELL", "NOLOGIN", 1) == -1 || setenv("VPOPUSER", login, 1) == -1) {
		log_err("setenv");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char buf[CHECKPW_INPUT_MAX + 1], user[CHECKPW_INPUT_MAX + 1], dir[PATH_MAX], err[512];
	struct checkpw_input in;
	enum checkpw_input_result ir;
	struct osd_conf conf;
	struct client client;
	struct login_db db;
	const char *conf_arg;
	char *home = NULL;
	bool no_relay = false;
	size_t len = 0;
	int r, dirfd, read_errno;

	conf_arg = options(argc, argv);
	/* Descriptor 3 first, and closed at once: the next program must not inherit it. */
	ir = checkpw_input_read(3, buf, &len);
	read_errno = errno;
	cli_load_conf(&conf, conf_arg);
	daemon_log_init(&conf, "checkpassword");
	metrics_attach(&conf, false);           /* before root is dropped: it may create the file */
	if (ir == CHECKPW_INPUT_OK)
		ir = checkpw_input_parse(buf, len, &in);
	if (ir != CHECKPW_INPUT_OK) {
		explicit_bzero(buf, sizeof(buf));
		if (ir == CHECKPW_INPUT_READ_ERROR) {
			errno = read_errno;
			log_warn("%s", checkpw_input_why(ir));
		} else {
			log_warnx("misuse: %s", checkpw_input_why(ir));
		}
		return checkpw_input_exit(ir);
	}
	shown_user(in.login, user, sizeof(user));
	client_from_env(&client);
	refuse_root(&conf);
	/* As osd pop3d: drop root, open-smtp/ handed to the user first (fatal: 111). */
	dirfd = daemon_drop_recording(&conf, "checkpassword", dir, sizeof(dir));

	db = (struct login_db){ .users_dir = conf.users_dir, .default_domain = conf.default_domain };
	r = checkpw_login(&db, &in, &home, &no_relay, err, sizeof(err));
	/* The password is needed no more (the login name is, for the record and VPOPUSER). */
	explicit_bzero(buf + (in.password - buf), strlen(in.password));
	metrics_inc(r == LOGIN_OK ? M_LOGIN_CHECKPW_OK : M_LOGIN_CHECKPW_FAILED);
	if (r != LOGIN_OK) {
		if (r == LOGIN_TEMPFAIL) {
			log_warnx("login: addr=%s user=%s: %s", client.text, user, err);
			return CHECKPW_EXIT_TEMP;
		}
		log_info("login failed: addr=%s user=%s: %s", client.text, user, err);
		return CHECKPW_EXIT_BAD;
	}

	/*
	 * As vchkpw: into the home, where qmail-pop3d finds "Maildir", with
	 * its environment; before the record, so that a home that is not
	 * there opens no relaying.
	 */
	if (chdir(home) == -1) {
		log_warn("login: addr=%s user=%s: home %s", client.text, user, home);
		r = LOGIN_TEMPFAIL;
	} else if (set_env(&conf, in.login, home) == -1) {
		r = LOGIN_TEMPFAIL;
	}
	free(home);
	if (r != LOGIN_OK)
		return CHECKPW_EXIT_TEMP;
	if (no_relay) {
		log_info("login: addr=%s user=%s (no-relay: not recorded)", client.text, user);
	} else if (client.unrecordable != NULL) {
		log_warnx("login: addr=%s user=%s (%s: not recorded)", client.text, user,
			  client.unrecordable);
	} else {
		struct login_record_dir rd = { .path = dir, .fd = dirfd,
					       .ipv6_prefix = conf.relay_ipv6_prefix };

		/* A failure is logged by login_record itself; the login goes on (as pop3d). */
		if (login_record(&rd, &client.addr, client.text, in.login) == 0) {
			metrics_inc(M_LOGIN_RECORDED_CHECKPW);
			log_info("login: addr=%s user=%s recorded", client.text, user);
		}
	}
	close(dirfd);
	explicit_bzero(buf, sizeof(buf));
	execvp(argv[optind], argv + optind);
	log_warn("cannot run %s", argv[optind]);
	return CHECKPW_EXIT_TEMP;
}
