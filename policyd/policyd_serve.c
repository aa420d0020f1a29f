/* policyd_serve.c - osd policyd's listeners, its one epoll loop over every Postfix connection, and the answer to each request. */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "ipaddr.h"
#include "log.h"
#include "monotonic.h"
#include "policyd.h"
#include "sigfd.h"
#include "xmalloc.h"

#define LISTEN_BACKLOG 256
#define IN_INITIAL 2048                 /* a Postfix request is about 1 KiB */
#define OUT_MAX (64 * 1024)             /* replies not yet sent: a client that does not read is dropped */
#define READS_PER_EVENT 16              /* then the other connections get their turn */
#define SWEEP_MS 1000                   /* idle connections are looked for this often */
#define WARN_EVERY_MS 60000             /* a recurring problem is logged at most this often */

/* What an epoll event points at. */
enum ev_kind { EV_LISTENER, EV_SIGNAL, EV_CONN };

struct ev {
	enum ev_kind kind;
	int fd;
	bool unix_socket;
};

struct pconn {
	struct ev ev;                   /* first: epoll's pointer is to it */
	char *in;                       /* received octets not yet answered */
	size_t len, cap;
	struct policy_scan scan;
	struct buf out;                 /* replies not yet sent */
	bool want_out;                  /* EPOLLOUT is on */
	long long deadline;             /* the next request must be complete by then (monotonic ms) */
	unsigned long requests;
	char peer[IPADDR_TEXT_MAX + 8];
	struct pconn *prev, *next;
};

struct loop {
	struct policyd *d;
	int ep;
	struct ev sig;
	struct ev lev[POLICYD_LISTENERS_MAX];
	struct pconn *conns;
	unsigned nconns;
	bool stop, paused;              /* paused: listeners off after EMFILE, until the next sweep */
	bool table_fresh;               /* relay.cdb checked in this round of events */
	long long now, next_sweep;
	long long warned_full, warned_accept;
	unsigned long refused;
};

/* Log a recurring warning only when the last one is WARN_EVERY_MS old. */
static bool
warn_due(long long *last, long long now)
{
	if (*last != 0 && now - *last < WARN_EVERY_MS)
		return false;
	*last = now;
	return true;
}

static void
add_listener(struct policyd *d, int fd, bool is_unix, const char *spec)
{
	if (d->nlisteners >= POLICYD_LISTENERS_MAX)
		fatalx("policy_listen: more than %d sockets (at %s)", POLICYD_LISTENERS_MAX, spec);
	d->listener_unix[d->nlisteners] = is_unix;
	d->listeners[d->nlisteners++] = fd;
}

void
policyd_bind(struct policyd *d, uid_t uid, gid_t gid)
{
	char list[sizeof d->conf.policy_listen], err[PATH_MAX + 256];
	char *tok, *save = NULL;
	int fds[LISTEN_MAX_FDS], n;

	memcpy(list, d->conf.policy_listen, sizeof list);
	for (tok = strtok_r(list, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
		if (strncmp(tok, "unix:", 5) == 0) {
			/* 0660: Postfix connects through the group (policy_socket_group). */
			int fd = listen_bind_unix(tok + 5, LISTEN_BACKLOG, 0660, uid, gid, err,
						  sizeof err);

			if (fd == -1)
				fatalx("policy_listen: %s", err);
			add_listener(d, fd, true, tok);
			continue;
		}
		if ((n = listen_bind(tok, LISTEN_BACKLOG, fds, LISTEN_MAX_FDS, err, sizeof err)) == -1)
			fatalx("policy_listen: %s", err);
		for (int i = 0; i < n; i++)
			add_listener(d, fds[i], false, tok);
	}
	if (d->nlisteners == 0)
		fatalx("policy_listen is empty: nothing to listen on");
}

const char *
policyd_answer(struct policyd *d, const struct policy_request *req, const char *peer, bool refresh)
{
	const char *dflt = d->conf.policy_default_action;
	struct relay_decision dec;

	if (!req->access_policy) {
		log_warnx("%s: not a request=smtpd_access_policy request; answering %s", peer, dflt);
		return dflt;
	}
	/* client_address is the only input trusted: Postfix saw the connection. */
	if (!req->has_client || !req->client_ok) {
		log_warnx("%s: %s%s%s; answering %s", peer,
			  req->has_client ? "client_address=" : "request without client_address",
			  req->client_text, req->has_client ? " is not an IP address" : "", dflt);
		return dflt;
	}
	/* An error keeps the table it had (whole, as the watcher writes whole tables). */
	if (refresh && relay_table_refresh(&d->table, d->relay_cdb) == -1)
		log_warn("%s (answering from the table already open)", d->relay_cdb);
	if (relay_decide_cdb(&d->st, relay_table_cdb(&d->table), &req->client, &dec) == -1) {
		log_warn("%s: client %s: %s", peer, req->client_text, d->relay_cdb);
		return POLICYD_TEMPFAIL_ACTION;
	}
	log_debug("%s: client=%s state=%s relay=%s", peer, req->client_text, req->protocol_state,
		  dec.relay ? (dec.dynamic ? "pop-before-smtp" : "rule") : "no");
	return dec.relay ? d->conf.policy_action : dflt;
}

static void
conn_close(struct loop *lp, struct pconn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		lp->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	close(c->ev.fd);        /* also takes it out of the epoll set */
	buf_free(&c->out);
	free(c->in);
	free(c);
	lp->nconns--;
}

/* Send what is waiting; EPOLLOUT while the client does not take it.  0, or -1: close. */
static int
conn_flush(struct loop *lp, struct pconn *c)
{
	struct epoll_event ee;
	size_t off = 0;
	ssize_t n;

	while (off < c->out.len) {
		n = send(c->ev.fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (errno == EPIPE || errno == ECONNRESET)
			log_debug("%s: gone before its answer", c->peer);
		else
			log_info("%s: send: %s; closing", c->peer, strerror(errno));
		return -1;
	}
	if (off > 0) {
		memmove(c->out.data, c->out.data + off, c->out.len - off);
		c->out.len -= off;
		c->out.data[c->out.len] = '\0';
	}
	if ((c->out.len > 0) != c->want_out) {
		c->want_out = c->out.len > 0;
		ee.events = c->want_out ? EPOLLOUT : EPOLLIN;
		ee.data.ptr = &c->ev;
		if (epoll_ctl(lp->ep, EPOLL_CTL_MOD, c->ev.fd, &ee) == -1) {
			log_warn("%s: epoll_ctl", c->peer);
			return -1;
		}
	}
	return 0;
}

/* Answer every whole request in the buffer.  0, or -1: a bad request, close. */
static int
conn_requests(struct loop *lp, struct pconn *c)
{
	struct policy_request req;
	const char *error;
	size_t end;
	int r;

	while ((r = policy_scan(&c->scan, c->in, c->len, &end, &error)) == 1) {
		if (policy_parse(c->in, end, &req, &error) == -1)
			break;
		if (policy_reply(&c->out, policyd_answer(lp->d, &req, c->peer, !lp->table_fresh)) == -1) {
			log_warnx("%s: does not read its answers; closing", c->peer);
			return -1;
		}
		lp->table_fresh = true;
		c->requests++;
		memmove(c->in, c->in + end, c->len - end);
		c->len -= end;
		c->deadline = monotonic_after(lp->now, lp->d->conf.policy_timeout * 1000);
	}
	if (r == 0)
		return 0;
	/* Not Postfix, or not well: say what, and end it (never guess at a request). */
	log_warnx("%s: bad request after %lu good ones: %s; closing", c->peer, c->requests, error);
	return -1;
}

/* The client has something for us (or went away).  0, or -1: close. */
static int
conn_input(struct loop *lp, struct pconn *c)
{
	for (int i = 0; i < READS_PER_EVENT && c->out.len == 0; i++) {
		ssize_t n;

		if (c->len == c->cap) {
			/* policy_scan refused a request of POLICY_REQUEST_MAX: cap stays below that. */
			c->cap = c->cap * 2 > POLICY_REQUEST_MAX ? POLICY_REQUEST_MAX : c->cap * 2;
			c->in = xreallocarray(c->in, c->cap, 1);
		}
		n = read(c->ev.fd, c->in + c->len, c->cap - c->len);
		if (n == 0) {
			if (c->len > 0)
				log_info("%s: closed in the middle of a request", c->peer);
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_info("%s: read: %s; closing", c->peer, strerror(errno));
			return -1;
		}
		c->len += (size_t)n;
		if (conn_requests(lp, c) == -1)
			return -1;
		if (conn_flush(lp, c) == -1)
			return -1;
	}
	return 0;
}

static void
set_listeners(struct loop *lp, bool on)
{
	struct epoll_event ee;

	for (size_t i = 0; i < lp->d->nlisteners; i++) {
		ee.events = on ? EPOLLIN : 0;
		ee.data.ptr = &lp->lev[i];
		if (epoll_ctl(lp->ep, EPOLL_CTL_MOD, lp->lev[i].fd, &ee) == -1)
			log_warn("epoll_ctl (listener)");
	}
	lp->paused = !on;
}

static void
accept_all(struct loop *lp, const struct ev *l)
{
	struct sockaddr_storage ss;
	struct epoll_event ee;
	struct ipaddr addr;
	struct pconn *c;
	socklen_t sl;
	int fd;

	for (;;) {
		sl = sizeof ss;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: without a pause the loop would spin on it. */
				if (warn_due(&lp->warned_accept, lp->now))
					log_warn("accept (pausing new connections for a second)");
				set_listeners(lp, false);
			}
			return;
		}
		if (lp->nconns >= lp->d->conf.policy_max_connections) {
			lp->refused++;
			if (warn_due(&lp->warned_full, lp->now))
				log_warnx("policy_max_connections (%u) reached: %lu connection(s) refused "
					  "so far", lp->d->conf.policy_max_connections, lp->refused);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->ev.kind = EV_CONN;
		c->ev.fd = fd;
		c->cap = IN_INITIAL;
		c->in = xmalloc(c->cap);
		buf_init(&c->out, OUT_MAX);
		c->deadline = monotonic_after(lp->now, lp->d->conf.policy_timeout * 1000);
		if (l->unix_socket || ipaddr_from_sockaddr((struct sockaddr *)&ss, &addr) == -1)
			snprintf(c->peer, sizeof c->peer, "unix");
		else
			ipaddr_format(&addr, c->peer);
		ee.events = EPOLLIN;
		ee.data.ptr = &c->ev;
		if (epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
			log_warn("epoll_ctl (connection)");
			close(fd);
			buf_free(&c->out);
			free(c->in);
			free(c);
			continue;
		}
		c->next = lp->conns;
		if (lp->conns != NULL)
			lp->conns->prev = c;
		lp->conns = c;
		lp->nconns++;
	}
}

/* Close the connections whose request did not come in time; resume accepting. */
static void
sweep(struct loop *lp)
{
	struct pconn *c, *next;

	for (c = lp->conns; c != NULL; c = next) {
		next = c->next;
		if (lp->now < c->deadline)
			continue;
		if (c->len > 0)
			log_info("%s: request not complete within %lds; closing", c->peer,
				 lp->d->conf.policy_timeout);
		else
			log_debug("%s: idle for %lds; closing", c->peer, lp->d->conf.policy_timeout);
		conn_close(lp, c);
	}
	if (lp->paused)
		set_listeners(lp, true);
	lp->next_sweep = monotonic_after(lp->now, SWEEP_MS);
}

/* SIGHUP: what can change without new sockets or privileges. */
static void
reload(struct policyd *d)
{
	struct osd_conf n;
	char err[1024];

	if (daemon_reload(&d->conf, &n, &d->tls) == -1)
		return;
	memcpy(d->conf.rules, n.rules, sizeof n.rules);
	if (rules_file_refresh(&d->rules, d->conf.rules, err, sizeof err) == -1)
		log_warnx("SIGHUP: rules: %s (keeping the rules in force)", err);
	memcpy(d->conf.policy_action, n.policy_action, sizeof n.policy_action);
	memcpy(d->conf.policy_default_action, n.policy_default_action,
	       sizeof n.policy_default_action);
	d->conf.policy_timeout = n.policy_timeout;
	d->conf.policy_max_connections = n.policy_max_connections;
	d->conf.relay_expire = n.relay_expire;
	d->conf.relay_ipv6_prefix = n.relay_ipv6_prefix;
	d->st.relay_expire = n.relay_expire;
	d->st.ipv6_prefix = n.relay_ipv6_prefix;
	log_info("SIGHUP: configuration re-read (action %s, default %s)", d->conf.policy_action,
		 d->conf.policy_default_action);
}

static void
signals(struct loop *lp)
{
	struct signalfd_siginfo si;

	while (read(lp->sig.fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP)
			reload(lp->d);
		else
			lp->stop = true;
	}
}

void
policyd_run(struct policyd *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct epoll_event ee, evs[256];
	struct loop lp;

	memset(&lp, 0, sizeof lp);
	lp.d = d;
	if ((lp.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	lp.sig = (struct ev){ .kind = EV_SIGNAL, .fd = sigfd_open(sigs, 3, NULL) };
	ee.events = EPOLLIN;
	ee.data.ptr = &lp.sig;
	if (epoll_ctl(lp.ep, EPOLL_CTL_ADD, lp.sig.fd, &ee) == -1)
		fatal("epoll_ctl (signals)");
	for (size_t i = 0; i < d->nlisteners; i++) {
		lp.lev[i] = (struct ev){ .kind = EV_LISTENER, .fd = d->listeners[i],
					 .unix_socket = d->listener_unix[i] };
		ee.data.ptr = &lp.lev[i];
		if (epoll_ctl(lp.ep, EPOLL_CTL_ADD, d->listeners[i], &ee) == -1)
			fatal("epoll_ctl (listener)");
	}
	lp.now = monotonic_ms();
	lp.next_sweep = monotonic_after(lp.now, SWEEP_MS);
	while (!lp.stop) {
		int n = epoll_wait(lp.ep, evs, (int)(sizeof evs / sizeof evs[0]),
				   monotonic_wait_ms(lp.now, SWEEP_MS, lp.next_sweep));

		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		lp.now = monotonic_ms();
		/*
		 * relay.cdb is looked at (one stat) once per round, before the
		 * first answer of the round: every request answered in it came
		 * in before the round began, so none is answered from a table
		 * older than its own arrival.
		 */
		lp.table_fresh = false;
		for (int i = 0; i < n; i++) {
			struct ev *e = evs[i].data.ptr;

			if (e->kind == EV_SIGNAL) {
				signals(&lp);
			} else if (e->kind == EV_LISTENER) {
				accept_all(&lp, e);
			} else {
				struct pconn *c = (struct pconn *)(void *)e;
				int r = (evs[i].events & EPOLLOUT) ? conn_flush(&lp, c) : 0;

				/* Error and hang-up come with EPOLLIN's read: it says which. */
				if (r == 0 && !c->want_out &&
				    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					r = conn_input(&lp, c);
				else if (r == 0 && (evs[i].events & (EPOLLHUP | EPOLLERR)))
					r = -1;
				if (r == -1)
					conn_close(&lp, c);
			}
		}
		if (lp.now >= lp.next_sweep)
			sweep(&lp);
	}
	while (lp.conns != NULL)
		conn_close(&lp, lp.conns);
	close(lp.sig.fd);
	close(lp.ep);
}
