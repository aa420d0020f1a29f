/* metrics.c - osd metrics: answer GET /metrics on metrics_listen with the shared counters in the Prometheus text format, one short-lived child per scrape. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "httpreq.h"
#include "log.h"
#include "metrics.h"
#include "metrics_attach.h"
#include "monotonic.h"
#include "path.h"
#include "qstore.h"
#include "runas.h"
#include "server.h"

/* A scrape must arrive and leave within this (slow or silent clients are dropped). */
#define SCRAPE_DEADLINE_MS 5000
/* Scrapes at once, and from one address: Prometheus makes one at a time. */
#define MAX_CONNECTIONS 16
#define MAX_PER_IP 4
/* Octets of a refused request read and dropped after the answer, at most. */
#define LINGER_MAX (256u * 1024)

static const char refuse_reply[] = "HTTP/1.0 503 Service Unavailable\r\n"
				   "Content-Length: 0\r\nConnection: close\r\n\r\n";

struct metricsd {
	struct osd_conf conf;
	char queue_dir[PATH_MAX];       /* state_dir/queue: new/ is counted at each scrape */
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd metrics [-c FILE]\n"
		     "Serve the counters every osd daemon keeps in STATE_DIR/" METRICS_DIR "/"
		     METRICS_FILE "\n"
		     "in the Prometheus text format: GET /metrics on metrics_listen (host:port,\n"
		     "off by default), one short-lived child per request.  Drops root like the\n"
		     "other daemons.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGTERM stops; SIGHUP re-reads the configuration (see osd-metrics(8)).\n");
}

/*
 * Messages in queue/new not yet taken by the queue manager, as osd qstat
 * counts them: complete files only, not those smtpd is still writing.
 * 0 when unreadable.
 */
static uint64_t
count_new(const char *queue_dir)
{
	long n;

	return qstore_count_new(queue_dir, &n) == 0 ? (uint64_t)n : 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* The whole response to req (status: httpreq's, or 408 for a head that did not come in time). */
static void
respond(const struct metricsd *md, const struct httpreq *req, int status, struct buf *out)
{
	struct buf body;
	const char *type = "text/plain; charset=utf-8";

	buf_init(&body, 4u << 20);
	if (status == 0 && strcmp(req->target, "/metrics") != 0)
		status = 404;
	if (status == 0 && metrics_slots == NULL)
		status = 503;
	if (status == 0) {
		uint64_t v[METRIC_COUNT_];

		for (size_t i = 0; i < METRIC_COUNT_; i++)
			v[i] = __atomic_load_n(&metrics_slots[i], __ATOMIC_RELAXED);
		v[M_QUEUE_NEW] = count_new(md->queue_dir);
		if (metrics_format(v, &body) == -1)
			status = 503;
		else
			type = "text/plain; version=0.0.4; charset=utf-8";
	}
	if (status != 0) {
		buf_reset(&body);
		(void)buf_printf(&body, "%d %s\n", status, reason(status));
	}
	(void)buf_printf(out, "HTTP/1.%d %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n", req->minor == 1 ? 1 : 0,
			 status == 0 ? 200 : status, reason(status == 0 ? 200 : status), type, body.len,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (req->method != HTTPREQ_HEAD || status != 0)
		(void)buf_append(out, body.data, body.len);
	buf_free(&body);
}

/* Wait for fd (events) until deadline; false when the time is up or poll fails. */
static bool
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left = deadline - monotonic_ms();

	if (left <= 0)
		return false;
	return poll(&pfd, 1, (int)left) == 1;
}

static noreturn void
serve(void *vctx, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct metricsd *md = vctx;
	long long deadline = monotonic_ms() + SCRAPE_DEADLINE_MS;
	char head[HTTPREQ_HEAD_MAX];
	struct httpreq req;
	struct buf out;
	size_t len = 0, off = 0;
	int r = 0, status;

	(void)addr;
	(void)kind;
	(void)prior_failures;
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (r == 0 && wait_fd(fd, POLLIN, deadline)) {
		ssize_t n = read(fd, head + len, sizeof(head) - len);

		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			_exit(0);       /* the client went away before a whole request */
		len += (size_t)n;
		r = httpreq_parse(head, len, &req);
	}
	status = r == 1 ? req.status : 408;
	if (r == 0)
		memset(&req, 0, sizeof(req));
	buf_init(&out, 8u << 20);
	respond(md, &req, status, &out);
	while (off < out.len && wait_fd(fd, POLLOUT, deadline)) {
		ssize_t n = write(fd, out.data + off, out.len - off);

		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_free(&out);
	/*
	 * A lingering close (as Apache's): a request we answered early (431,
	 * 400) may have more octets on the way, and closing with unread input
	 * sends a reset that can destroy the answer before the client reads it.
	 */
	if (shutdown(fd, SHUT_WR) == 0) {
		size_t drained = 0;

		while (drained < LINGER_MAX && wait_fd(fd, POLLIN, deadline)) {
			ssize_t n = read(fd, head, sizeof(head));

			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;
			drained += (size_t)n;
		}
	}
	close(fd);
	_exit(0);
}

/*
 * SIGHUP (server_hooks.reload).  Nothing of osd.conf that osd metrics uses
 * can change while it runs: metrics_listen is bound and state_dir and the
 * user are fixed before the privilege drop, and its limits are constants.
 * So the file is read again only to report a broken or restart-only edit
 * at once (conf_reload; not daemon_reload, which would link TLS in), and a
 * counter file that could not be mapped at start (every scrape: 503) is
 * tried again, now that the operator may have fixed it.
 */
static void
reload(void *vmd)
{
	struct metricsd *md = vmd;
	struct osd_conf n;
	char err[PATH_MAX + 256];
	bool restart;

	if (conf_reload(&md->conf, &n, &restart, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: %s (keeping the running configuration)", err);
		return;
	}
	if (restart)
		log_warnx("SIGHUP: metrics_listen, user, group and state_dir change only on a restart");
	if (metrics_slots == NULL)
		metrics_attach(&md->conf, false);
	log_info("SIGHUP: configuration re-read (nothing in it changes osd metrics without a "
		 "restart); counters %s", metrics_slots != NULL ? "mapped" : "unavailable: 503");
}

int
main(int argc, char **argv)
{
	static struct metricsd md;
	struct server_hooks hooks = { .ctx = &md, .serve = serve, .reload = reload,
				      .refuse_reply = refuse_reply };
	char err[PATH_MAX + 256];
	const char *conf_arg;
	struct server *srv;
	struct runas ra;

	conf_arg = cli_conf_only(argc, argv, "metrics", usage);
	cli_load_conf(&md.conf, conf_arg);
	if (log_init("osd-metrics", strcmp(md.conf.log, "syslog") == 0, md.conf.log_facility) < 0) {
		cli_error("metrics", "log_facility %s: unknown", md.conf.log_facility);
		return 111;
	}
	if (md.conf.metrics_listen[0] == '\0')
		fatalx("metrics_listen is not set: nothing to listen on");
	if (path_fmt(md.queue_dir, sizeof(md.queue_dir), "%s/queue", md.conf.state_dir) == -1)
		fatalx("state_dir: path too long");
	srv = server_new(&hooks);
	server_bind(srv, "metrics_listen", md.conf.metrics_listen, 0, false);
	/* Made here when no daemon made it yet, so that a scrape before they start shows zeros. */
	metrics_attach(&md.conf, false);
	if (runas_init(&ra, &md.conf, err, sizeof(err)) == -1 || runas_drop(&ra, err, sizeof(err)) == -1)
		runas_refuse("metrics", err);
	server_set_limits(srv, MAX_CONNECTIONS, MAX_PER_IP);
	log_info("ready: GET /metrics on %s", md.conf.metrics_listen);
	server_run(srv);
	server_free(srv);
	log_info("stopped");
	return 0;
}
