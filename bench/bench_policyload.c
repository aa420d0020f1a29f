/* bench_policyload.c - load generator for Postfix policy services: N clients keep their connections and send Postfix-style requests back to back (one outstanding each, as Postfix's smtpd does), for a fixed time. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024

struct client {
	int fd;
	char req[2048];
	size_t reqlen, sent;
	char in[512];
	size_t inlen;
	unsigned long n;        /* requests sent by this client */
};

static const char *target;
static unsigned nclients = 50, relay_every = 10;
static double secs = 5, warmup = 1;
static unsigned long ok, dunno, other, reconnects;
static int counting;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_target(void)
{
	int fd;

	if (strncmp(target, "unix:", 5) == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", target + 5);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
			return -1;
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		char host[64];
		const char *colon = strrchr(target, ':');
		int one = 1;

		if (colon == NULL || (size_t)(colon - target) >= sizeof host)
			return -1;
		memcpy(host, target, (size_t)(colon - target));
		host[colon - target] = '\0';
		sin.sin_port = htons((unsigned short)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd == -1 || connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/*
 * The next request of c: what Postfix 3.7 sends at RCPT.  Every
 * relay_every-th request is from 127.0.0.5 (the recorded login), the
 * others from 192.0.2.1..250 (nobody).
 */
static void
next_request(struct client *c, unsigned id)
{
	char addr[32];
	int n;

	if (relay_every > 0 && c->n % relay_every == 0)
		snprintf(addr, sizeof addr, "127.0.0.5");
	else
		snprintf(addr, sizeof addr, "192.0.2.%lu", 1 + (c->n * 7 + id) % 250);
	n = snprintf(c->req, sizeof c->req,
		     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		     "client_address=%s\nclient_name=unknown\nreverse_client_name=unknown\n"
		     "client_port=%u\nhelo_name=laptop%u.example.org\nsender=user%u@example.org\n"
		     "recipient=friend%lu@remote.example\nrecipient_count=0\nqueue_id=\n"
		     "instance=%x.%lx.0\nsize=0\netrn_domain=\nstress=\nsasl_method=\n"
		     "sasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n"
		     "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\n"
		     "encryption_cipher=\nencryption_keysize=0\npolicy_context=\n"
		     "server_address=127.0.0.1\nserver_port=25\ncompatibility_level=3.6\n"
		     "mail_version=3.7.11\n\n",
		     addr, 40000 + id, id, id, c->n, id, c->n);
	c->reqlen = (size_t)n;
	c->sent = 0;
	c->n++;
}

/* Send what is left of the request; -1 on error. */
static int
pump_out(struct client *c)
{
	while (c->sent < c->reqlen) {
		ssize_t n = send(c->fd, c->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);

		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct client cl[MAX_CLIENTS];
	struct epoll_event ee, evs[MAX_CLIENTS];
	unsigned long done = 0;
	double t0, tstart = 0, tend;
	int opt, ep;

	while ((opt = getopt(argc, argv, "c:t:w:r:")) != -1) {
		switch (opt) {
		case 'c': nclients = (unsigned)atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'r': relay_every = (unsigned)atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || nclients == 0 || nclients > MAX_CLIENTS) {
usage:
		fprintf(stderr, "usage: bench-policyload [-c clients] [-t secs] [-w warmup] "
				"[-r relay_every] unix:/path|127.0.0.1:port\n");
		return 2;
	}
	target = argv[optind];
	ep = epoll_create1(0);
	for (unsigned i = 0; i < nclients; i++) {
		if ((cl[i].fd = connect_target()) == -1) {
			fprintf(stderr, "bench-policyload: connect %s: %s\n", target, strerror(errno));
			return 1;
		}
		ee.events = EPOLLIN;
		ee.data.u32 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ee);
		next_request(&cl[i], i);
		if (pump_out(&cl[i]) == -1)
			return 1;
	}
	t0 = now_s();
	tend = t0 + warmup + secs;
	for (;;) {
		double t = now_s();
		int n;

		if (!counting && t >= t0 + warmup) {
			counting = 1;
			tstart = t;
		}
		if (t >= tend)
			break;
		n = epoll_wait(ep, evs, (int)nclients, 100);
		for (int k = 0; k < n; k++) {
			struct client *c = &cl[evs[k].data.u32];
			ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
			char *end;

			if (r <= 0) {
				if (r == -1 && errno == EAGAIN)
					continue;
				/* Closed by the server (a prefork child at its request limit):
				 * Postfix connects again and repeats the request; so do we. */
				close(c->fd);
				if ((c->fd = connect_target()) == -1) {
					fprintf(stderr, "bench-policyload: reconnect %s: %s\n", target,
						strerror(errno));
					return 1;
				}
				reconnects++;
				ee.events = EPOLLIN;
				ee.data.u32 = evs[k].data.u32;
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ee);
				c->inlen = 0;
				c->sent = 0;
				if (pump_out(c) == -1)
					return 1;
				continue;
			}
			c->inlen += (size_t)r;
			c->in[c->inlen] = '\0';
			if ((end = strstr(c->in, "\n\n")) == NULL)
				continue;
			if (counting) {
				done++;
				if (strncmp(c->in, "action=OK\n", 10) == 0)
					ok++;
				else if (strncmp(c->in, "action=DUNNO\n", 13) == 0 ||
					 strncmp(c->in, "action=dunno\n", 13) == 0)
					dunno++;
				else
					other++;
			}
			c->inlen = 0;
			next_request(c, evs[k].data.u32);
			if (pump_out(c) == -1)
				return 1;
		}
	}
	tend = now_s();
	printf("clients=%u secs=%.2f queries=%lu rate=%.0f ok=%lu dunno=%lu other=%lu reconnects=%lu\n",
	       nclients, tend - tstart, done, (double)done / (tend - tstart), ok, dunno, other,
	       reconnects);
	return 0;
}
