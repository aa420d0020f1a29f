/* server.c - the parent of a fork-per-connection daemon: listeners, caps, children, failed-login throttling, signals. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "failtable.h"
#include "log.h"
#include "sigfd.h"
#include "monotonic.h"
#include "server.h"
#include "server_worker.h"
#include "siphash.h"

/*
 * Connections the kernel may hold for us before we accept them (clamped
 * to net.core.somaxconn).  With 128, a burst of a few hundred connects
 * while we were slow to fork overflowed it: the kernel answered with SYN
 * cookies and dropped the handshake's last ACK while the queue was full,
 * so a client that waits for our greeting (SMTP, POP3, IMAP all do) sat
 * on a connection we never saw until it sent something itself.
 */
#define SERVER_BACKLOG 1024
/* Failed logins are remembered this long after the last one, for throttling. */
#define SERVER_FAIL_WINDOW_S 900
/* The delay of a failed login's reply: 1 s, doubling after the third recent failure, up to 30 s. */
#define SERVER_FAIL_DELAY_MS 1000
#define SERVER_FAIL_DELAY_MAX_MS 30000
#define SERVER_FAIL_FREE 3
/* On SIGTERM, children get this long before SIGKILL. */
#define SERVER_STOP_GRACE_MS 5000
/* Reused session processes: at most this many wait, each at most this long. */
#define SERVER_IDLE_MAX 64
#define SERVER_IDLE_MS 30000
/*
 * At the limit of connections, the kernel is asked which sessions are
 * over before a client is refused; a look that found none is not made
 * again for this long, or for 20 times what it took if longer (at most a
 * twentieth of a core at thousands of sessions), so that a flood at the
 * limit does not cost a query per session for every connection refused.
 */
#define SERVER_RECHECK_MS 50
#define SERVER_RECHECK_SHARE 20

struct listener {
	int fd;
	int kind;
	bool tls;                       /* TLS from the first byte: no plain refusal text */
};

struct child {
	pid_t pid;
	struct ipaddr addr;
	/* The connection's two ends, to ask the kernel whether it is still established. */
	struct sockaddr_storage local, peer;
	bool ended;                     /* its connection is over: its slot is free (per address and in all) */
	bool idle;                      /* a reusable process waiting for a connection */
	int ctl;                        /* the parent's end of its handoff pair, else -1 */
	unsigned gen;                   /* server.gen when it was forked */
	long long idle_since;           /* monotonic ms, while idle */
};

/*
 * What a child tells the parent about a login: one write of a few bytes,
 * far below PIPE_BUF, so atomic on the pipe.
 */
struct report {
	pid_t pid;
	int ok;                         /* REPORT_* */
	uint64_t login;                 /* login_key() of the login name tried; REPORT_IDLE: monotonic ms */
};
#define REPORT_FAILED 0                 /* a login failed */
#define REPORT_OK 1                     /* a login succeeded */
#define REPORT_IDLE 2                   /* its session is over, it waits for another connection */
_Static_assert(sizeof(struct report) <= PIPE_BUF, "a report must be one atomic pipe write");

struct server {
	struct server_hooks hooks;
	struct listener lis[SERVER_MAX_LISTENERS];
	size_t nlis;
	unsigned max_connections, max_per_ip;
	int sigfd;
	int report_rd, report_wr;
	/*
	 * REPORT_IDLE alone, on a pipe of its own that poll does not watch:
	 * the parent reads it when it next needs to know (an accept, a child's
	 * exit, the idle timer) instead of waking at every session's end.
	 * Each child has at most one idle report unread (it then waits for a
	 * connection), so the pipe never fills.
	 */
	int idle_rd, idle_wr;
	int diagfd;                     /* NETLINK_SOCK_DIAG, opened on first use; -2 once it failed */
	uint32_t diagseq;
	struct child *children;
	/* Room for max_connections sessions and as many processes again on their way out. */
	size_t nchildren, child_cap;
	long long recheck_at;           /* monotonic ms: no look at the limit before (one freed nothing) */
	struct failtable fails;
	sigset_t oldmask;
	unsigned reuse_max;             /* connections per session process (0, 1: one) */
	unsigned gen;                   /* moves on when the reuse setting changes */
};

/* In a child: the write ends of the report and idle pipes (-1 in the parent, where nothing reports). */
static int report_fd = -1;
static int idle_fd = -1;
/*
 * The key of login_key, drawn at start-up and inherited by the children.
 * The failure table keeps a keyed hash of each login name rather than the
 * name: a record is 8 bytes whatever the name's length, the long-lived
 * parent never holds what clients typed as a name (a password, at times),
 * and nobody who does not know the key can pick a name whose record is
 * another account's, to clear that account's failures by logging in.
 */
static uint8_t login_hash_key[SIPHASH_KEY_SIZE];

/* The table key of a login name; never FAILTABLE_OTHER. */
static uint64_t
login_key(const char *login)
{
	uint64_t k = siphash24(login_hash_key, login, strlen(login));

	return k == FAILTABLE_OTHER ? k + 1 : k;
}

/* Seconds on the monotonic clock: a failure's age must not jump with the wall clock. */
static long long
now_s(void)
{
	return monotonic_ms() / 1000;
}

struct server *
server_new(const struct server_hooks *hooks)
{
	struct server *srv;
	int pipefd[2];

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		fatalx("out of memory");
	srv->hooks = *hooks;
	srv->sigfd = -1;
	srv->diagfd = -1;
	failtable_init(&srv->fails, SERVER_FAIL_WINDOW_S);
	if (getrandom(login_hash_key, sizeof(login_hash_key), 0) != (ssize_t)sizeof(login_hash_key))
		fatal("getrandom");
	/* Non-blocking both ends: a child never waits on a busy parent, the parent never on a quiet pipe. */
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	srv->report_rd = pipefd[0];
	srv->report_wr = pipefd[1];
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	srv->idle_rd = pipefd[0];
	srv->idle_wr = pipefd[1];
	return srv;
}

void
server_bind(struct server *srv, const char *key, const char *spec, int kind, bool tls)
{
	int fds[LISTEN_MAX_FDS];
	char err[512];
	size_t room = SERVER_MAX_LISTENERS - srv->nlis;
	int n, i;

	if (spec[0] == '\0')
		return;
	n = listen_bind(spec, SERVER_BACKLOG, fds, room < LISTEN_MAX_FDS ? room : LISTEN_MAX_FDS,
			err, sizeof(err));
	if (n == -1)
		fatalx("%s %s", key, err);
	for (i = 0; i < n; i++) {
		/*
		 * Set once here, inherited by every accepted socket (Linux clones the
		 * listener's options): half-open connections (a client that vanished)
		 * are found by the kernel too, and replies are whole when written, so
		 * Nagle would only hold back their tails.  Two system calls less per
		 * connection in the parent, which every connection passes.
		 */
		if (setsockopt(fds[i], SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 }, sizeof(int)) == -1 ||
		    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)) == -1)
			fatal("%s %s: setsockopt", key, spec);
		srv->lis[srv->nlis++] = (struct listener){ .fd = fds[i], .kind = kind, .tls = tls };
	}
	log_info("listening on %s%s", spec, tls ? " (implicit TLS)" : "");
}

void
server_set_limits(struct server *srv, unsigned max_connections, unsigned max_per_ip)
{
	struct child *c;

	/*
	 * The child table holds twice max_connections entries, so accepting
	 * never allocates: a session's slot is free once its connection is
	 * closed, and its process may still be on its way out meanwhile.
	 */
	if (2 * (size_t)max_connections > srv->child_cap) {
		c = realloc(srv->children, 2 * (size_t)max_connections * sizeof(*c));
		if (c == NULL && srv->child_cap == 0)
			fatalx("out of memory");
		if (c == NULL) {
			log_warnx("out of memory for %u connections at once; keeping %zu",
				  max_connections, srv->child_cap / 2);
			max_connections = (unsigned)(srv->child_cap / 2);
		} else {
			srv->children = c;
			srv->child_cap = 2 * (size_t)max_connections;
		}
	}
	srv->max_connections = max_connections;
	srv->max_per_ip = max_per_ip;
}

void
server_report_login(const char *login, bool ok)
{
	struct report r = { .pid = getpid(), .ok = ok ? REPORT_OK : REPORT_FAILED,
			    .login = login_key(login) };

	if (report_fd == -1)
		return;
	/* Non-blocking and smaller than PIPE_BUF: atomic, and never holds the session. */
	(void)!write(report_fd, &r, sizeof(r));
}

long
server_fail_delay_ms(unsigned failures)
{
	long ms = SERVER_FAIL_DELAY_MS;

	if (failures > SERVER_FAIL_FREE) {
		unsigned shift = failures - SERVER_FAIL_FREE;
		ms = shift >= 5 ? SERVER_FAIL_DELAY_MAX_MS : SERVER_FAIL_DELAY_MS << shift;
	}
	return ms > SERVER_FAIL_DELAY_MAX_MS ? SERVER_FAIL_DELAY_MAX_MS : ms;
}

/* Sleep ms milliseconds (restarting after signals). */
static void
server_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* tcp_states.h: the one state in which a connection still carries a session. */
#define SERVER_TCP_ESTABLISHED 1

/*
 * Fill the socket id of sock_diag for the connection between local and
 * peer (src is the local end, as ss(8) shows it).  -1 for a family that
 * is not TCP over IP.
 */
static int
diag_sockid(const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
	    struct inet_diag_sockid *id, uint8_t *family_r)
{
	memset(id, 0, sizeof(*id));
	id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (local->ss_family == AF_INET && peer->ss_family == AF_INET) {
		const struct sockaddr_in *l = (const struct sockaddr_in *)local;
		const struct sockaddr_in *p = (const struct sockaddr_in *)peer;
		id->idiag_sport = l->sin_port;
		id->idiag_dport = p->sin_port;
		memcpy(id->idiag_src, &l->sin_addr, sizeof(l->sin_addr));
		memcpy(id->idiag_dst, &p->sin_addr, sizeof(p->sin_addr));
		*family_r = AF_INET;
		return 0;
	}
	if (local->ss_family == AF_INET6 && peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)local;
		const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)peer;
		id->idiag_sport = l->sin6_port;
		id->idiag_dport = p->sin6_port;
		memcpy(id->idiag_src, &l->sin6_addr, sizeof(l->sin6_addr));
		memcpy(id->idiag_dst, &p->sin6_addr, sizeof(p->sin6_addr));
		*family_r = AF_INET6;
		return 0;
	}
	return -1;
}

/*
 * Is the connection of child c over (closed by either side, or gone)?
 * Asks the kernel for the one socket's TCP state (sock_diag, as ss(8)
 * does, with no descriptor kept in the parent: a copy would hold the
 * connection open after the child closed it).  False when it cannot
 * tell: then the slot stays counted until the child is reaped, as
 * before.
 */
static bool
child_conn_ended(struct server *srv, const struct child *c)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	union {
		struct nlmsghdr nlh;
		char buf[1024];
	} ans;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint8_t family;
	ssize_t n;

	if (srv->diagfd == -2)
		return false;
	memset(&msg, 0, sizeof(msg));
	if (diag_sockid(&c->local, &c->peer, &msg.req.id, &family) == -1)
		return false;
	if (srv->diagfd == -1) {
		srv->diagfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
				     NETLINK_SOCK_DIAG);
		if (srv->diagfd == -1) {
			log_warn("sock_diag: a finished session keeps its slot until it is reaped");
			srv->diagfd = -2;
			return false;
		}
	}
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;   /* one exact socket, no dump */
	msg.nlh.nlmsg_seq = ++srv->diagseq;
	msg.req.sdiag_family = family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~0U;
	if (sendto(srv->diagfd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) != (ssize_t)sizeof(msg))
		return false;
	/* The kernel answers within sendto; older answers (none expected) are skipped by seq. */
	while ((n = recv(srv->diagfd, &ans, sizeof(ans), MSG_DONTWAIT)) > 0) {
		if (!NLMSG_OK(&ans.nlh, (size_t)n) || ans.nlh.nlmsg_seq != srv->diagseq)
			continue;
		if (ans.nlh.nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(&ans.nlh);
			/* No such socket: closed and gone (not even in TIME_WAIT). */
			return ans.nlh.nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error == -ENOENT;
		}
		if (ans.nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    ans.nlh.nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			const struct inet_diag_msg *m = NLMSG_DATA(&ans.nlh);
			return m->idiag_state != SERVER_TCP_ESTABLISHED;
		}
	}
	return false;
}

/* Do a and b name the same TCP end (family, address, port)?  Unknown ends never match. */
static bool
same_end(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/*
 * At the accept of a connection with the ends local and peer: a session
 * whose connection had these very ends is over.  A client on this host
 * reuses the port of a connection in TIME_WAIT at once (tcp_tw_reuse), and
 * the kernel, asked about the old session, would answer for the new one.
 */
static void
end_same_ends(struct server *srv, const struct sockaddr_storage *local,
	      const struct sockaddr_storage *peer)
{
	for (size_t i = 0; i < srv->nchildren; i++) {
		struct child *c = &srv->children[i];

		if (!c->ended && same_end(&c->peer, peer) && same_end(&c->local, local))
			c->ended = true;
	}
}

/*
 * Sessions from addr that still hold a slot, at the accept of a new
 * connection from addr.  A session holds its slot while its connection is
 * established: once the child closed it (after the goodbye) or the client
 * did, the slot is free even though the process may still be on its way
 * out; a child that dies frees its slot at the latest when it is reaped.
 * The kernel is asked only at the cap, so a busy server pays for it only
 * when it would refuse.
 */
static size_t
children_from(struct server *srv, const struct ipaddr *addr, unsigned cap)
{
	size_t i, n = 0;

	for (i = 0; i < srv->nchildren; i++)
		n += !srv->children[i].ended && ipaddr_equal(&srv->children[i].addr, addr);
	if (n < cap)
		return n;
	for (i = 0; i < srv->nchildren; i++) {
		struct child *c = &srv->children[i];

		if (!c->ended && ipaddr_equal(&c->addr, addr) && child_conn_ended(srv, c)) {
			c->ended = true;
			n--;
		}
	}
	return n;
}

/* Let a waiting session process go: it reads the end of its pair and exits (reaped as any child). */
static void
child_retire(struct child *c)
{
	if (c->ctl != -1)
		close(c->ctl);
	c->ctl = -1;
	c->idle = false;
	c->ended = true;
}

static size_t
idle_count(const struct server *srv)
{
	size_t i, n = 0;

	for (i = 0; i < srv->nchildren; i++)
		n += srv->children[i].idle;
	return n;
}

/* A session process says its session is over: its slot is free; keep it waiting, or retire it. */
static void
child_idle(struct server *srv, struct child *c, long long since)
{
	c->ended = true;
	if (c->ctl == -1 || c->gen != srv->gen || srv->reuse_max < 2 ||
	    idle_count(srv) >= SERVER_IDLE_MAX) {
		child_retire(c);
		return;
	}
	c->idle = true;
	c->idle_since = since;
}

/* Retire the processes that have waited too long (all with all): none lingers unused. */
static void
retire_idle(struct server *srv, bool all)
{
	long long now = monotonic_ms();
	size_t i;

	for (i = 0; i < srv->nchildren; i++)
		if (srv->children[i].idle && (all || now - srv->children[i].idle_since >= SERVER_IDLE_MS))
			child_retire(&srv->children[i]);
}

void
server_set_reuse(struct server *srv, unsigned max)
{
	if (max == srv->reuse_max)
		return;
	srv->reuse_max = max;
	srv->gen++;
	retire_idle(srv, true);
}

/* The children that said they are free since the last look (the idle pipe is read, never polled). */
static void
read_idle(struct server *srv)
{
	struct report r;
	size_t i;

	while (read(srv->idle_rd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		for (i = 0; i < srv->nchildren && srv->children[i].pid != r.pid; i++)
			;
		if (i < srv->nchildren && r.ok == REPORT_IDLE)
			child_idle(srv, &srv->children[i], (long long)r.login);
	}
}

static void
read_reports(struct server *srv)
{
	struct report r;
	size_t i;

	read_idle(srv);
	while (read(srv->report_rd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		for (i = 0; i < srv->nchildren && srv->children[i].pid != r.pid; i++)
			;
		if (i == srv->nchildren || r.ok == REPORT_IDLE)
			continue;
		/* A success clears that login's failures from that address, never the others'. */
		if (r.ok == REPORT_OK)
			failtable_succeeded(&srv->fails, &srv->children[i].addr, r.login, now_s());
		else
			failtable_failed(&srv->fails, &srv->children[i].addr, r.login, now_s());
	}
}

/* A child has ended: forget it (and say so when it crashed). */
static void
child_ended(struct server *srv, pid_t pid, int status)
{
	size_t i;

	for (i = 0; i < srv->nchildren; i++) {
		if (srv->children[i].pid != pid)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGKILL) {
			char text[IPADDR_TEXT_MAX];
			ipaddr_format(&srv->children[i].addr, text);
			log_warnx("session for %s (pid %ld) died of signal %d", text, (long)pid,
				  WTERMSIG(status));
		}
		child_retire(&srv->children[i]);
		srv->children[i] = srv->children[--srv->nchildren];
		return;
	}
}

static void
reap(struct server *srv)
{
	pid_t pid;
	int status;

	/* Reports a child sent just before it exited still count for its address. */
	read_reports(srv);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_ended(srv, pid, status);
}

static void
refuse(const struct server *srv, int fd, bool tls, const char *why, const char *text)
{
	const char *msg = srv->hooks.refuse_reply;

	log_warnx("refused %s: %s", text, why);
	/* Best effort, never blocking; a TLS client would not understand it anyway. */
	if (!tls && msg != NULL)
		(void)!send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* In a new child: the signals as they were before server_run, and none of the parent's descriptors. */
static void
child_setup(struct server *srv)
{
	size_t i;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &srv->oldmask, NULL);
	for (i = 0; i < srv->nlis; i++)
		close(srv->lis[i].fd);
	close(srv->sigfd);
	close(srv->report_rd);
	close(srv->idle_rd);
	if (srv->diagfd >= 0)
		close(srv->diagfd);
	report_fd = srv->report_wr;
	idle_fd = srv->idle_wr;
	/* The other sessions' pairs: a copy held here would keep them from ever reading the end. */
	for (i = 0; i < srv->nchildren; i++)
		if (srv->children[i].ctl != -1)
			close(srv->children[i].ctl);
	free(srv->children);
	srv->children = NULL;
	srv->nchildren = srv->child_cap = 0;
}

/* Tell the parent this process is free again, and since when; false when it cannot (then it exits instead). */
static bool
report_idle(void)
{
	struct report r = { .pid = getpid(), .ok = REPORT_IDLE, .login = (uint64_t)monotonic_ms() };

	return idle_fd != -1 && write(idle_fd, &r, sizeof(r)) == (ssize_t)sizeof(r);
}

/* In a new child: serve the first connection, and with reuse on, those the parent hands over after it. */
static noreturn void
child_serve(struct server *srv, int ctl, int fd, struct server_handoff h)
{
	unsigned served = 0;

	if (srv->hooks.serve_many == NULL) {
		srv->hooks.serve(srv->hooks.ctx, fd, &h.addr, h.kind, h.prior_failures);
		_exit(0);
	}
	for (;;) {
		if (!srv->hooks.serve_many(srv->hooks.ctx, fd, &h.addr, h.kind, h.prior_failures) ||
		    ctl == -1 || ++served >= srv->reuse_max || !report_idle() ||
		    worker_recv(ctl, &fd, &h) != 1)
			_exit(0);
	}
}

/* The waiting session process that waited least (its memory the warmest), or NULL. */
static struct child *
idle_child(struct server *srv)
{
	struct child *best = NULL;
	size_t i;

	for (i = 0; i < srv->nchildren; i++)
		if (srv->children[i].idle &&
		    (best == NULL || srv->children[i].idle_since > best->idle_since))
			best = &srv->children[i];
	return best;
}

/*
 * Sessions in progress, at the accept of a new connection: a waiting
 * process is none, nor is one whose connection is over (closed by either
 * side) though its process has not said so or exited yet.  At the limit,
 * the kernel is asked about each session until one is found over; after a
 * look that found none, not again before recheck_at.
 */
static size_t
sessions_in_progress(struct server *srv)
{
	size_t i, n = 0;
	long long now, took;

	for (i = 0; i < srv->nchildren; i++)
		n += !srv->children[i].ended;
	if (n < srv->max_connections)
		return n;
	now = monotonic_ms();
	if (now < srv->recheck_at)
		return n;
	for (i = 0; i < srv->nchildren; i++) {
		struct child *c = &srv->children[i];

		if (!c->ended && child_conn_ended(srv, c)) {
			c->ended = true;
			if (--n < srv->max_connections)
				return n;
		}
	}
	took = monotonic_ms() - now;
	srv->recheck_at = now + took + (took * SERVER_RECHECK_SHARE > SERVER_RECHECK_MS ?
					took * SERVER_RECHECK_SHARE : SERVER_RECHECK_MS);
	return n;
}

/* Give fd to a waiting session process; false when none took it (the caller forks). */
static bool
handoff(struct server *srv, int fd, const struct server_handoff *h,
	const struct sockaddr_storage *local, const struct sockaddr_storage *peer)
{
	struct child *c;

	while ((c = idle_child(srv)) != NULL) {
		if (worker_send(c->ctl, fd, h) == 0) {
			c->idle = false;
			c->ended = false;
			c->addr = h->addr;
			c->local = *local;
			c->peer = *peer;
			return true;
		}
		/* Gone (killed while it waited): its exit is reaped as usual. */
		child_retire(c);
	}
	return false;
}

static void
accept_one(struct server *srv, const struct listener *l)
{
	struct sockaddr_storage ss, local;
	socklen_t sslen = sizeof(ss), locallen = sizeof(local);
	struct ipaddr addr;
	struct server_handoff h;
	char text[IPADDR_TEXT_MAX], why[64];
	pid_t pid;
	int fd, sv[2] = { -1, -1 };

	fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		if (errno == EMFILE || errno == ENFILE)
			server_sleep_ms(100);  /* let children finish rather than spin */
		return;
	}
	if (ipaddr_from_sockaddr((struct sockaddr *)&ss, &addr) == -1) {
		close(fd);
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &locallen) == -1)
		local.ss_family = AF_UNSPEC;    /* then the slot is counted until reaped */
	ipaddr_format(&addr, text);
	/* Sessions that ended since the last look free their slots before the caps are applied. */
	read_reports(srv);
	end_same_ends(srv, &local, &ss);
	if (sessions_in_progress(srv) >= srv->max_connections) {
		snprintf(why, sizeof(why), "at the limit of %u connections", srv->max_connections);
		refuse(srv, fd, l->tls, why, text);
		return;
	}
	if (children_from(srv, &addr, srv->max_per_ip) >= srv->max_per_ip) {
		snprintf(why, sizeof(why), "at the limit of %u connections from one address",
			 srv->max_per_ip);
		refuse(srv, fd, l->tls, why, text);
		return;
	}
	/* SO_KEEPALIVE and TCP_NODELAY come from the listener (server_bind). */
	memset(&h, 0, sizeof(h));
	h.addr = addr;
	h.kind = l->kind;
	h.prior_failures = failtable_count(&srv->fails, &addr, now_s());
	if (handoff(srv, fd, &h, &local, &ss)) {
		close(fd);
		return;
	}
	/* Every entry a session or a process on its way out (waiting ones were retired by handoff). */
	if (srv->nchildren >= srv->child_cap) {
		refuse(srv, fd, l->tls, "no free slot until a session process exits", text);
		return;
	}
	/* Without a pair the process serves this one connection, as with reuse off. */
	if (srv->hooks.serve_many != NULL && srv->reuse_max > 1 && worker_pair(sv) == -1)
		log_warn("socketpair: serving without reuse");

	pid = fork();
	if (pid == -1) {
		log_warn("fork");
		close(fd);
		if (sv[0] != -1)
			close(sv[0]), close(sv[1]);
		return;
	}
	if (pid == 0) {
		if (sv[0] != -1)
			close(sv[0]);
		child_setup(srv);
		child_serve(srv, sv[1], fd, h);
	}
	close(fd);
	if (sv[1] != -1)
		close(sv[1]);
	srv->children[srv->nchildren++] = (struct child){ .pid = pid, .addr = addr,
							  .local = local, .peer = ss,
							  .ctl = sv[0], .gen = srv->gen };
}

static void
stop_children(struct server *srv)
{
	long long deadline = monotonic_ms() + SERVER_STOP_GRACE_MS;
	size_t i;

	for (i = 0; i < srv->nchildren; i++)
		kill(srv->children[i].pid, SIGTERM);
	while (srv->nchildren > 0 && monotonic_ms() < deadline) {
		reap(srv);
		if (srv->nchildren > 0)
			server_sleep_ms(20);
	}
	for (i = 0; i < srv->nchildren; i++)
		kill(srv->children[i].pid, SIGKILL);
	while (srv->nchildren > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == -1)
			break;
		child_ended(srv, pid, status);
	}
}

static void
setup_signals(struct server *srv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

	srv->sigfd = sigfd_open(sigs, sizeof(sigs) / sizeof(sigs[0]), &srv->oldmask);
	/* Writes to a vanished client fail with EPIPE instead of killing the process. */
	signal(SIGPIPE, SIG_IGN);
}

/* Drain the signalfd; false once the server must stop. */
static bool
handle_signals(struct server *srv)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(srv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			if (srv->hooks.reload != NULL)
				srv->hooks.reload(srv->hooks.ctx);
			/* A process that waits holds the settings of before: new ones for the next sessions. */
			srv->gen++;
			read_idle(srv);
			retire_idle(srv, true);
			break;
		case SIGCHLD:
			reap(srv);
			break;
		default:
			run = false;
		}
	}
	return run;
}

void
server_run(struct server *srv)
{
	struct pollfd pfd[SERVER_MAX_LISTENERS + 2];
	size_t i;
	int r;

	if (srv->max_connections == 0 || srv->max_per_ip == 0)
		fatalx("server_run: no connection limits set");
	setup_signals(srv);
	for (;;) {
		size_t n = 0;

		pfd[n++] = (struct pollfd){ .fd = srv->sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = srv->report_rd, .events = POLLIN };
		for (i = 0; i < srv->nlis; i++)
			pfd[n++] = (struct pollfd){ .fd = srv->lis[i].fd, .events = POLLIN };
		/*
		 * Waiting session processes are looked at now and then, to retire the
		 * unused; any child may be one (its idle report is not polled).
		 */
		r = poll(pfd, n, srv->nchildren > 0 ? SERVER_IDLE_MS / 6 : -1);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd[0].revents & POLLIN) && !handle_signals(srv))
			break;
		if (pfd[1].revents & POLLIN)
			read_reports(srv);
		else if (r == 0)
			read_idle(srv);
		retire_idle(srv, false);
		for (i = 0; i < srv->nlis; i++)
			if (pfd[2 + i].revents & POLLIN)
				accept_one(srv, &srv->lis[i]);
	}

	log_info("stopping: %zu session(s) to end", srv->nchildren);
	for (i = 0; i < srv->nlis; i++)
		close(srv->lis[i].fd);
	srv->nlis = 0;
	stop_children(srv);
}

void
server_free(struct server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->nlis; i++)
		close(srv->lis[i].fd);
	if (srv->sigfd != -1)
		close(srv->sigfd);
	close(srv->report_rd);
	close(srv->report_wr);
	close(srv->idle_rd);
	close(srv->idle_wr);
	if (srv->diagfd >= 0)
		close(srv->diagfd);
	free(srv->children);
	free(srv);
}

void
server_login_failed(const char *login, unsigned failures, long long deadline)
{
	server_report_login(login, false);
	server_sleep_ms(monotonic_wait_ms(monotonic_ms(), server_fail_delay_ms(failures), deadline));
}
