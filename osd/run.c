/* run.c - osd run: start the services of the config as children, restart crashed ones, stop all on SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "sigfd.h"
#include "path.h"

#define MAX_SERVICES 8
#define BACKOFF_MAX_S 60
#define STABLE_AFTER_S 30       /* a child that ran this long resets its back-off */
#define STOP_GRACE_S 10

struct service {
	char name[32];
	char prog[PATH_MAX];
	pid_t pid;
	int failures;
	double started;         /* monotonic seconds */
	double restart_at;      /* monotonic seconds; 0 = not waiting */
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd run [-c FILE]\n"
		     "Start every service named in the config's 'services' key (default:\n"
		     "watch) as a child, restart a child that dies (back-off 1 s doubling\n"
		     "to %d s), forward SIGHUP, and stop them all on SIGTERM or SIGINT.\n",
		BACKOFF_MAX_S);
}

static void
start(struct service *s, const char *conf_path, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_warn("%s: fork", s->name);
		s->restart_at = mono() + 1;
		return;
	}
	if (pid == 0) {
		char *argv[4] = { s->prog, NULL, NULL, NULL };
		if (conf_path[0] != '\0') {
			argv[1] = (char *)"-c";
			argv[2] = (char *)conf_path;
		}
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		execv(s->prog, argv);
		fprintf(stderr, "osd: run: cannot start %s: %s\n", s->prog, strerror(errno));
		_exit(111);
	}
	s->pid = pid;
	s->started = mono();
	s->restart_at = 0;
	log_info("%s: started, pid %ld", s->name, (long)pid);
}

static int
parse_services(const char *list, const char *selfdir, struct service *svc)
{
	char copy[sizeof(((struct osd_conf *)0)->services)];
	char *save = NULL;
	int n = 0;

	snprintf(copy, sizeof copy, "%s", list);
	for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		/* conf_load has checked the names. */
		if (n == MAX_SERVICES)
			fatalx("config: services: more than %d", MAX_SERVICES);
		memset(&svc[n], 0, sizeof svc[n]);
		snprintf(svc[n].name, sizeof svc[n].name, "%s", tok);
		if ((size_t)snprintf(svc[n].prog, sizeof svc[n].prog, "%s/osd-%s", selfdir, tok) >=
		    sizeof svc[n].prog)
			fatalx("path too long");
		if (access(svc[n].prog, X_OK) < 0)
			fatal("service %s: %s", tok, svc[n].prog);
		n++;
	}
	if (n == 0)
		fatalx("config: services: nothing to run");
	return n;
}

static void
reap(struct service *svc, int n, bool stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < n; i++) {
			struct service *s = &svc[i];
			double ran, delay;

			if (s->pid != pid)
				continue;
			s->pid = 0;
			ran = mono() - s->started;
			if (WIFSIGNALED(status))
				log_warnx("%s: killed by signal %d after %.1f s", s->name,
					  WTERMSIG(status), ran);
			else
				log_warnx("%s: exited with status %d after %.1f s", s->name,
					  WEXITSTATUS(status), ran);
			if (stopping)
				break;
			if (ran >= STABLE_AFTER_S)
				s->failures = 0;
			delay = 1 << (s->failures < 6 ? s->failures : 6);
			if (delay > BACKOFF_MAX_S)
				delay = BACKOFF_MAX_S;
			s->failures++;
			s->restart_at = mono() + delay;
			log_info("%s: restarting in %.0f s", s->name, delay);
		}
	}
}

static void
stop_all(struct service *svc, int n)
{
	double deadline = mono() + STOP_GRACE_S;
	bool any;

	for (int i = 0; i < n; i++)
		if (svc[i].pid > 0)
			kill(svc[i].pid, SIGTERM);
	do {
		reap(svc, n, true);
		any = false;
		for (int i = 0; i < n; i++)
			any |= svc[i].pid > 0;
		if (any)
			usleep(20000);
	} while (any && mono() < deadline);
	for (int i = 0; i < n; i++)
		if (svc[i].pid > 0) {
			log_warnx("%s: did not stop in %d s: killing it", svc[i].name, STOP_GRACE_S);
			kill(svc[i].pid, SIGKILL);
			waitpid(svc[i].pid, NULL, 0);
		}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL;
	struct service svc[MAX_SERVICES];
	struct osd_conf conf;
	char selfdir[PATH_MAX];
	static const int run_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	sigset_t oldmask;
	int opt, n, sigfd;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("run", optopt); return 100;
		}
	}
	cli_load_conf(&conf, conf_arg);
	if (log_init("osd-run", strcmp(conf.log, "syslog") == 0, conf.log_facility) < 0)
		fatalx("config: unknown log_facility %s", conf.log_facility);
	if (path_self_dir(selfdir, sizeof(selfdir)) == -1)
		fatal("readlink /proc/self/exe");
	n = parse_services(conf.services, selfdir, svc);

	sigfd = sigfd_open(run_sigs, sizeof(run_sigs) / sizeof(run_sigs[0]), &oldmask);

	for (int i = 0; i < n; i++)
		start(&svc[i], conf.path, &oldmask);
	log_info("running %d service(s) from %s", n, conf.path[0] ? conf.path : "built-in defaults");

	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		double now = mono(), next = 0;
		int timeout = -1;

		for (int i = 0; i < n; i++)
			if (svc[i].restart_at > 0 && (next == 0 || svc[i].restart_at < next))
				next = svc[i].restart_at;
		if (next > 0)
			timeout = next <= now ? 0 : (int)((next - now) * 1000) + 1;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			fatal("poll");
		while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGCHLD) {
				reap(svc, n, false);
			} else if (si.ssi_signo == SIGHUP) {
				log_info("SIGHUP: passing it on");
				for (int i = 0; i < n; i++)
					if (svc[i].pid > 0)
						kill(svc[i].pid, SIGHUP);
			} else {
				log_info("stopping");
				stop_all(svc, n);
				return 0;
			}
		}
		now = mono();
		for (int i = 0; i < n; i++)
			if (svc[i].pid == 0 && svc[i].restart_at > 0 && svc[i].restart_at <= now)
				start(&svc[i], conf.path, &oldmask);
	}
}
