/* run.c - osd run: start the services of the config as children, restart crashed ones, follow the config's services on SIGHUP, stop all on SIGTERM, and keep a status file for osd status. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "errfmt.h"
#include "log.h"
#include "path.h"
#include "runstatus.h"
#include "sigfd.h"

#define MAX_SERVICES RUNSTATUS_MAX
#define BACKOFF_MAX_S 60
#define STABLE_AFTER_S 30       /* a child that ran this long resets its back-off */
#define STOP_GRACE_S 10

struct service {
	bool used;              /* the slot holds a service */
	bool removing;          /* no longer in 'services': stopped, never restarted, then freed */
	char name[32];
	char prog[PATH_MAX];
	pid_t pid;
	int failures;
	unsigned restarts;      /* children started after the first */
	bool ever_started;
	char last_exit[32];     /* for the status file: "exit:N", "signal:N" or "" */
	double started;         /* monotonic seconds */
	time_t started_wall;    /* the same as Unix time, for the status file */
	double restart_at;      /* monotonic seconds; 0 = not waiting */
	double kill_at;         /* removing: SIGKILL at this monotonic time */
};

/* What the loop needs besides the services: the status file and the children's signal mask. */
struct run {
	struct service svc[MAX_SERVICES];
	char selfdir[PATH_MAX];
	char status_path[PATH_MAX];     /* "" when it cannot be written */
	time_t started;
	bool stopped;                   /* SIGTERM: every child was stopped */
	sigset_t oldmask;
	struct osd_conf conf;
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
		     "to %d s), and stop them all on SIGTERM or SIGINT.  SIGHUP re-reads\n"
		     "'services' (starting new ones, stopping dropped ones) and passes\n"
		     "SIGHUP on to the others.  The state is kept in\n"
		     "STATE_DIR/" RUNSTATUS_DIR "/" RUNSTATUS_FILE " for osd status.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n",
		BACKOFF_MAX_S);
}

/* Write the status file atomically (temp file, rename): osd status never reads half of it. */
static void
write_status(struct run *r)
{
	struct runstatus rs;
	struct atomicfile af;
	struct buf b;

	if (r->status_path[0] == '\0')
		return;
	memset(&rs, 0, sizeof(rs));
	rs.pid = (long)getpid();
	rs.started = (long long)r->started;
	snprintf(rs.conf, sizeof(rs.conf), "%s", r->conf.path);
	for (int i = 0; i < MAX_SERVICES; i++) {
		const struct service *s = &r->svc[i];
		struct runstatus_service *o;

		if (!s->used)
			continue;
		o = &rs.svc[rs.n++];
		snprintf(o->name, sizeof(o->name), "%s", s->name);
		snprintf(o->state, sizeof(o->state), "%s",
			 s->removing ? "stopping" : s->pid > 0 ? "running" :
			 r->stopped ? "stopped" : "backoff");
		o->pid = (long)s->pid;
		o->started = s->pid > 0 ? (long long)s->started_wall : 0;
		o->restarts = s->restarts;
		snprintf(o->last_exit, sizeof(o->last_exit), "%s", s->last_exit[0] ? s->last_exit : "-");
	}
	buf_init(&b, 1 << 20);
	if (runstatus_format(&rs, &b) == -1 || atomicfile_open(&af, r->status_path, 0644) == -1) {
		log_warn("%s", r->status_path);
	} else if (atomicfile_write_commit(&af, b.data, b.len, false) == -1) {
		log_warn("%s", r->status_path);
	}
	buf_free(&b);
}

static void
start(struct run *r, struct service *s)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_warn("%s: fork", s->name);
		s->restart_at = mono() + 1;
		return;
	}
	if (pid == 0) {
		char *argv[4] = { s->prog, NULL, NULL, NULL };
		sigset_t mask = r->oldmask;

		if (r->conf.path[0] != '\0') {
			argv[1] = (char *)"-c";
			argv[2] = r->conf.path;
		}
		/*
		 * SIGHUP stays blocked across exec: a SIGHUP passed on before the
		 * service has its signalfd would kill it (the default action);
		 * blocked, it waits and reaches the signalfd as one more reload.
		 */
		sigaddset(&mask, SIGHUP);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		execv(s->prog, argv);
		fprintf(stderr, "osd: run: cannot start %s: %s\n", s->prog, strerror(errno));
		_exit(111);
	}
	s->pid = pid;
	s->started = mono();
	s->started_wall = time(NULL);
	s->restarts += s->ever_started;
	s->ever_started = true;
	s->restart_at = 0;
	log_info("%s: started, pid %ld", s->name, (long)pid);
}

/*
 * The names of a services list (conf_load has checked them) into names_r;
 * their programs beside osd run must be executable.  Returns how many, or
 * -1 with err.
 */
static int
parse_services(const char *list, const char *selfdir, char names_r[][32], char err[256])
{
	char copy[sizeof(((struct osd_conf *)0)->services)];
	char *save = NULL;
	int n = 0;

	snprintf(copy, sizeof copy, "%s", list);
	for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char prog[PATH_MAX];
		bool dup = false;

		for (int i = 0; i < n; i++)
			dup |= strcmp(names_r[i], tok) == 0;
		if (dup)
			continue;
		if (n == MAX_SERVICES / 2) {
			return errfmt(err, 256, "config: services: more than %d", MAX_SERVICES / 2);
		}
		if ((size_t)snprintf(prog, sizeof prog, "%s/osd-%s", selfdir, tok) >= sizeof prog) {
			return errfmt(err, 256, "service %s: path too long", tok);
		}
		if (access(prog, X_OK) < 0) {
			return errfmt(err, 256, "service %s: %s: %s", tok, prog, strerror(errno));
		}
		snprintf(names_r[n++], 32, "%s", tok);
	}
	if (n == 0) {
		return errfmt(err, 256, "config: services: nothing to run");
	}
	return n;
}

/* A free slot for a new service named name; NULL when none is left. */
static struct service *
add_service(struct run *r, const char *name)
{
	for (int i = 0; i < MAX_SERVICES; i++) {
		struct service *s = &r->svc[i];

		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		snprintf(s->name, sizeof(s->name), "%s", name);
		/* parse_services checked that this fits. */
		(void)path_fmt(s->prog, sizeof(s->prog), "%s/osd-%s", r->selfdir, name);
		return s;
	}
	return NULL;
}

/* The live (not removing) service called name. */
static struct service *
find_service(struct run *r, const char *name)
{
	for (int i = 0; i < MAX_SERVICES; i++)
		if (r->svc[i].used && !r->svc[i].removing && strcmp(r->svc[i].name, name) == 0)
			return &r->svc[i];
	return NULL;
}

static void
reap(struct run *r, bool stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_SERVICES; i++) {
			struct service *s = &r->svc[i];
			bool asked = stopping || s->removing;
			double ran, delay;

			if (!s->used || s->pid != pid)
				continue;
			s->pid = 0;
			ran = mono() - s->started;
			if (WIFSIGNALED(status))
				snprintf(s->last_exit, sizeof(s->last_exit), "signal:%d", WTERMSIG(status));
			else
				snprintf(s->last_exit, sizeof(s->last_exit), "exit:%d", WEXITSTATUS(status));
			/* Stopping on our SIGTERM and exiting 0 (or by that signal) is the normal end. */
			if (asked && ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
				      (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)))
				log_info("%s: stopped after %.1f s", s->name, ran);
			else if (WIFSIGNALED(status))
				log_warnx("%s: killed by signal %d after %.1f s", s->name,
					  WTERMSIG(status), ran);
			else
				log_warnx("%s: exited with status %d after %.1f s", s->name,
					  WEXITSTATUS(status), ran);
			if (s->removing) {
				s->used = false;
				break;
			}
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

static bool
any_running(const struct run *r)
{
	for (int i = 0; i < MAX_SERVICES; i++)
		if (r->svc[i].used && r->svc[i].pid > 0)
			return true;
	return false;
}

static void
stop_all(struct run *r)
{
	double deadline = mono() + STOP_GRACE_S;

	for (int i = 0; i < MAX_SERVICES; i++)
		if (r->svc[i].used && r->svc[i].pid > 0)
			kill(r->svc[i].pid, SIGTERM);
	while (any_running(r) && mono() < deadline) {
		reap(r, true);
		if (any_running(r))
			usleep(20000);
	}
	for (int i = 0; i < MAX_SERVICES; i++) {
		struct service *s = &r->svc[i];

		if (s->used && s->pid > 0) {
			log_warnx("%s: did not stop in %d s: killing it", s->name, STOP_GRACE_S);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->pid = 0;
			snprintf(s->last_exit, sizeof(s->last_exit), "signal:%d", SIGKILL);
		}
	}
}

/*
 * SIGHUP: read the config again; start the services newly named, stop those
 * no longer named, and pass SIGHUP on to the ones that stay (they reload
 * themselves).  A config that cannot be read changes no service: the
 * signal is passed on as before (each child keeps its running config too).
 */
static void
reload(struct run *r)
{
	char names[MAX_SERVICES][32], err[PATH_MAX + 512];
	struct osd_conf n;
	bool restart;
	int count = -1;

	if (r->conf.path[0] == '\0') {
		log_info("SIGHUP: no config file (built-in defaults): passing it on");
	} else if (conf_reload(&r->conf, &n, &restart, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: %s (keeping the running services)", err);
	} else if ((count = parse_services(n.services, r->selfdir, names, err)) == -1) {
		log_warnx("SIGHUP: %s (keeping the running services)", err);
	} else {
		memcpy(&r->conf, &n, sizeof(n));
		log_info("SIGHUP: services = %s", n.services);
	}
	for (int i = 0; i < MAX_SERVICES; i++) {
		struct service *s = &r->svc[i];
		bool named = count < 0;

		if (!s->used || s->removing)
			continue;
		for (int j = 0; j < count; j++)
			named |= strcmp(names[j], s->name) == 0;
		if (named) {
			if (s->pid > 0)
				kill(s->pid, SIGHUP);
			continue;
		}
		log_info("%s: no longer in services: stopping it", s->name);
		if (s->pid > 0) {
			s->removing = true;
			s->kill_at = mono() + STOP_GRACE_S;
			kill(s->pid, SIGTERM);
		} else {
			s->used = false;        /* waiting for a restart: just forget it */
		}
	}
	for (int j = 0; j < count; j++) {
		struct service *s;

		if (find_service(r, names[j]) != NULL)
			continue;
		if ((s = add_service(r, names[j])) == NULL) {
			log_warnx("%s: no room to start it", names[j]);
			continue;
		}
		log_info("%s: newly in services", s->name);
		start(r, s);
	}
}

/* state_dir/run for the status file; the path stays empty (no file) when it cannot be made. */
static void
status_init(struct run *r)
{
	char dir[PATH_MAX];

	if (path_join(dir, sizeof(dir), r->conf.state_dir, RUNSTATUS_DIR) == -1 ||
	    runstatus_path(r->conf.state_dir, r->status_path, sizeof(r->status_path)) == -1) {
		log_warnx("%s: path too long: no status file", r->conf.state_dir);
		r->status_path[0] = '\0';
		return;
	}
	/* Only osd run writes here; it stays root's, readable by everyone. */
	if (path_mkdirs(dir, 0755) == -1) {
		log_warn("%s: no status file for osd status", dir);
		r->status_path[0] = '\0';
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	static const int run_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	static struct run r;
	char names[MAX_SERVICES][32], err[PATH_MAX + 512];
	const char *conf_arg = NULL;
	int opt, n, sigfd;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("run", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&r.conf, conf_arg);
	if (log_init("osd-run", strcmp(r.conf.log, "syslog") == 0, r.conf.log_facility) < 0)
		fatalx("config: unknown log_facility %s", r.conf.log_facility);
	if (path_self_dir(r.selfdir, sizeof(r.selfdir)) == -1)
		fatal("readlink /proc/self/exe");
	if ((n = parse_services(r.conf.services, r.selfdir, names, err)) == -1)
		fatalx("%s", err);
	r.started = time(NULL);
	status_init(&r);

	sigfd = sigfd_open(run_sigs, sizeof(run_sigs) / sizeof(run_sigs[0]), &r.oldmask);

	for (int i = 0; i < n; i++)
		start(&r, add_service(&r, names[i]));
	log_info("running %d service(s) from %s", n, r.conf.path[0] ? r.conf.path : "built-in defaults");
	write_status(&r);

	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		double now = mono(), next = 0;
		bool changed = false;
		int timeout = -1;

		for (int i = 0; i < MAX_SERVICES; i++) {
			const struct service *s = &r.svc[i];
			double at = !s->used ? 0 : s->removing ? s->kill_at : s->restart_at;

			if (at > 0 && (next == 0 || at < next))
				next = at;
		}
		if (next > 0)
			timeout = next <= now ? 0 : (int)((next - now) * 1000) + 1;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			fatal("poll");
		while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			changed = true;
			if (si.ssi_signo == SIGCHLD) {
				reap(&r, false);
			} else if (si.ssi_signo == SIGHUP) {
				reload(&r);
			} else {
				log_info("stopping");
				stop_all(&r);
				r.stopped = true;
				write_status(&r);
				log_info("stopped");
				return 0;
			}
		}
		now = mono();
		for (int i = 0; i < MAX_SERVICES; i++) {
			struct service *s = &r.svc[i];

			if (!s->used)
				continue;
			if (s->removing && s->pid > 0 && s->kill_at > 0 && s->kill_at <= now) {
				log_warnx("%s: did not stop in %d s: killing it", s->name, STOP_GRACE_S);
				kill(s->pid, SIGKILL);
				s->kill_at = 0;
			} else if (!s->removing && s->pid == 0 && s->restart_at > 0 &&
				   s->restart_at <= now) {
				start(&r, s);
				changed = true;
			}
		}
		if (changed)
			write_status(&r);
	}
}
