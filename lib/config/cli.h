/* cli.h - what every osd command does first: -c FILE, --help, the config. */
#ifndef OSD_CLI_H
#define OSD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf.h"

struct ipaddr;

/*
 * Load the configuration named by -c FILE, else $OSD_CONF, else the
 * default path.  A missing default file is fine (built-in defaults); a
 * missing named file or any error in it prints "osd: config: ..." and
 * exits 111.
 */
void cli_load_conf(struct osd_conf *conf, const char *path);

/* Print "osd: <what>: <why>" to stderr. */
void cli_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The command line of a program whose only options are -c FILE and
 * --help (-h): returns the -c argument (NULL: the default).  --help
 * prints usage to stdout and exits 0; anything else (an unknown option,
 * an operand) is reported and exits 100.
 */
const char *cli_conf_only(int argc, char **argv, const char *command, void (*usage)(FILE *));

/*
 * The same for a program that takes exactly noperands operands after its
 * options (they are argv[optind] on): a bad option or another number of
 * operands is reported and exits bad_exit (100, or a delivery program's
 * own status).
 */
const char *cli_conf_operands(int argc, char **argv, const char *command, void (*usage)(FILE *),
			      int noperands, int bad_exit);

/*
 * An IPv4 or IPv6 address argument: 0 with *addr_r, or -1 after saying
 * "'<text>' is not an IPv4 or IPv6 address" (text made printable).
 */
int cli_parse_addr(const char *command, const char *text, struct ipaddr *addr_r);

/* Report an unknown option or a missing option argument (getopt's optopt). */
void cli_bad_option(const char *command, int optopt);

/* True when s holds a control character (below 0x20, or DEL): such an argument could smuggle a line into a protocol or a file. */
bool cli_has_control(const char *s);

#endif
