/* main.c - the osd front command: runs osd-<command> from beside itself, else from the libexec folder. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "osd_paths.h"   /* OSD_SBINDIR, OSD_LIBEXECDIR: meson's install layout */
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

/*
 * The folders osd-<command> is looked for in, in order: beside osd (the
 * build tree, and any install that keeps the programs together), then
 * the installed helper folder.  When this osd runs from a staged tree
 * (DESTDIR/usr/sbin/osd after "meson install --destdir DESTDIR"), the
 * helper folder is looked for under the same DESTDIR first, so a staged
 * or unpacked tree runs its own helpers, never those of another install.
 * Returns how many folders were put in dirs.
 */
static int
helper_dirs(const char *self, char dirs[3][PATH_MAX])
{
	size_t slen = strlen(self), blen = strlen(OSD_SBINDIR);
	int n = 0;

	if (path_fmt(dirs[n], PATH_MAX, "%s", self) == 0)
		n++;
	if (slen > blen && strcmp(self + slen - blen, OSD_SBINDIR) == 0 &&
	    path_fmt(dirs[n], PATH_MAX, "%.*s%s", (int)(slen - blen), self, OSD_LIBEXECDIR) == 0)
		n++;
	if (path_fmt(dirs[n], PATH_MAX, "%s", OSD_LIBEXECDIR) == 0)
		n++;
	return n;
}

int
main(int argc, char **argv)
{
	char self[PATH_MAX], prog[PATH_MAX], dirs[3][PATH_MAX];
	const char *cmd;
	int ndirs, i;

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
	if (path_self_dir(self, sizeof(self)) == -1) {
		fprintf(stderr, "osd: %s: cannot find myself: %s\n", argv[1], strerror(errno));
		return 111;
	}
	cmd = argv[1];
	ndirs = helper_dirs(self, dirs);
	for (i = 0; i < ndirs; i++) {
		if (path_fmt(prog, sizeof prog, "%s/osd-%s", dirs[i], cmd) == -1)
			continue;
		argv[1] = prog;
		execv(prog, argv + 1);
		if (errno != ENOENT) {
			fprintf(stderr, "osd: %s: cannot run %s: %s\n", cmd, prog, strerror(errno));
			return 111;
		}
	}
	fprintf(stderr, "osd: %s: not built in this version (no osd-%s in %s or %s)\n", cmd, cmd,
		self, OSD_LIBEXECDIR);
	return 111;
}
