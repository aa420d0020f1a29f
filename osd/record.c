/* record.c - osd record IP: note a successful POP3/IMAP login from IP in open-smtp/. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

#include "cli.h"
#include "conf.h"
#include "metrics_attach.h"
#include "metrics.h"
#include "opensmtp.h"
#include "opensmtp_user.h"
#include "path.h"
#include "relaykey.h"
#include "runas.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd record [-c FILE] [--user NAME] IP\n"
		     "Record a successful login from IP: create or touch\n"
		     "<state_dir>/open-smtp/IP with the current time (with relay_ipv6_prefix\n"
		     "= 64, the entry of IP's /64).  --user NAME stores who logged in on the\n"
		     "entry (osd list, osd check, the smtpd log); without it the entry names\n"
		     "no one.  IPv4-mapped IPv6 addresses are recorded as IPv4; addresses\n"
		     "that are no single client's (0.0.0.0, ::, multicast, broadcast) are\n"
		     "refused.  For hooks of other POP3/IMAP servers.  Started as root, it\n"
		     "records as the config's user (else mail_user).  Exit 0 once the login\n"
		     "is on the live entry (also at the instant the entry expires), 111 when\n"
		     "it could not be recorded, 100 for bad input.\n"
		     "  -c FILE      configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --user NAME  the login name: printable, no spaces, at most 255 bytes\n"
		     "               (Dovecot's post-login hook: --user \"$USER\")\n"
		     "  -h, --help   this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL, *user = NULL;
	int opt;
	struct osd_conf conf;
	struct ipaddr addr, entry;
	struct runas ra;
	char dir[PATH_MAX], shown[64], err[PATH_MAX + 256];

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'u': user = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("record", optopt); return 100;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 100;
	}
	if (user != NULL && !opensmtp_user_valid(user)) {
		opensmtp_printable(user, shown, sizeof shown);
		cli_error("record", "--user '%s': a login name is 1 to %d printable characters "
			  "without spaces", shown, OPENSMTP_USER_MAX);
		return 100;
	}
	if (cli_parse_addr("record", argv[optind], &addr) == -1)
		return 100;
	if (!ipaddr_is_unicast(&addr)) {
		opensmtp_printable(argv[optind], shown, sizeof shown);
		cli_error("record", "'%s' is not a client's own address (unspecified, multicast "
			  "or broadcast): refusing to open relaying for it", shown);
		return 100;
	}
	cli_load_conf(&conf, conf_arg);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0) {
		cli_error("record", "state_dir path too long");
		return 111;
	}
	/*
	 * Run by root (a Dovecot post-login hook): record as the user the
	 * daemons run as.  A root-owned entry could be renamed and removed by
	 * the watcher (that takes write access to open-smtp/ only), but not
	 * touched by osd pop3d at the user's next login (that takes owning
	 * the entry).
	 */
	metrics_attach(&conf, true);      /* a hook of other servers: no noise on their stderr */
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("record", err);
	relaykey_entry_addr(&addr, conf.relay_ipv6_prefix, &entry);
	if (opensmtp_record_user(dir, &entry, user) < 0 &&
	    !(errno == ENOENT && path_mkdirs(dir, 0755) == 0 &&
	      opensmtp_record_user(dir, &entry, user) == 0)) {
		cli_error("record", "%s: %s", dir, strerror(errno));
		return 111;
	}
	metrics_inc(M_LOGIN_RECORDED_RECORD);
	return 0;
}
