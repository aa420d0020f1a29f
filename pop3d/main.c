/* main.c - osd pop3d: bind the listeners, drop root, and serve each connection in its own child process. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "ipaddr.h"
#include "listen.h"
#include "log.h"
#include "monotonic.h"
#include "opensmtp.h"
#include "path.h"
#include "privdrop.h"
#include "session.h"
#include "tls.h"
#include "userdb.h"

/* Stream RETR/TOP output in sends of about this size. */
#define POP3D_STREAM_FLUSH (64 * 1024)
#define POP3D_BACKLOG 128
#define POP3D_MAX_LISTENERS (2 * LISTEN_MAX_FDS)
/* The TLS handshake gets this long at most (less when the idle timeout is shorter). */
#define POP3D_HANDSHAKE_MS 60000
/* Input buffer: room for the longest line the session wants whole, and its CRLF. */
#define POP3D_IN_SIZE 4096
/* Replies are sent once this much is waiting even while pipelined commands remain. */
#define POP3D_OUT_FLUSH 16384
/* Failed logins per address are remembered this long, for throttling. */
#define POP3D_FAIL_WINDOW_S 900
#define POP3D_FAIL_TABLE 1024
/* The delay of a failed login's reply: 1 s, doubling after the third recent failure, up to 30 s. */
#define POP3D_FAIL_DELAY_MS 1000
#define POP3D_FAIL_DELAY_MAX_MS 30000
#define POP3D_FAIL_FREE 3
/* On SIGTERM, children get this long before SIGKILL. */
#define POP3D_STOP_GRACE_MS 5000

struct listener {
	int fd;
	bool tls;                       /* implicit TLS (pop3s_listen) */
};

struct child {
	pid_t pid;
	struct ipaddr addr;
};

struct fail_record {
	struct ipaddr addr;
	unsigned count;
	time_t last;
};

/* What a child tells the parent about a login (one write, atomic on a pipe). */
struct report {
	pid_t pid;
	int ok;                         /* 1 login succeeded, 0 failed */
};

struct server {
	struct osd_conf conf;
	struct listener lis[POP3D_MAX_LISTENERS];
	size_t nlis;
	struct tls_server *tls;
	char opensmtp_dir[PATH_MAX];
	int opensmtp_fd;
	int sigfd;
	int report_rd, report_wr;
	struct child *children;
	size_t nchildren, child_cap;
	struct fail_record fails[POP3D_FAIL_TABLE];
	size_t nfails;
	sigset_t oldmask;
};

/* One connection, in the child. */
struct conn {
	int fd;
	struct tls_conn *tls;
	int timeout_ms;
	char in[POP3D_IN_SIZE];
	size_t start, end;
	bool skipping;                  /* dropping the rest of an overlong line */
};

/* What check_password needs, and what it found out for the caller. */
struct login_ctx {
	const struct server *srv;
	bool no_relay;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd pop3d [-c FILE]\n"
		     "The POP3 server (RFC 1939, APOP, STLS, AUTH PLAIN/LOGIN/CRAM-MD5):\n"
		     "listen on pop3_listen (and pop3s_listen, implicit TLS), drop root to the config's user, serve\n"
		     "each connection in a child process, and record the client address in\n"
		     "open-smtp/ on every successful login.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "SIGHUP re-reads the limits, the user settings and the certificate;\n"
		     "SIGTERM stops.\n");
}

static int
timeout_ms(const struct osd_conf *conf)
{
	return conf->pop3_timeout > INT_MAX / 1000 ? INT_MAX : (int)(conf->pop3_timeout * 1000);
}

static bool
is_loopback(const struct ipaddr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return memcmp(a->bytes, v6_loopback, 16) == 0;
}

/* ----- the child: one session ----- */

/* Send out (all of it) and empty it; 0 or -1 with errno. */
static int
conn_flush(struct conn *c, struct buf *out)
{
	size_t off = 0;

	if (out->len == 0)
		return 0;
	if (c->tls != NULL) {
		if (tls_write_all(c->tls, out->data, out->len, c->timeout_ms) == -1)
			return -1;
		buf_reset(out);
		return 0;
	}
	while (off < out->len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t n = send(c->fd, out->data + off, out->len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		/* A client that never reads is dropped after the idle timeout. */
		n = poll(&pfd, 1, c->timeout_ms);
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (n == -1 && errno != EINTR)
			return -1;
	}
	buf_reset(out);
	return 0;
}

/* Read what is there into c->in, waiting at most the idle timeout; > 0, 0 at EOF, -1 with errno. */
static ssize_t
conn_fill(struct conn *c)
{
	size_t room = sizeof(c->in) - c->end;
	long long deadline = monotonic_ms() + c->timeout_ms;

	if (c->tls != NULL)
		return tls_read(c->tls, c->in + c->end, room, c->timeout_ms);
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		long long left = deadline - monotonic_ms();
		ssize_t n;
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(c->fd, c->in + c->end, room);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
}

/*
 * The next client line in *line_r (*len_r octets, line ending included).
 * Replies waiting in out are sent before the socket is read, so pipelined
 * commands are answered together.  A line longer than SESSION_LINE_MAX is
 * passed cut to SESSION_LINE_MAX + 1 octets (the session only needs to
 * know it is too long) and the rest of it is dropped.  1 a line, 0 EOF,
 * -1 with errno (ETIMEDOUT: the idle timeout).
 */
static int
conn_line(struct conn *c, struct buf *out, const char **line_r, size_t *len_r)
{
	for (;;) {
		char *start = c->in + c->start, *nl;
		size_t avail = c->end - c->start;
		ssize_t n;

		nl = memchr(start, '\n', avail);
		if (c->skipping) {
			if (nl != NULL) {
				c->start += (size_t)(nl - start) + 1;
				c->skipping = false;
				continue;
			}
			c->start = c->end;
		} else if (nl != NULL) {
			size_t len = (size_t)(nl - start) + 1;

			c->start += len;
			*line_r = start;
			*len_r = len > SESSION_LINE_MAX + 2 ? SESSION_LINE_MAX + 1 : len;
			return 1;
		} else if (avail >= SESSION_LINE_MAX + 2) {
			/* No line ending within the bound: too long, whatever follows. */
			*line_r = start;
			*len_r = SESSION_LINE_MAX + 1;
			c->start = c->end;
			c->skipping = true;
			return 1;
		}
		if (out->len > 0 && conn_flush(c, out) == -1)
			return -1;
		if (c->start > 0) {
			size_t old_end = c->end;

			memmove(c->in, c->in + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
			/* Leave no copy of a password behind in the unused part. */
			explicit_bzero(c->in + c->end, old_end - c->end);
		}
		n = conn_fill(c);
		if (n <= 0)
			return (int)n;
		c->end += (size_t)n;
	}
}

/* Forget buffered input (STLS: whatever came before the handshake is not trusted, CVE-2011-0411). */
static void
conn_discard(struct conn *c)
{
	explicit_bzero(c->in, sizeof(c->in));
	c->start = c->end = 0;
	c->skipping = false;
}

static int
check_password(void *vctx, const char *login, const char *password, char **home_r,
	       char *err, size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct userdb_user user;
	int r;

	r = userdb_authenticate(ctx->srv->conf.users_dir, ctx->srv->conf.default_domain, login,
				password, &user, err, errsize);
	if (r == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (r == 0)
		return SESSION_CHECK_BAD;
	if (user.flags & USERDB_NO_POP) {
		snprintf(err, errsize, "POP3 access disabled for this user (vpasswd flag NO_POP)");
		explicit_bzero(&user, sizeof(user));
		return SESSION_CHECK_BAD;
	}
	ctx->no_relay = (user.flags & USERDB_NO_RELAY) != 0;
	*home_r = strdup(user.home);
	explicit_bzero(&user, sizeof(user));
	if (*home_r == NULL) {
		snprintf(err, errsize, "out of memory");
		return SESSION_CHECK_TEMPFAIL;
	}
	return SESSION_CHECK_OK;
}

/*
 * APOP and CRAM-MD5: the cleartext 8th vpasswd field.  Same refusals as
 * check_password (bad name, unknown user, NO_POP), plus a user without a
 * cleartext field.  No crypt(3) here: the session computes a digest
 * against a dummy secret for every refusal, so an unknown user, one
 * without a cleartext password and a wrong digest take about the same
 * time (best effort: a bad login name skips the vpasswd read).
 */
static int
get_secret(void *vctx, const char *login, char **secret_r, char **home_r, char *err,
	   size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct userdb_name name;
	struct userdb_user user;
	char why[256];
	int r;

	if (userdb_split_login(login, ctx->srv->conf.default_domain, &name, why,
			       sizeof(why)) == -1) {
		snprintf(err, errsize, "bad login name: %s", why);
		return SESSION_CHECK_BAD;
	}
	r = userdb_lookup(ctx->srv->conf.users_dir, &name, &user, err, errsize);
	if (r == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (r == 0) {
		snprintf(err, errsize, "unknown user");
		return SESSION_CHECK_BAD;
	}
	r = SESSION_CHECK_BAD;
	if (user.flags & USERDB_NO_POP) {
		snprintf(err, errsize, "POP3 access disabled for this user (vpasswd flag NO_POP)");
	} else if (user.cleartext[0] == '\0') {
		snprintf(err, errsize, "no cleartext password in vpasswd");
	} else {
		*secret_r = strdup(user.cleartext);
		*home_r = strdup(user.home);
		r = SESSION_CHECK_OK;
		if (*secret_r == NULL || *home_r == NULL) {
			snprintf(err, errsize, "out of memory");
			r = SESSION_CHECK_TEMPFAIL;
		} else {
			ctx->no_relay = (user.flags & USERDB_NO_RELAY) != 0;
		}
	}
	explicit_bzero(&user, sizeof(user));
	return r;
}

static void
report(const struct server *srv, bool ok)
{
	struct report r = { .pid = getpid(), .ok = ok };

	/* Non-blocking and smaller than PIPE_BUF: atomic, and never holds the session. */
	(void)!write(srv->report_wr, &r, sizeof(r));
}

static void
record_login(const struct server *srv, const struct ipaddr *addr, const char *text)
{
	if (opensmtp_record_at(srv->opensmtp_fd, addr) == 0)
		return;
	/* The folder may have been removed and made anew since the start. */
	if (opensmtp_record(srv->opensmtp_dir, addr) == 0)
		return;
	if (errno == ENOENT && path_mkdirs(srv->opensmtp_dir, 0755) == 0 &&
	    opensmtp_record(srv->opensmtp_dir, addr) == 0)
		return;
	log_warn("%s: cannot record the login in %s", text, srv->opensmtp_dir);
}

static void
delay_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long
fail_delay(unsigned failures)
{
	long ms = POP3D_FAIL_DELAY_MS;

	if (failures > POP3D_FAIL_FREE) {
		unsigned shift = failures - POP3D_FAIL_FREE;
		ms = shift >= 5 ? POP3D_FAIL_DELAY_MAX_MS : POP3D_FAIL_DELAY_MS << shift;
	}
	return ms > POP3D_FAIL_DELAY_MAX_MS ? POP3D_FAIL_DELAY_MAX_MS : ms;
}

static void
fmt_octets(char *out, size_t size, unsigned long n, uint64_t octets)
{
	snprintf(out, size, "%lu/%llu", n, (unsigned long long)octets);
}

/* Serve one connection to its end and exit; runs in the child. */
static noreturn void
serve(const struct server *srv, int fd, const struct ipaddr *addr, bool implicit_tls,
      unsigned prior_failures)
{
	struct session_config cfg;
	struct login_ctx ctx = { .srv = srv };
	struct conn *c;
	struct session *s;
	struct buf out;
	char text[IPADDR_TEXT_MAX], err[256], tlsinfo[96] = "no", retr[48], dele[48];
	char hostname[256] = "";
	const struct session_stats *st;
	const char *end = "closed", *line = NULL;
	unsigned failures = 0, act;
	bool logged_in = false, was_quit;
	size_t len = 0;
	int flags, r;

	ipaddr_format(addr, text);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatalx("%s: out of memory", text);
	c->fd = fd;
	c->timeout_ms = timeout_ms(&srv->conf);
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatal("%s: fcntl", text);

	if (implicit_tls) {
		int hs = c->timeout_ms < POP3D_HANDSHAKE_MS ? c->timeout_ms : POP3D_HANDSHAKE_MS;

		if ((c->tls = tls_accept(srv->tls, fd, hs, err, sizeof(err))) == NULL) {
			log_info("session: addr=%s tls=failed end=handshake (%s)", text, err);
			_exit(0);
		}
		tls_describe(c->tls, tlsinfo, sizeof(tlsinfo));
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_available = srv->tls != NULL;
	cfg.tls_active = implicit_tls;
	cfg.client_loopback = srv->conf.pop3_loopback_plaintext && is_loopback(addr);
	cfg.plaintext_allowed = srv->conf.pop3_plaintext;
	cfg.ctx = &ctx;
	cfg.check_password = check_password;
	cfg.get_secret = get_secret;
	/*
	 * Accepted, not advertised: curl and other clients pick an advertised
	 * CRAM-MD5 over PLAIN and do not fall back, and most users (osd user
	 * add) have no cleartext password for it.
	 */
	cfg.advertise_cram_md5 = false;
	if (gethostname(hostname, sizeof(hostname) - 1) == 0 && hostname[0] != '\0')
		cfg.hostname = hostname;
	s = session_new(&cfg);
	/* Bounded: the longest reply is a UIDL/LIST of MAILDIR_MAX_MESSAGES lines. */
	buf_init(&out, 0);
	session_greeting(s, &out);

	for (;;) {
		r = conn_line(c, &out, &line, &len);
		if (r == 0) {
			end = "dropped";
			break;
		}
		if (r == -1) {
			if (errno == ETIMEDOUT) {
				end = "timeout";
				session_timeout(s, &out);
				(void)conn_flush(c, &out);
			} else {
				end = "io-error";
			}
			break;
		}
		was_quit = len >= 4 && strncasecmp(line, "QUIT", 4) == 0;
		act = session_input_line(s, line, len, &out);
		/* The line may have carried a password (PASS, AUTH, a SASL response). */
		explicit_bzero((char *)line, len);
		if (act & SESSION_ACT_AUTH_FAILED) {
			failures++;
			log_info("login failed: addr=%s user=%s: %s", text, session_user(s),
				 session_error(s));
			report(srv, false);
			/* Slow down password guessing: the reply waits, longer after repeated failures. */
			delay_ms(fail_delay(prior_failures + failures));
		}
		if (act & SESSION_ACT_AUTH_OK) {
			logged_in = true;
			report(srv, true);
			if (ctx.no_relay) {
				log_info("login: addr=%s user=%s (no-relay: not recorded)", text,
					 session_user(s));
			} else {
				record_login(srv, addr, text);
				log_info("login: addr=%s user=%s recorded", text, session_user(s));
			}
		}
		if (act & SESSION_ACT_ERROR)
			log_warnx("addr=%s user=%s: %s", text, session_user(s), session_error(s));
		if (act & SESSION_ACT_STREAM) {
			unsigned more = 0;
			bool wfail = false;

			/*
			 * Bounded memory: at most POP3D_STREAM_FLUSH bytes wait in
			 * out.  Status line, body and terminator go out together
			 * (conn_line sends the rest before reading): three small
			 * sends made each RETR wait ~40 ms for a delayed ACK.
			 */
			for (;;) {
				if (out.len >= POP3D_STREAM_FLUSH && conn_flush(c, &out) == -1) {
					wfail = true;
					break;
				}
				more = session_stream(s, &out);
				if (!(more & SESSION_ACT_STREAM))
					break;
			}
			if (wfail) {
				end = errno == ETIMEDOUT ? "timeout" : "io-error";
				break;
			}
			if (more & SESSION_ACT_CLOSE) {
				log_warnx("addr=%s user=%s: %s", text, session_user(s), session_error(s));
				(void)conn_flush(c, &out);
				end = "error";
				break;
			}
		}
		if (act & SESSION_ACT_STARTTLS) {
			int hs = c->timeout_ms < POP3D_HANDSHAKE_MS ? c->timeout_ms : POP3D_HANDSHAKE_MS;

			if (conn_flush(c, &out) == -1) {
				end = "io-error";
				break;
			}
			conn_discard(c);
			if ((c->tls = tls_accept(srv->tls, fd, hs, err, sizeof(err))) == NULL) {
				log_info("addr=%s: STLS: %s", text, err);
				end = "tls-failed";
				break;
			}
			tls_describe(c->tls, tlsinfo, sizeof(tlsinfo));
			session_tls_started(s);
		}
		if (act & SESSION_ACT_CLOSE) {
			(void)conn_flush(c, &out);
			end = was_quit ? "quit" : "closed";
			break;
		}
	}

	/* The session's counts are final once it is closed (QUIT ran the UPDATE state). */
	st = session_stats(s);
	fmt_octets(retr, sizeof(retr), st->retrieved, st->retrieved_octets);
	fmt_octets(dele, sizeof(dele), st->deleted, st->deleted_octets);
	log_info("session: addr=%s user=%s login=%s tls=%s end=%s retrieved=%s deleted=%s",
		 text, session_user(s)[0] != '\0' ? session_user(s) : "-",
		 logged_in ? "ok" : failures > 0 ? "failed" : "none", tlsinfo, end, retr, dele);
	session_free(s);
	buf_free(&out);
	tls_close(c->tls);
	close(fd);
	explicit_bzero(c, sizeof(*c));
	free(c);
	_exit(0);
}

/* ----- the parent: listeners, limits, children ----- */

static size_t
children_from(const struct server *srv, const struct ipaddr *addr)
{
	size_t i, n = 0;

	for (i = 0; i < srv->nchildren; i++)
		n += ipaddr_equal(&srv->children[i].addr, addr);
	return n;
}

static struct fail_record *
fail_find(struct server *srv, const struct ipaddr *addr, bool create)
{
	time_t now = time(NULL);
	size_t i, oldest = 0;

	for (i = 0; i < srv->nfails; i++) {
		struct fail_record *f = &srv->fails[i];

		if (now - f->last > POP3D_FAIL_WINDOW_S) {
			/* Forget an old record (swap in the last one). */
			*f = srv->fails[--srv->nfails];
			i--;
			continue;
		}
		if (ipaddr_equal(&f->addr, addr))
			return f;
		if (f->last < srv->fails[oldest].last)
			oldest = i;
	}
	if (!create)
		return NULL;
	if (srv->nfails == POP3D_FAIL_TABLE) {
		/* Full: the least recent record goes. */
		srv->fails[oldest] = srv->fails[--srv->nfails];
	}
	srv->fails[srv->nfails] = (struct fail_record){ .addr = *addr, .last = now };
	return &srv->fails[srv->nfails++];
}

static void
read_reports(struct server *srv)
{
	struct report r;
	size_t i;

	while (read(srv->report_rd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		for (i = 0; i < srv->nchildren && srv->children[i].pid != r.pid; i++)
			;
		if (i == srv->nchildren)
			continue;
		if (r.ok) {
			struct fail_record *f = fail_find(srv, &srv->children[i].addr, false);
			if (f != NULL)
				f->count = 0;
		} else {
			struct fail_record *f = fail_find(srv, &srv->children[i].addr, true);
			f->count++;
			f->last = time(NULL);
		}
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
refuse(int fd, bool tls, const char *why, const char *text)
{
	static const char msg[] = "-ERR [SYS/TEMP] Too many connections, try again later.\r\n";

	log_warnx("refused %s: %s", text, why);
	/* Best effort, never blocking; a TLS client would not understand it anyway. */
	if (!tls)
		(void)!send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
child_setup_signals(const struct server *srv)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &srv->oldmask, NULL);
}

static void
accept_one(struct server *srv, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct ipaddr addr;
	struct fail_record *f;
	char text[IPADDR_TEXT_MAX];
	unsigned prior;
	size_t i;
	pid_t pid;
	int fd, one = 1;

	fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		if (errno == EMFILE || errno == ENFILE)
			delay_ms(100);  /* let children finish rather than spin */
		return;
	}
	if (ipaddr_from_sockaddr((struct sockaddr *)&ss, &addr) == -1) {
		close(fd);
		return;
	}
	ipaddr_format(&addr, text);
	if (srv->nchildren >= srv->conf.pop3_max_connections) {
		refuse(fd, l->tls, "pop3_max_connections reached", text);
		return;
	}
	if (children_from(srv, &addr) >= srv->conf.pop3_max_per_ip) {
		refuse(fd, l->tls, "pop3_max_per_ip reached", text);
		return;
	}
	/* Half-open connections (a client that vanished) are found by the kernel too. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	/* Replies are whole when written; Nagle would only hold back their tails. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	read_reports(srv);
	f = fail_find(srv, &addr, false);
	prior = f != NULL ? f->count : 0;

	pid = fork();
	if (pid == -1) {
		log_warn("fork");
		close(fd);
		return;
	}
	if (pid == 0) {
		child_setup_signals(srv);
		for (i = 0; i < srv->nlis; i++)
			close(srv->lis[i].fd);
		close(srv->sigfd);
		close(srv->report_rd);
		free(srv->children);
		serve(srv, fd, &addr, l->tls, prior);
	}
	close(fd);
	srv->children[srv->nchildren++] = (struct child){ .pid = pid, .addr = addr };
}

static void
bind_spec(struct server *srv, const char *key, const char *spec, bool tls)
{
	int fds[LISTEN_MAX_FDS];
	char err[512];
	int n, i;

	if (spec[0] == '\0')
		return;
	if ((n = listen_bind(spec, POP3D_BACKLOG, fds, LISTEN_MAX_FDS, err, sizeof(err))) == -1)
		fatalx("%s %s", key, err);
	for (i = 0; i < n; i++)
		srv->lis[srv->nlis++] = (struct listener){ .fd = fds[i], .tls = tls };
	log_info("listening on %s%s", spec, tls ? " (implicit TLS)" : "");
}

static struct tls_server *
load_tls(const struct osd_conf *conf, char *err, size_t errsize)
{
	if (conf->tls_cert[0] == '\0' && conf->tls_key[0] == '\0') {
		err[0] = '\0';
		return NULL;
	}
	if (conf->tls_cert[0] == '\0' || conf->tls_key[0] == '\0') {
		snprintf(err, errsize, "tls_cert and tls_key go together");
		return NULL;
	}
	return tls_server_new(conf->tls_cert, conf->tls_key, err, errsize);
}

/* Make the child table hold pop3_max_connections entries. */
static int
grow_children(struct server *srv)
{
	struct child *c;

	if (srv->conf.pop3_max_connections <= srv->child_cap)
		return 0;
	c = realloc(srv->children, srv->conf.pop3_max_connections * sizeof(*c));
	if (c == NULL)
		return -1;
	srv->children = c;
	srv->child_cap = srv->conf.pop3_max_connections;
	return 0;
}

/* SIGHUP: take what can change without new sockets or privileges. */
static void
reload(struct server *srv)
{
	struct osd_conf n;
	struct tls_server *tls;
	char err[1024];

	conf_defaults(&n);
	if (conf_load(&n, srv->conf.path, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: %s (keeping the running configuration)", err);
		return;
	}
	if (strcmp(n.pop3_listen, srv->conf.pop3_listen) != 0 ||
	    strcmp(n.pop3s_listen, srv->conf.pop3s_listen) != 0 ||
	    strcmp(n.user, srv->conf.user) != 0 || strcmp(n.state_dir, srv->conf.state_dir) != 0)
		log_warnx("SIGHUP: listeners, user and state_dir change only on a restart");
	if (srv->tls != NULL) {
		tls = load_tls(&n, err, sizeof(err));
		if (tls != NULL) {
			tls_server_free(srv->tls);
			srv->tls = tls;
		} else {
			log_warnx("SIGHUP: TLS: %s (keeping the loaded certificate)",
				  err[0] != '\0' ? err : "no tls_cert any more");
		}
	}
	srv->conf.pop3_timeout = n.pop3_timeout;
	srv->conf.pop3_max_connections = n.pop3_max_connections;
	srv->conf.pop3_max_per_ip = n.pop3_max_per_ip;
	srv->conf.pop3_plaintext = n.pop3_plaintext;
	srv->conf.pop3_loopback_plaintext = n.pop3_loopback_plaintext;
	memcpy(srv->conf.users_dir, n.users_dir, sizeof(n.users_dir));
	memcpy(srv->conf.default_domain, n.default_domain, sizeof(n.default_domain));
	if (grow_children(srv) == -1) {
		log_warnx("SIGHUP: out of memory for pop3_max_connections %u; keeping %zu",
			  srv->conf.pop3_max_connections, srv->child_cap);
		srv->conf.pop3_max_connections = (unsigned)srv->child_cap;
	}
	log_info("SIGHUP: configuration re-read");
}

static void
stop_children(struct server *srv)
{
	long long deadline = monotonic_ms() + POP3D_STOP_GRACE_MS;
	size_t i;

	for (i = 0; i < srv->nchildren; i++)
		kill(srv->children[i].pid, SIGTERM);
	while (srv->nchildren > 0 && monotonic_ms() < deadline) {
		reap(srv);
		if (srv->nchildren > 0)
			delay_ms(20);
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

static int
setup_signals(struct server *srv)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &srv->oldmask) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	/* Writes to a vanished client fail with EPIPE instead of killing the process. */
	signal(SIGPIPE, SIG_IGN);
	return fd;
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
			reload(srv);
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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	static struct server srv;
	const char *conf_arg = NULL;
	const char *drop_user;
	struct pollfd pfd[POP3D_MAX_LISTENERS + 2];
	char err[1024];
	int opt, pipefd[2];
	size_t i;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("pop3d", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	cli_load_conf(&srv.conf, conf_arg);
	if (log_init("osd-pop3d", strcmp(srv.conf.log, "syslog") == 0, srv.conf.log_facility) < 0) {
		cli_error("pop3d", "log_facility %s: unknown", srv.conf.log_facility);
		return 111;
	}
	if (srv.conf.pop3_listen[0] == '\0' && srv.conf.pop3s_listen[0] == '\0')
		fatalx("neither pop3_listen nor pop3s_listen is set: nothing to listen on");

	/* Read the key while still root: it is normally readable by root only. */
	srv.tls = load_tls(&srv.conf, err, sizeof(err));
	if (srv.tls == NULL && err[0] != '\0')
		fatalx("%s", err);
	if (srv.tls == NULL && srv.conf.pop3s_listen[0] != '\0')
		fatalx("pop3s_listen %s needs tls_cert and tls_key", srv.conf.pop3s_listen);

	bind_spec(&srv, "pop3_listen", srv.conf.pop3_listen, false);
	bind_spec(&srv, "pop3s_listen", srv.conf.pop3s_listen, true);

	if (conf_opensmtp_dir(&srv.conf, srv.opensmtp_dir, sizeof(srv.opensmtp_dir)) == -1)
		fatalx("state_dir: path too long");
	if (path_mkdirs(srv.opensmtp_dir, 0755) == -1)
		fatal("%s", srv.opensmtp_dir);

	/* Every mailbox and vpasswd belongs to mail_user: run as it when no user is given. */
	drop_user = srv.conf.user[0] != '\0' ? srv.conf.user : srv.conf.mail_user;
	if (privdrop(drop_user, srv.conf.group, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if ((srv.opensmtp_fd = open(srv.opensmtp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", srv.opensmtp_dir);

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	srv.report_rd = pipefd[0];
	srv.report_wr = pipefd[1];
	if (grow_children(&srv) == -1)
		fatalx("out of memory");
	srv.sigfd = setup_signals(&srv);
	log_info("ready: max %u connections, %u per address, idle timeout %lds, TLS %s",
		 srv.conf.pop3_max_connections, srv.conf.pop3_max_per_ip, srv.conf.pop3_timeout,
		 srv.tls != NULL ? "on" : "off");

	for (;;) {
		size_t n = 0;

		pfd[n++] = (struct pollfd){ .fd = srv.sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = srv.report_rd, .events = POLLIN };
		for (i = 0; i < srv.nlis; i++)
			pfd[n++] = (struct pollfd){ .fd = srv.lis[i].fd, .events = POLLIN };
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd[0].revents & POLLIN) && !handle_signals(&srv))
			break;
		if (pfd[1].revents & POLLIN)
			read_reports(&srv);
		for (i = 0; i < srv.nlis; i++)
			if (pfd[2 + i].revents & POLLIN)
				accept_one(&srv, &srv.lis[i]);
	}

	log_info("stopping: %zu session(s) to end", srv.nchildren);
	for (i = 0; i < srv.nlis; i++)
		close(srv.lis[i].fd);
	stop_children(&srv);
	tls_server_free(srv.tls);
	free(srv.children);
	close(srv.opensmtp_fd);
	log_info("stopped");
	return 0;
}
