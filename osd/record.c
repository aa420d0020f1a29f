/* record.c - osd record IP: note a successful POP3/IMAP login from IP in open-smtp/. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

#include "cli.h"
#include "conf.h"
#include "opensmtp.h"
#include "path.h"
#include "relaykey.h"
#include "runas.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd record [-c FILE] IP\n"
		     "Record a successful login from IP: create or touch\n"
		     "<state_dir>/open-smtp/IP with the current time (with relay_ipv6_prefix\n"
		     "= 64, the entry of IP's /64).  IPv4-mapped IPv6 addresses are recorded\n"
		     "as IPv4; addresses that are no single client's (0.0.0.0, ::, multicast,\n"
		     "broadcast) are refused.  For hooks of other POP3/IMAP servers.\n"
		     "Started as root, it records as the config's user (else mail_user).\n"
		     "Exit 0 once the login is on the live entry (also at the instant the\n"
		     "entry expires), 111 when it could not be recorded, 100 for bad input.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n");
}

int
main(int argc, char **argv)
{
	const char *conf_arg = NULL;
	struct osd_conf conf;
	struct ipaddr addr, entry;
	struct runas ra;
	char dir[PATH_MAX], shown[64], err[PATH_MAX + 256];

	conf_arg = cli_conf_operands(argc, argv, "record", usage, 1, 100);
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
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("record", err);
	relaykey_entry_addr(&addr, conf.relay_ipv6_prefix, &entry);
	if (opensmtp_record(dir, &entry) < 0) {
		if (errno == ENOENT && path_mkdirs(dir, 0755) == 0 && opensmtp_record(dir, &entry) == 0)
			return 0;
		cli_error("record", "%s: %s", dir, strerror(errno));
		return 111;
	}
	return 0;
}
