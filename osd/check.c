/* check.c - osd check IP: would IP be allowed to relay now, by which rule, until when. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "opensmtp.h"
#include "relaycheck.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd check [-c FILE] IP\n"
		     "Print the relay decision smtp-gate makes for a client at IP: the\n"
		     "rule (static from the rules file, or the client's own login entry\n"
		     "in relay.cdb), its environment and, for a POP-before-SMTP entry,\n"
		     "who logged in last (user:, \"-\" when not known), when, and the\n"
		     "seconds left.  Exit 0 if IP may relay, 1 if not.\n");
}

static void
print_time(const char *label, time_t t)
{
	struct tm tm;
	char text[32];

	/* An mtime set near the end of time has no calendar date: say so, do not print garbage. */
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(text, sizeof text, "@%lld", (long long)t);
	printf("%s: %s\n", label, text);
}

int
main(int argc, char **argv)
{
	const char *conf_arg = NULL;
	struct osd_conf conf;
	struct relay_decision d;
	struct relay_state st;
	struct rules_file rules;
	struct ipaddr addr;
	char dir[PATH_MAX], cdb[PATH_MAX], text[IPADDR_TEXT_MAX], err[PATH_MAX + 256];
	int dirfd;

	conf_arg = cli_conf_operands(argc, argv, "check", usage, 1, 100);
	if (cli_parse_addr("check", argv[optind], &addr) == -1)
		return 100;
	cli_load_conf(&conf, conf_arg);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0 ||
	    conf_relay_cdb(&conf, cdb, sizeof cdb) < 0) {
		cli_error("check", "state_dir path too long");
		return 111;
	}
	rules_file_init(&rules);
	if (rules_file_refresh(&rules, conf.rules, err, sizeof err) < 0) {
		cli_error("check", "rules: %s", err);
		return 111;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	st = (struct relay_state){ .cdb_path = cdb, .statics = &rules.rules, .opensmtp_dirfd = dirfd,
				   .relay_expire = conf.relay_expire,
				   .ipv6_prefix = conf.relay_ipv6_prefix };
	if (relay_decide(&st, &addr, &d) < 0) {
		cli_error("check", "%s: %s", cdb, strerror(errno));
		return 111;
	}
	ipaddr_format(&addr, text);
	printf("address: %s\n", text);
	printf("decision: %s\n", !d.connect ? "deny" : d.relay ? "relay" : "no-relay");
	if (!d.rule.matched)
		printf("rule: none\n");
	else if (d.rule.key[0] == '\0')
		printf("rule: default\n");
	else
		printf("rule: %s\n", d.rule.key);
	printf("source: %s\n", !d.rule.matched ? "none" : d.dynamic ? "dynamic" : "static");
	printf("connection: %s\n", d.connect ? "allow" : "deny");
	for (size_t i = 0; i < d.rule.env_count; i++)
		printf("env: %s=\"%s\"\n", d.rule.env[i].name, d.rule.env[i].value);
	if (d.dynamic || d.stale) {
		time_t now = time(NULL);
		printf("user: %s\n", d.user[0] != '\0' ? d.user : "-");
		print_time("login", d.login.tv_sec);
		print_time("expires", d.expires);
		if (d.stale)
			printf("expires_in: 0 (expired %lld s ago; relay.cdb not yet rebuilt: is osd watch running?)\n",
			       (long long)(now - d.expires));
		else
			printf("expires_in: %lld\n", (long long)(d.expires - now));
	} else if (d.orphan) {
		printf("note: relay.cdb still has a login record for this address, but its open-smtp "
		       "entry is gone (revoked or expired): it does not count\n");
	}
	if (dirfd >= 0)
		close(dirfd);
	rules_file_free(&rules);
	return d.connect && d.relay ? 0 : 1;
}
