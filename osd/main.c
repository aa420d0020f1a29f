/* main.c - the osd front command: runs osd-<command> from the folder osd itself is in. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "path.h"

static const struct {
	const char *name;
	const char *what;
} commands[] = {
	{ "run", "start every service of the config, supervised" },
	{ "watch", "the watcher: open-smtp/ + rules -> relay.cdb, expiry" },
	{ "record", "record a successful login from IP" },
	{ "check", "would IP be allowed to relay now, and why" },
	{ "list", "the live relay entries: address, user, login time, expiry" },
	{ "revoke", "take the relay right of an address or a user away now" },
	{ "status", "each service's health, the relay table, the queue" },
	{ "config", "config check: validate osd.conf, the rules and control files" },
	{ "expire", "remove expired entries once and rebuild relay.cdb (cron)" },
	{ "import-open-smtp", "migrate a vpopmail open-smtp file" },
	{ "pop3d", "the POP3 server" },
	{ "imapd", "the IMAP server" },
	{ "policyd", "Postfix policy service answering from the relay state" },
	{ "metrics", "Prometheus metrics over HTTP on metrics_listen" },
	{ "checkpassword", "checkpassword for qmail-popup: vpasswd login, records the address" },
	{ "user", "manage virtual users" },
	{ "smtpd", "the SMTP server" },
	{ "queue", "the queue manager and delivery" },
	{ "qstat", "queue summary" },
	{ "qread", "list queued messages" },
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd COMMAND [-c FILE] [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].what);
	fprintf(out, "\n'osd COMMAND --help' describes each.  Every command reads -c FILE,\n"
		     "else $OSD_CONF, else /etc/osd/osd.conf.\n");
}

static int
known(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char self[PATH_MAX], prog[PATH_MAX];
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return 100;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (!known(argv[1])) {
		fprintf(stderr, "osd: %.64s: unknown command (see osd --help)\n", argv[1]);
		return 100;
	}
	/* The helpers sit beside this executable, wherever it is installed. */
	if (path_self_dir(self, sizeof(self)) == -1) {
		fprintf(stderr, "osd: %s: cannot find myself: %s\n", argv[1], strerror(errno));
		return 111;
	}
	if ((size_t)snprintf(prog, sizeof prog, "%s/osd-%s", self, argv[1]) >= sizeof prog) {
		fprintf(stderr, "osd: %s: path too long\n", argv[1]);
		return 111;
	}
	cmd = argv[1];
	argv[1] = prog;
	execv(prog, argv + 1);
	if (errno == ENOENT)
		fprintf(stderr, "osd: %s: not built in this version (%s is missing)\n", cmd, prog);
	else
		fprintf(stderr, "osd: %s: cannot run %s: %s\n", cmd, prog, strerror(errno));
	return 111;
}
