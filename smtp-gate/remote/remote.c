/* remote.c - osd-remote: the command line, single shot or --worker (docs/delivery.md). */
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "control.h"
#include "log.h"
#include "remote_int.h"
#include "timecalc.h"
#include "tls.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd-remote [-c FILE] DOMAIN SENDER RECIPIENT...\n"
		     "       osd-remote [-c FILE] --worker\n"
		     "Deliver the message on standard input (queue form: LF line endings, no\n"
		     "dot-stuffing) to up to %d recipients of DOMAIN in one SMTP transaction:\n"
		     "control/smtproutes, else the MX records of DOMAIN; STARTTLS, SIZE and\n"
		     "PIPELINING when offered.  Prints one verdict line per recipient (r, h, s)\n"
		     "and one for the message (K, Z, D); exit 0 with a verdict, 111 without,\n"
		     "100 for bad arguments.\n"
		     "  -c FILE   configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --worker  read requests from standard input instead, one per line:\n"
		     "            PATH, BODY_OFFSET, DOMAIN, SENDER, RECIPIENT... separated by\n"
		     "            TAB; a verdict for each, connections kept for the next\n"
		     "            message to the same domain\n",
		DELIVERY_RCPTS_MAX);
}

/* A timeout control file in milliseconds (seconds in the file; bad or out of range: the default). */
static int
timeout_ms(const char *dir, const char *name, unsigned long def)
{
	unsigned long secs;
	char err[512];

	if (control_read_seconds(dir, name, def, 1, CONTROL_TIMEOUT_MAX, &secs, err,
				 sizeof(err)) == -1)
		log_warnx("%s", err);
	return time_secs_to_ms((long long)secs);
}

/* The name for EHLO: control/helohost, else control/me, else the host name. */
static void
helo_name(const char *dir, char *out, size_t size)
{
	if (control_read_line(dir, "helohost", "", out, size) == 0 && out[0] != '\0')
		return;
	control_me(dir, out, size);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "worker", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	static struct remote remote;
	struct remote *rm = &remote;
	const char *conf_arg = NULL;
	char err[512];
	size_t len = 0;
	int opt, status = 0;

	opterr = 0;
	/* '+': options only before DOMAIN; a recipient may start with '-'. */
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'w': rm->worker = true; break;
		default: cli_bad_option("remote", optopt); return 100;
		}
	}
	if (rm->worker ? argc != optind :
	    argc - optind < 3 || argc - optind - 2 > DELIVERY_RCPTS_MAX) {
		usage(stderr);
		return 100;
	}
	if (!rm->worker) {
		len = strlen(argv[optind]);
		if (len == 0 || len > MX_HOST_MAX || cli_has_control(argv[optind])) {
			cli_error("remote", "bad domain");
			return 100;
		}
		for (int i = optind + 1; i < argc; i++) {
			if (cli_has_control(argv[i]) || strlen(argv[i]) > 1000) {
				cli_error("remote", "bad address argument %d", i - optind);
				return 100;
			}
		}
		for (size_t i = 0; i <= len; i++)
			rm->domain[i] = (char)tolower((unsigned char)argv[optind][i]);
		/* qmail's double-bounce sender goes out as the null sender. */
		rm->sender = strcmp(argv[optind + 1], "#@[]") == 0 ? "" : argv[optind + 1];
		rm->rcpts = (const char *const *)(argv + optind + 2);
		rm->nrcpts = (size_t)(argc - optind - 2);
		rm->msg_fd = STDIN_FILENO;
	}

	cli_load_conf(&rm->conf, conf_arg);
	/* Warnings (a bad timeout file) go where osd queue's go. */
	(void)log_init("osd-remote", strcmp(rm->conf.log, "syslog") == 0, rm->conf.log_facility);
	/* A server that closes while we write must give a verdict, not kill us (TLS writes use write(2)). */
	signal(SIGPIPE, SIG_IGN);
	rm->connect_ms = timeout_ms(rm->conf.control_dir, "timeoutconnect", 60);
	rm->remote_ms = timeout_ms(rm->conf.control_dir, "timeoutremote", 1200);
	helo_name(rm->conf.control_dir, rm->helo, sizeof(rm->helo));
	if (rm->worker) {
		status = remote_worker(rm);
	} else {
		if (msg_measure(rm, err, sizeof(err)) == -1)
			remote_fail_all(rm, false, err);
		else
			remote_deliver(rm);
		/* Every path of a transaction closes in single-shot mode; this only makes sure. */
		remote_conn_close(&rm->conn);
		if (print_verdicts(rm) == -1)
			status = 111;
	}
	tls_client_free(rm->tls);
	return status;
}
