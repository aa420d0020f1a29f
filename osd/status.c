/* status.c - osd status: is everything running?  The services osd run supervises, the relay table, the queue, the listeners and the certificate, with an exit status for monitoring. */
#include <cdb.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "fleetmsg.h"
#include "listen.h"
#include "path.h"
#include "qstore.h"
#include "runstatus.h"
#include "tls.h"

/* Exit statuses, as the issue asks: healthy, something wrong, cannot tell. */
#define EXIT_HEALTHY 0
#define EXIT_PROBLEM 1
#define EXIT_UNKNOWN 111

/* A certificate this close to its end is a warning (as Let's Encrypt's reminders start at 20 days). */
#define CERT_WARN_DAYS 14
#define CONNECT_TIMEOUT_MS 3000

enum severity { SEV_WARNING, SEV_CRITICAL, SEV_UNKNOWN };

struct status {
	struct osd_conf conf;
	time_t now;
	bool json;
	struct buf text;        /* the report, line by line (text mode) */
	struct buf js;          /* the report's sections (JSON mode), comma-separated */
	struct buf problems;    /* "; "-separated, for the first line */
	struct buf js_problems;
	unsigned warnings, criticals, unknowns;
};

/* Which listeners each service opens (the keys of osd.conf). */
static const struct {
	const char *service;
	const char *key;
	size_t offset;
} listeners[] = {
	{ "pop3d", "pop3_listen", offsetof(struct osd_conf, pop3_listen) },
	{ "pop3d", "pop3s_listen", offsetof(struct osd_conf, pop3s_listen) },
	{ "smtpd", "smtp_listen", offsetof(struct osd_conf, smtp_listen) },
	{ "smtpd", "submission_listen", offsetof(struct osd_conf, submission_listen) },
	{ "smtpd", "smtps_listen", offsetof(struct osd_conf, smtps_listen) },
	{ "imapd", "imap_listen", offsetof(struct osd_conf, imap_listen) },
	{ "imapd", "imaps_listen", offsetof(struct osd_conf, imaps_listen) },
	{ "metrics", "metrics_listen", offsetof(struct osd_conf, metrics_listen) },
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd status [-c FILE] [--json]\n"
		     "Report the services osd run supervises (pid, uptime, restarts), the\n"
		     "relay table (relay.cdb size, records, age; open-smtp/ entries), the\n"
		     "queue, each listener of the running services (up/down) and the TLS\n"
		     "certificate's expiry (a warning under %d days).  The first line sums\n"
		     "it up: OK, WARNING, CRITICAL or UNKNOWN with what is wrong.\n"
		     "Exit 0 when healthy, 1 when something is wrong, 111 when it cannot tell.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --json   one JSON object instead of text\n", CERT_WARN_DAYS);
}

/* s as a JSON string (quotes, escapes) appended to b. */
static void
json_str(struct buf *b, const char *s)
{
	buf_append_char(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\u%04x", c);
		else
			buf_append_char(b, (char)c);
	}
	buf_append_char(b, '"');
}

static void __attribute__((format(printf, 3, 4)))
problem(struct status *st, enum severity sev, const char *fmt, ...)
{
	static const char *const names[] = { "warning", "critical", "unknown" };
	char msg[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->problems.len > 0)
		buf_append_str(&st->problems, "; ");
	buf_append_str(&st->problems, msg);
	if (st->js_problems.len > 0)
		buf_append_char(&st->js_problems, ',');
	buf_printf(&st->js_problems, "{\"severity\":\"%s\",\"message\":", names[sev]);
	json_str(&st->js_problems, msg);
	buf_append_char(&st->js_problems, '}');
	if (sev == SEV_WARNING)
		st->warnings++;
	else if (sev == SEV_CRITICAL)
		st->criticals++;
	else
		st->unknowns++;
}

/* "3d4h", "5m12s": a duration for people. */
static void
human_duration(long long secs, char *out, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, size, "%lldd%lldh", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(out, size, "%lldh%lldm", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(out, size, "%lldm%llds", secs / 60, secs % 60);
	else
		snprintf(out, size, "%llds", secs);
}

static void
iso_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

/*
 * Is pid a live process of osd (osd run or one of its services)?  Not a
 * zombie waiting for its parent, and not a stranger that got the number
 * since: its name starts with "osd" (osd-run, osd-watch, ...).
 */
static bool
osd_process_alive(long pid)
{
	char path[64], stat[512];
	const char *close_paren;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill((pid_t)pid, 0) == -1 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold anything, so the state follows the last ')'. */
	close_paren = strrchr(stat, ')');
	return strncmp(stat + strcspn(stat, "(") + 1, "osd", 3) == 0 && close_paren != NULL &&
	       close_paren[1] == ' ' && close_paren[2] != 'Z';
}

/* The services, from osd run's status file. */
static void
report_services(struct status *st)
{
	char path[PATH_MAX], err[256], up[32];
	struct runstatus rs;
	struct buf b;
	int fd;

	buf_init(&b, 1 << 20);
	if (runstatus_path(st->conf.state_dir, path, sizeof(path)) == -1) {
		problem(st, SEV_UNKNOWN, "state_dir: path too long");
		buf_printf(&st->js, "\"run\":null,\"services\":[]");
		goto done;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			problem(st, SEV_CRITICAL, "osd run is not running (no %s)", path);
		else
			problem(st, SEV_UNKNOWN, "%s: %s", path, strerror(errno));
		buf_printf(&st->text, "osd run: not running\n");
		buf_printf(&st->js, "\"run\":{\"running\":false},\"services\":[]");
		goto done;
	}
	if (buf_read_file(&b, fd) == -1 || b.data == NULL ||
	    runstatus_parse(b.data, b.len, &rs, err, sizeof(err)) == -1) {
		problem(st, SEV_UNKNOWN, "%s: %s", path, b.data == NULL ? "empty" : err);
		buf_printf(&st->js, "\"run\":null,\"services\":[]");
		close(fd);
		goto done;
	}
	close(fd);
	if (!osd_process_alive(rs.pid)) {
		problem(st, SEV_CRITICAL, "osd run is not running (pid %ld is gone)", rs.pid);
		buf_printf(&st->text, "osd run: not running (pid %ld is gone; its last state "
			   "follows)\n", rs.pid);
		buf_printf(&st->js, "\"run\":{\"running\":false,\"pid\":%ld", rs.pid);
	} else {
		human_duration(st->now - rs.started, up, sizeof(up));
		buf_printf(&st->text, "osd run: pid %ld, up %s, config %s\n", rs.pid, up,
			   rs.conf[0] ? rs.conf : "(built-in defaults)");
		buf_printf(&st->js, "\"run\":{\"running\":true,\"pid\":%ld,\"uptime\":%lld", rs.pid,
			   (long long)(st->now - rs.started));
	}
	buf_append_str(&st->js, ",\"config\":");
	json_str(&st->js, rs.conf);
	buf_append_str(&st->js, "},\"services\":[");
	for (size_t i = 0; i < rs.n; i++) {
		const struct runstatus_service *s = &rs.svc[i];
		bool alive = strcmp(s->state, "running") == 0 && osd_process_alive(s->pid);

		human_duration(st->now - s->started, up, sizeof(up));
		if (alive)
			buf_printf(&st->text, "service %s: running, pid %ld, up %s, restarts %u, "
				   "last exit %s\n", s->name, s->pid, up, s->restarts, s->last_exit);
		else
			buf_printf(&st->text, "service %s: NOT RUNNING (%s%s), restarts %u, last exit "
				   "%s\n", s->name, s->state, s->pid > 0 ? ", its pid is gone" : "",
				   s->restarts, s->last_exit);
		/* A service osd run is stopping (dropped from services on SIGHUP) is meant to end. */
		if (!alive && strcmp(s->state, "stopping") != 0)
			problem(st, SEV_CRITICAL, "service %s is not running (restarts %u, last exit %s)",
				s->name, s->restarts, s->last_exit);
		buf_printf(&st->js, "%s{\"name\":", i > 0 ? "," : "");
		json_str(&st->js, s->name);
		buf_printf(&st->js, ",\"state\":\"%s\",\"running\":%s,\"pid\":%ld,\"uptime\":%lld,"
			   "\"restarts\":%u,\"last_exit\":", alive ? "running" : s->state,
			   alive ? "true" : "false", s->pid,
			   alive ? (long long)(st->now - s->started) : 0LL, s->restarts);
		json_str(&st->js, s->last_exit);
		buf_append_char(&st->js, '}');
	}
	buf_append_char(&st->js, ']');
done:
	buf_free(&b);
}

/* relay.cdb (size, records, age) and open-smtp/ (entries). */
static void
report_relay(struct status *st)
{
	char path[PATH_MAX], dir[PATH_MAX], age[32];
	unsigned long entries = 0;
	struct stat sb;
	struct dirent *e;
	struct cdb db;
	unsigned pos;
	long records = 0;
	DIR *d;
	int fd;

	if (conf_relay_cdb(&st->conf, path, sizeof(path)) == -1 ||
	    conf_opensmtp_dir(&st->conf, dir, sizeof(dir)) == -1) {
		problem(st, SEV_UNKNOWN, "state_dir: path too long");
		buf_append_str(&st->js, ",\"relay\":null");
		return;
	}
	buf_append_char(&st->js, ',');
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1) {
		if (errno == ENOENT)
			problem(st, SEV_CRITICAL, "%s does not exist (has osd watch ever run?)", path);
		else
			problem(st, SEV_UNKNOWN, "%s: %s", path, strerror(errno));
		buf_printf(&st->text, "relay.cdb: %s\n", strerror(errno));
		buf_append_str(&st->js, "\"relay\":{\"cdb\":null");
		if (fd >= 0)
			close(fd);
	} else {
		if (cdb_init(&db, fd) == -1) {
			problem(st, SEV_CRITICAL, "%s: not a cdb file", path);
			records = -1;
		} else {
			cdb_seqinit(&pos, &db);
			while (cdb_seqnext(&pos, &db) > 0)
				records++;
			cdb_free(&db);
		}
		close(fd);
		human_duration(st->now - sb.st_mtime, age, sizeof(age));
		buf_printf(&st->text, "relay.cdb: %lld bytes, %ld records, rebuilt %s ago\n",
			   (long long)sb.st_size, records, age);
		buf_printf(&st->js, "\"relay\":{\"cdb\":{\"bytes\":%lld,\"records\":%ld,"
			   "\"age\":%lld}", (long long)sb.st_size, records,
			   (long long)(st->now - sb.st_mtime));
	}
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT)
			problem(st, SEV_UNKNOWN, "%s: %s", dir, strerror(errno));
		buf_printf(&st->text, "open-smtp: %s\n", strerror(errno));
		buf_append_str(&st->js, ",\"open_smtp_entries\":null}");
		return;
	}
	/* Entries are addresses; dot files are the expirer's own. */
	while ((e = readdir(d)) != NULL)
		entries += e->d_name[0] != '.';
	closedir(d);
	buf_printf(&st->text, "open-smtp: %lu entries\n", entries);
	buf_printf(&st->js, ",\"open_smtp_entries\":%lu}", entries);
}

/* Fleet mode: the watcher's link to Redis, from its FLEET_STATUS_FILE (docs/fleet.md). */
static void
report_fleet(struct status *st)
{
	char path[PATH_MAX], line[512], state[512] = "", peer[512] = "-", why[512] = "", age[32];
	long long since = 0;
	FILE *fp;

	if (strcmp(st->conf.fleet, "redis") != 0) {
		buf_append_str(&st->js, ",\"fleet\":null");
		return;
	}
	if (path_join(path, sizeof(path), st->conf.state_dir, FLEET_STATUS_FILE) == -1 ||
	    (fp = fopen(path, "re")) == NULL) {
		problem(st, SEV_WARNING, "fleet: no word from osd watch on its link to redis (%s)",
			strerror(errno));
		buf_printf(&st->text, "fleet: unknown (is osd watch running?)\n");
		buf_append_str(&st->js, ",\"fleet\":{\"state\":null}");
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "state ", 6) == 0)
			snprintf(state, sizeof(state), "%s", line + 6);
		else if (strncmp(line, "since ", 6) == 0)
			since = strtoll(line + 6, NULL, 10);
		else if (strncmp(line, "peer ", 5) == 0)
			snprintf(peer, sizeof(peer), "%s", line + 5);
		else if (strncmp(line, "why ", 4) == 0)
			snprintf(why, sizeof(why), "%s", line + 4);
	}
	fclose(fp);
	human_duration(st->now - since, age, sizeof(age));
	if (strcmp(state, "up") == 0) {
		buf_printf(&st->text, "fleet: connected to redis at %s for %s\n", peer, age);
	} else {
		/* Local logins still authorize: a warning, not a critical. */
		problem(st, SEV_WARNING, "fleet: cut off from redis%s%s for %s: %s", strcmp(peer, "-") ? " at " : "",
			strcmp(peer, "-") ? peer : "", age, why[0] ? why : "unknown");
		buf_printf(&st->text, "fleet: CUT OFF from redis at %s for %s (%s); local logins still authorize\n",
			   peer, age, why[0] ? why : "unknown");
	}
	buf_append_str(&st->js, ",\"fleet\":{\"state\":");
	json_str(&st->js, state);
	buf_append_str(&st->js, ",\"peer\":");
	json_str(&st->js, peer);
	buf_printf(&st->js, ",\"since\":%lld,\"why\":", since);
	json_str(&st->js, why);
	buf_append_char(&st->js, '}');
}

/* The queue, counted as osd qstat counts it. */
static void
report_queue(struct status *st)
{
	char dir[PATH_MAX];
	long queued, fresh;

	if (path_join(dir, sizeof(dir), st->conf.state_dir, "queue") == -1) {
		problem(st, SEV_UNKNOWN, "state_dir: path too long");
		buf_append_str(&st->js, ",\"queue\":null");
		return;
	}
	if (qstore_count(dir, &queued, &fresh) == -1) {
		problem(st, SEV_UNKNOWN, "%s: %s", dir, strerror(errno));
		buf_append_str(&st->js, ",\"queue\":null");
		return;
	}
	buf_printf(&st->text, "queue: %ld messages, %ld not yet preprocessed\n", queued, fresh);
	buf_printf(&st->js, ",\"queue\":{\"messages\":%ld,\"not_preprocessed\":%ld}", queued, fresh);
}

/* Does something accept connections at spec?  NULL when so, else why not. */
static const char *
probe(const char *spec, char *why, size_t size)
{
	char host[256], portstr[16], err[256];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	unsigned port;
	int gai;

	if (listen_parse(spec, host, sizeof(host), &port, err, sizeof(err)) == -1) {
		snprintf(why, size, "%s", err);
		return why;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	/* "*:port" listens on every address, loopback among them. */
	if ((gai = getaddrinfo(host[0] ? host : "127.0.0.1", portstr, &hints, &res)) != 0) {
		snprintf(why, size, "%s", gai_strerror(gai));
		return why;
	}
	snprintf(why, size, "no address");
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (fd == -1) {
			snprintf(why, size, "%s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			if (errno != EINPROGRESS)
				soerr = errno;
			else if (poll(&pfd, 1, CONNECT_TIMEOUT_MS) != 1)
				soerr = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
				soerr = errno;
		}
		close(fd);
		if (soerr == 0) {
			freeaddrinfo(res);
			return NULL;
		}
		snprintf(why, size, "%s", strerror(soerr));
	}
	freeaddrinfo(res);
	return why;
}

/* Is name in the services list of the config? */
static bool
service_configured(const char *list, const char *name)
{
	size_t len = strlen(name);

	while (*list != '\0') {
		size_t n = strcspn(list, " \t,");

		if (n == len && strncmp(list, name, len) == 0)
			return true;
		list += n;
		list += strspn(list, " \t,");
	}
	return false;
}

/* Each listener of the services osd run starts: something must accept there. */
static void
report_listeners(struct status *st)
{
	bool first = true;

	buf_append_str(&st->js, ",\"listeners\":[");
	for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		const char *spec = (const char *)&st->conf + listeners[i].offset;
		char why[256];
		const char *down;

		if (spec[0] == '\0' || !service_configured(st->conf.services, listeners[i].service))
			continue;
		down = probe(spec, why, sizeof(why));
		buf_printf(&st->text, "listener %s %s: %s%s\n", listeners[i].key, spec,
			   down ? "DOWN: " : "up", down ? down : "");
		if (down)
			problem(st, SEV_CRITICAL, "listener %s %s is down (%s)", listeners[i].key,
				spec, down);
		buf_printf(&st->js, "%s{\"key\":\"%s\",\"address\":", first ? "" : ",",
			   listeners[i].key);
		json_str(&st->js, spec);
		buf_printf(&st->js, ",\"up\":%s}", down ? "false" : "true");
		first = false;
	}
	buf_append_char(&st->js, ']');
}

/* tls_cert's end of validity: a warning under CERT_WARN_DAYS, critical when past. */
static void
report_certificates(struct status *st)
{
	char err[PATH_MAX + 256], when[32];
	time_t not_after;
	long long left;

	buf_append_str(&st->js, ",\"certificates\":[");
	if (st->conf.tls_cert[0] == '\0') {
		buf_append_char(&st->js, ']');
		return;
	}
	if (tls_cert_not_after(st->conf.tls_cert, &not_after, err, sizeof(err)) == -1) {
		problem(st, SEV_CRITICAL, "certificate %s", err);
		buf_printf(&st->text, "certificate %s\n", err);
		buf_append_str(&st->js, "{\"file\":");
		json_str(&st->js, st->conf.tls_cert);
		buf_append_str(&st->js, ",\"error\":");
		json_str(&st->js, err);
		buf_append_str(&st->js, "}]");
		return;
	}
	iso_time(not_after, when, sizeof(when));
	left = (long long)(not_after - st->now);
	if (left <= 0) {
		buf_printf(&st->text, "certificate %s: EXPIRED at %s\n", st->conf.tls_cert, when);
		problem(st, SEV_CRITICAL, "certificate %s expired at %s", st->conf.tls_cert, when);
	} else {
		buf_printf(&st->text, "certificate %s: expires %s (in %lld days)\n", st->conf.tls_cert,
			   when, left / 86400);
		if (left < CERT_WARN_DAYS * 86400LL)
			problem(st, SEV_WARNING, "certificate %s expires in %lld days (%s)",
				st->conf.tls_cert, left / 86400, when);
	}
	buf_append_str(&st->js, "{\"file\":");
	json_str(&st->js, st->conf.tls_cert);
	buf_printf(&st->js, ",\"not_after\":\"%s\",\"seconds_left\":%lld}]", when, left);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static struct status st;
	const char *conf_arg = NULL, *verdict;
	int opt, code;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:hj", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'j': st.json = true; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("status", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	/* A config that cannot be read: the state cannot be told (exit 111). */
	cli_load_conf(&st.conf, conf_arg);
	st.now = time(NULL);
	buf_init(&st.text, 1 << 20);
	buf_init(&st.js, 1 << 20);
	buf_init(&st.problems, 1 << 16);
	buf_init(&st.js_problems, 1 << 16);
	report_services(&st);
	report_relay(&st);
	report_fleet(&st);
	report_queue(&st);
	report_listeners(&st);
	report_certificates(&st);

	/* Nagios's words and order: anything wrong beats "cannot tell", which beats OK. */
	if (st.criticals > 0) {
		verdict = "CRITICAL";
		code = EXIT_PROBLEM;
	} else if (st.warnings > 0) {
		verdict = "WARNING";
		code = EXIT_PROBLEM;
	} else if (st.unknowns > 0) {
		verdict = "UNKNOWN";
		code = EXIT_UNKNOWN;
	} else {
		verdict = "OK";
		code = EXIT_HEALTHY;
	}
	if (st.json) {
		printf("{\"status\":\"%s\",\"exit\":%d,\"time\":%lld,\"problems\":[%s],%s}\n", verdict,
		       code, (long long)st.now, st.js_problems.data ? st.js_problems.data : "",
		       st.js.data ? st.js.data : "");
	} else {
		printf("%s: %s\n%s", verdict, st.problems.len > 0 ? st.problems.data :
		       "osd is healthy", st.text.data ? st.text.data : "");
	}
	buf_free(&st.text);
	buf_free(&st.js);
	buf_free(&st.problems);
	buf_free(&st.js_problems);
	return code;
}
