/* cli.c - what every osd command does first: find and load the config, report errors. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ascii.h"
#include "ipaddr.h"
#include "path.h"

void
cli_load_conf(struct osd_conf *conf, const char *path)
{
	char err[PATH_MAX + 512];
	bool is_default = false;
	const char *env;

	if (path == NULL) {
		env = getenv("OSD_CONF");
		if (env != NULL && env[0] != '\0') {
			path = env;
		} else {
			path = CONF_DEFAULT_PATH;
			is_default = true;
		}
	}

	conf_defaults(conf);
	if (conf_load(conf, path, err, sizeof(err)) == 0)
		return;

	/* No /etc/osd/osd.conf at all: run on the built-in defaults. */
	if (is_default && errno == ENOENT) {
		conf_defaults(conf);
		if (path_join(conf->users_dir, sizeof(conf->users_dir), conf->state_dir,
			      "domains") == -1) {
			cli_error("config", "users_dir: path too long");
			exit(111);
		}
		return;
	}
	cli_error("config", "%s", err);
	exit(111);
}

void
cli_error(const char *what, const char *fmt, ...)
{
	char why[4096];
	char line[4096 + 256];
	int saved = errno, n;
	va_list ap;

	va_start(ap, fmt);
	/* A cut message is still better than none. */
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	n = snprintf(line, sizeof(line), "osd: %s: %s\n", what != NULL ? what : "error", why);
	if (n > 0) {
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		/* One write so that the line is not interleaved with another process's. */
		(void)!write(STDERR_FILENO, line, (size_t)n);
	}
	errno = saved;
}

void
cli_bad_option(const char *command, int opt)
{
	if (opt >= 0x21 && opt < 0x7f)
		cli_error(command, "unknown option -%c, or it lacks its argument (see osd %s --help)",
			  opt, command);
	else
		cli_error(command, "unknown option (see osd %s --help)", command);
}

bool
cli_has_control(const char *s)
{
	return ascii_has_ctl(s, strlen(s));
}

const char *
cli_conf_only(int argc, char **argv, const char *command, void (*usage)(FILE *))
{
	return cli_conf_operands(argc, argv, command, usage, 0, 100);
}

const char *
cli_conf_operands(int argc, char **argv, const char *command, void (*usage)(FILE *),
		  int noperands, int bad_exit)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: cli_bad_option(command, optopt); exit(bad_exit);
		}
	}
	if (argc - optind != noperands) {
		usage(stderr);
		exit(bad_exit);
	}
	return conf_arg;
}

int
cli_parse_addr(const char *command, const char *text, struct ipaddr *addr_r)
{
	char shown[64];

	if (ipaddr_parse(text, addr_r) >= 0)
		return 0;
	/* As opensmtp_printable shows a name: the argument may hold anything. */
	(void)ascii_sanitize(shown, sizeof shown, text, strlen(text), ASCII_KEEP_PRINTABLE, '?');
	cli_error(command, "'%s' is not an IPv4 or IPv6 address", shown);
	return -1;
}
