/* mx.c - where mail for a domain goes: smtproutes lines, then MX/A/AAAA through c-ares (RFC 5321 5.1, RFC 7505). */
#include "mx.h"

#include <arpa/inet.h>
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ascii.h"
#include "decimal.h"
#include "errfmt.h"
#include "monotonic.h"

#define MX_PORT_DEFAULT 25
#define DNS_PORT 53
/* Longest domain name in text form (RFC 1035 2.3.4, without the final dot). */
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * A domain or host name: labels of letters, digits, '-' and '_' (some
 * real MX hosts have '_'), none empty, none over 63 bytes, at most one
 * final dot.  Strict because the name ends up in logs and in the verdict
 * text that osd-remote prints, one line per recipient.
 */
static bool
valid_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char(s[i]) || ++label > DNS_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

/*
 * "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) or "[2001:db8::1]"
 * into *addr_r.  Returns 0 or -1.
 */
static int
parse_literal(const char *s, size_t len, struct ipaddr *addr_r)
{
	char text[IPADDR_TEXT_MAX + 8];
	const char *in;
	size_t inlen;
	bool tagged;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return -1;
	in = s + 1;
	inlen = len - 2;
	tagged = inlen > 5 && ascii_eq_nocase(in, "IPv6:", 5);
	if (tagged) {
		in += 5;
		inlen -= 5;
	}
	if (inlen == 0 || inlen >= sizeof(text))
		return -1;
	memcpy(text, in, inlen);
	text[inlen] = '\0';
	/* "IPv6:" in front of a dotted quad is not an IPv6 address. */
	if (tagged && strchr(text, ':') == NULL)
		return -1;
	return ipaddr_parse(text, addr_r);
}

/* Decimal 1..65535, digits only.  Returns the port or 0. */
static unsigned
parse_port(const char *s, size_t len)
{
	uint64_t v;

	if (len > 5 || decimal_parse(s, len, 65535, &v) == -1)
		return 0;
	return (unsigned)v;
}

struct route {
	const char *dom;        /* "" (every domain), ".suffix" or "domain" */
	size_t domlen;
	const char *host;       /* "" when the line says "use MX" */
	size_t hostlen;
	unsigned port;
};

/* One smtproutes line into *rt.  Returns NULL, or why the line is malformed. */
static const char *
parse_route(const char *line, struct route *rt)
{
	const char *colon = strchr(line, ':'), *rest, *end;
	struct ipaddr lit;

	if (colon == NULL)
		return "no ':' after the domain";
	rt->dom = line;
	rt->domlen = (size_t)(colon - line);
	if (rt->domlen > 0) {
		const char *d = rt->dom;
		size_t dl = rt->domlen;

		if (d[0] == '.') {
			d++;
			dl--;
		}
		/* A final dot would never match: the domains asked about have none. */
		if (!valid_name(d, dl) || d[dl - 1] == '.')
			return "bad domain";
	}
	rest = colon + 1;
	rt->host = rest;
	rt->port = MX_PORT_DEFAULT;
	if (rest[0] == '[') {
		/* A literal carries its own colons: the port comes after the ']'. */
		const char *close = strchr(rest, ']');

		if (close == NULL)
			return "no ']' after the address literal";
		end = close + 1;
		rt->hostlen = (size_t)(end - rest);
		if (parse_literal(rest, rt->hostlen, &lit) < 0)
			return "bad address literal";
	} else {
		end = rest + strcspn(rest, ":");
		rt->hostlen = (size_t)(end - rest);
		if (rt->hostlen > 0 && !valid_name(rest, rt->hostlen))
			return "bad host name";
	}
	if (rt->hostlen > MX_HOST_MAX)
		return "host too long";
	if (*end == ':') {
		if (rt->hostlen == 0)
			return "a port without a host";
		rt->port = parse_port(end + 1, strlen(end + 1));
		if (rt->port == 0)
			return "bad port (1 to 65535)";
	} else if (*end != '\0') {
		return "junk after the host";
	}
	return NULL;
}

/* The start of line for an error message, without control characters. */
static void
quote_line(const char *line, char *out, size_t size)
{
	/* Room for "..." after what is copied. */
	size_t len = strlen(line), n = ascii_sanitize(out, size - 3, line, len, ASCII_KEEP_PRINTABLE, '?');

	if (n < len)
		memcpy(out + n, "...", 4);
}

int
mx_route(char *const *lines, size_t nlines, const char *domain, char host[MX_HOST_MAX + 1],
	 unsigned *port_r, char *err, size_t errsize)
{
	size_t dlen = domain != NULL ? strlen(domain) : 0, best_score = 0;
	struct route best = { 0 };
	bool found = false;

	if (dlen > 0 && domain[dlen - 1] == '.')
		dlen--;
	/*
	 * Every line is checked, not only up to a match: a typo in a line for
	 * another domain is reported now, not when mail for it arrives.
	 */
	for (size_t i = 0; i < nlines; i++) {
		struct route rt;
		const char *why;
		size_t score;

		if (lines[i] == NULL)
			continue;
		why = parse_route(lines[i], &rt);
		if (why != NULL) {
			char q[80];

			quote_line(lines[i], q, sizeof(q));
			return errfmt(err, errsize, "smtproutes line %zu \"%s\": %s", i + 1, q, why);
		}
		/* Scores: exact > longer suffix > shorter suffix > ":host". */
		if (rt.domlen == 0)
			score = 1;
		else if (rt.dom[0] == '.')
			score = dlen > rt.domlen && ascii_eq_nocase(domain + dlen - rt.domlen, rt.dom, rt.domlen)
				? 1 + rt.domlen : 0;
		else
			score = dlen == rt.domlen && ascii_eq_nocase(domain, rt.dom, dlen) ? SIZE_MAX : 0;
		/* The first of equal lines wins, as the first match in a file does. */
		if (score > best_score) {
			best_score = score;
			best = rt;
			found = true;
		}
	}
	if (!found || best.hostlen == 0)
		return 0;
	memcpy(host, best.host, best.hostlen);
	host[best.hostlen] = '\0';
	*port_r = best.port;
	return 1;
}

static void
swap_hosts(struct mx_host *a, struct mx_host *b)
{
	struct mx_host t = *a;

	*a = *b;
	*b = t;
}

void
mx_order(struct mx_host *hosts, size_t n, unsigned (*rand_fn)(void *), void *ctx)
{
	/* Insertion sort: stable, and n is at most MX_HOSTS_MAX in practice. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && hosts[j - 1].pref > hosts[j].pref; j--)
			swap_hosts(&hosts[j - 1], &hosts[j]);
	/*
	 * Fisher-Yates within each run of equal preferences (RFC 5321 5.1
	 * asks for random order there, to spread the load): for k from the
	 * run's last index down to 1, swap k with rand % (k + 1).  A run of
	 * one draws nothing, so the tests can predict every draw.
	 */
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;

		while (end < n && hosts[end].pref == hosts[start].pref)
			end++;
		for (size_t k = end - start - 1; k > 0; k--) {
			unsigned v = rand_fn != NULL ? rand_fn(ctx) : (unsigned)random();
			size_t j = v % (k + 1);

			if (j != k)
				swap_hosts(&hosts[start + k], &hosts[start + j]);
		}
		start = end;
	}
}

/* --- resolving --- */

struct mx_ctx {
	ares_channel ch;
	int pending;            /* queries sent and not yet called back */
	bool timed_out;
	bool implicit;          /* no MX records: the domain is its own host */
	char poll_error[64];
	/* MX phase */
	int mx_status;          /* ares status of the MX query */
	size_t nmx;             /* MX records collected in r->hosts */
	size_t nnull;           /* records with the root as target */
	size_t nbad;            /* targets that are not host names */
	struct mx_result *r;
	/* address phase: per host, the addresses of each family */
	struct ipaddr a4[MX_HOSTS_MAX][MX_ADDRS_MAX], a6[MX_HOSTS_MAX][MX_ADDRS_MAX];
	size_t n4[MX_HOSTS_MAX], n6[MX_HOSTS_MAX];
	/* the first temporary failure, for the error text */
	int temp_status;
	const char *temp_name;
};

struct lookup {
	struct mx_ctx *ctx;
	int type;               /* T_MX, T_A or T_AAAA */
	size_t host;            /* index into r->hosts for T_A and T_AAAA */
};

/* The ares status codes that say the data does not exist, as opposed to "not now". */
static bool
hard_status(int status)
{
	return status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_EBADNAME;
}

static void
note_temp(struct mx_ctx *ctx, int status, const char *name)
{
	if (ctx->temp_name == NULL) {
		ctx->temp_status = status;
		ctx->temp_name = name;
	}
}

/* Keep the lowest MX_HOSTS_MAX preferences of a longer list. */
static void
add_mx(struct mx_ctx *ctx, const char *name, unsigned pref)
{
	struct mx_result *r = ctx->r;
	size_t len = strlen(name), worst = 0;

	if (len == 0 || strcmp(name, ".") == 0) {
		ctx->nnull++;
		return;
	}
	if (!valid_name(name, len) || len > MX_HOST_MAX) {
		ctx->nbad++;
		return;
	}
	/* The same host twice would only be tried twice: keep its best preference. */
	for (size_t i = 0; i < ctx->nmx; i++) {
		if (strlen(r->hosts[i].name) == len && ascii_eq_nocase(r->hosts[i].name, name, len)) {
			if (pref < r->hosts[i].pref)
				r->hosts[i].pref = pref;
			return;
		}
	}
	if (ctx->nmx == MX_HOSTS_MAX) {
		for (size_t i = 1; i < ctx->nmx; i++)
			if (r->hosts[i].pref > r->hosts[worst].pref)
				worst = i;
		if (r->hosts[worst].pref <= pref)
			return;
	} else {
		worst = ctx->nmx++;
	}
	memset(&r->hosts[worst], 0, sizeof(r->hosts[worst]));
	memcpy(r->hosts[worst].name, name, len + 1);
	r->hosts[worst].pref = pref;
	r->hosts[worst].port = MX_PORT_DEFAULT;
}

static void
mx_answer(struct lookup *lk, int status, unsigned char *abuf, int alen)
{
	struct mx_ctx *ctx = lk->ctx;
	struct ares_mx_reply *mx = NULL;

	if (status == ARES_SUCCESS) {
		status = ares_parse_mx_reply(abuf, alen, &mx);
		/* An answer of only a CNAME parses as ENODATA: no MX, as it should. */
		if (status != ARES_SUCCESS && status != ARES_ENODATA)
			status = ARES_EBADRESP;
	}
	ctx->mx_status = status;
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
		add_mx(ctx, m->host, m->priority);
	if (mx != NULL)
		ares_free_data(mx);
}

static void
addr_answer(struct lookup *lk, int status, unsigned char *abuf, int alen)
{
	struct mx_ctx *ctx = lk->ctx;
	size_t h = lk->host;

	if (status == ARES_SUCCESS && lk->type == T_A) {
		struct ares_addrttl a[MX_ADDRS_MAX];
		int n = MX_ADDRS_MAX;

		status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n && ctx->n4[h] < MX_ADDRS_MAX; i++) {
			struct ipaddr *ip = &ctx->a4[h][ctx->n4[h]++];

			memset(ip, 0, sizeof(*ip));
			ip->family = AF_INET;
			memcpy(ip->bytes, &a[i].ipaddr, 4);
		}
	} else if (status == ARES_SUCCESS) {
		struct ares_addr6ttl a[MX_ADDRS_MAX];
		int n = MX_ADDRS_MAX;

		status = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
		for (int i = 0; status == ARES_SUCCESS && i < n && ctx->n6[h] < MX_ADDRS_MAX; i++) {
			struct sockaddr_in6 sin6;

			/* Through a sockaddr so that ::ffff:a.b.c.d becomes IPv4, as everywhere in osd. */
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			memcpy(&sin6.sin6_addr, &a[i].ip6addr, 16);
			(void)ipaddr_from_sockaddr((const struct sockaddr *)&sin6,
						   &ctx->a6[h][ctx->n6[h]++]);
		}
	}
	/* Not there is not "not now": only the latter may make the whole lookup temporary. */
	if (status != ARES_SUCCESS && !hard_status(status))
		note_temp(ctx, status, ctx->r->hosts[h].name);
}

static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *lk = arg;

	(void)timeouts;
	lk->ctx->pending--;
	if (lk->type == T_MX)
		mx_answer(lk, status, abuf, alen);
	else
		addr_answer(lk, status, abuf, alen);
}

static void
send_query(struct mx_ctx *ctx, struct lookup *lk, const char *name)
{
	lk->ctx = ctx;
	/* Counted before: ares_query may call back at once (no servers, no memory). */
	ctx->pending++;
	ares_query(ctx->ch, name, C_IN, lk->type, query_done, lk);
}

/* Run c-ares until every query is answered or the deadline passes (then cancel the rest). */
static void
run_queries(struct mx_ctx *ctx, long long deadline)
{
	while (ctx->pending > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval maxtv, tv, *tvp;
		long long left = deadline - monotonic_ms();
		unsigned bits;
		int nfds = 0, wait, n;

		if (left <= 0) {
			ctx->timed_out = true;
			break;
		}
		bits = (unsigned)ares_getsock(ctx->ch, socks, ARES_GETSOCK_MAXNUM);
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* Not ARES_GETSOCK_WRITABLE: its 1 << 31 on an int is undefined. */
			short ev = (short)((bits & (1u << i) ? POLLIN : 0) |
					   (bits & (1u << (i + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0));

			if (ev == 0)
				continue;
			pfd[nfds].fd = socks[i];
			pfd[nfds].events = ev;
			pfd[nfds].revents = 0;
			nfds++;
		}
		maxtv.tv_sec = (time_t)(left / 1000);
		maxtv.tv_usec = (suseconds_t)(left % 1000 * 1000);
		tvp = ares_timeout(ctx->ch, &maxtv, &tv);
		/* Round up: a 0 ms wait for a 0.4 ms timer would spin. */
		wait = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
		n = poll(pfd, (nfds_t)nfds, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(ctx->poll_error, sizeof(ctx->poll_error), "poll: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			/* Nothing to read: let c-ares retry or expire its queries. */
			ares_process_fd(ctx->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (int i = 0; i < nfds; i++) {
			short re = pfd[i].revents;

			if (re == 0)
				continue;
			ares_process_fd(ctx->ch,
					re & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
					re & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		}
	}
	if (ctx->pending > 0)
		ares_cancel(ctx->ch);   /* calls back with ARES_ECANCELLED: a temporary failure */
}

/* Text for a temporary failure, after "domain: ". */
static const char *
temp_text(const struct mx_ctx *ctx, int status, char *buf, size_t size, int timeout_ms)
{
	if (ctx->poll_error[0] != '\0')
		return ctx->poll_error;
	if (ctx->timed_out || status == ARES_ECANCELLED) {
		snprintf(buf, size, "DNS lookup timed out after %d ms", timeout_ms);
		return buf;
	}
	if (status == ARES_ETIMEOUT)
		return "no answer from the DNS server (timeout)";
	/* c-ares says this both for a closed port and for REFUSED answers. */
	if (status == ARES_ECONNREFUSED)
		return "the DNS server is unreachable or refuses the query";
	if (status == ARES_ESERVFAIL)
		return "DNS server failure (SERVFAIL)";
	if (status == ARES_EREFUSED)
		return "DNS server refused the query (REFUSED)";
	snprintf(buf, size, "DNS lookup failed: %s", ares_strerror(status));
	return buf;
}

/*
 * The resolver setting: "192.0.2.53:5353", "192.0.2.53", "[2001:db8::53]:53",
 * "[::1]" or a bare IPv6 address.  c-ares wants an address, not a name: a
 * name would need a resolver to find the resolver.
 */
static int
parse_resolver(const char *s, struct ares_addr_port_node *node)
{
	char addr[IPADDR_TEXT_MAX + 1];
	const char *port = NULL, *colon = strrchr(s, ':');
	size_t len;
	unsigned p = DNS_PORT;

	memset(node, 0, sizeof(*node));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -1;
		len = (size_t)(close - s - 1);
		s++;
		port = close[1] == ':' ? close + 2 : NULL;
	} else if (colon != NULL && strchr(s, ':') == colon) {
		len = (size_t)(colon - s);
		port = colon + 1;
	} else {
		len = strlen(s);
	}
	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (port != NULL && (p = parse_port(port, strlen(port))) == 0)
		return -1;
	if (inet_pton(AF_INET, addr, &node->addr.addr4) == 1)
		node->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &node->addr.addr6) == 1)
		node->family = AF_INET6;
	else
		return -1;
	node->udp_port = node->tcp_port = (int)p;
	return 0;
}

static int
open_channel(struct mx_ctx *ctx, const char *resolver, int timeout_ms, char *err, size_t errsize)
{
	static bool lib_ready;
	struct ares_options o;
	struct ares_addr_port_node server;
	int status;

	if (resolver != NULL && resolver[0] != '\0' && parse_resolver(resolver, &server) < 0)
		return errfmt(err, errsize, "resolver \"%.64s\": not address[:port]", resolver);
	if (!lib_ready) {
		status = ares_library_init(ARES_LIB_INIT_ALL);
		if (status != ARES_SUCCESS)
			return errfmt(err, errsize, "c-ares: %s", ares_strerror(status));
		lib_ready = true;
	}
	memset(&o, 0, sizeof(o));
	/* HOSTALIASES and search lists are for interactive users, not for mail routing. */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	/*
	 * c-ares doubles the timeout on each round: 3 tries take 7 times the
	 * first, so an eighth of the budget lets every try happen before our
	 * own deadline cuts the lookup.
	 */
	o.timeout = timeout_ms / 8 > 50 ? timeout_ms / 8 : 50;
	o.tries = 3;
	status = ares_init_options(&ctx->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (status != ARES_SUCCESS)
		return errfmt(err, errsize, "c-ares: %s", ares_strerror(status));
	if (resolver != NULL && resolver[0] != '\0') {
		status = ares_set_servers_ports(ctx->ch, &server);
		if (status != ARES_SUCCESS) {
			ares_destroy(ctx->ch);
			return errfmt(err, errsize, "resolver %s: %s", resolver, ares_strerror(status));
		}
	}
	return 0;
}

static unsigned
os_random(void *unused)
{
	unsigned v;

	(void)unused;
	/* The kernel's pool: the caller need not have seeded random() for the load to spread. */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (unsigned)random();
	return v;
}

/* A and AAAA for hosts[0..nhosts), then the verdict from what resolved. */
static void
resolve_hosts(struct mx_ctx *ctx, long long deadline, int timeout_ms, const char *what)
{
	struct mx_result *r = ctx->r;
	struct lookup lk[2 * MX_HOSTS_MAX];
	bool any = false;
	char buf[160];

	memset(lk, 0, sizeof(lk));
	for (size_t i = 0; i < r->nhosts; i++) {
		lk[2 * i].type = T_A;
		lk[2 * i].host = i;
		lk[2 * i + 1].type = T_AAAA;
		lk[2 * i + 1].host = i;
		send_query(ctx, &lk[2 * i], r->hosts[i].name);
		send_query(ctx, &lk[2 * i + 1], r->hosts[i].name);
	}
	run_queries(ctx, deadline);
	for (size_t i = 0; i < r->nhosts; i++) {
		struct mx_host *h = &r->hosts[i];
		size_t k4 = 0, k6 = 0;

		/*
		 * Alternate the families, IPv4 first: both get tried when a host
		 * has many addresses, and IPv4 still reaches more places.
		 */
		while (h->naddrs < MX_ADDRS_MAX && (k4 < ctx->n4[i] || k6 < ctx->n6[i])) {
			if (k4 < ctx->n4[i])
				h->addrs[h->naddrs++] = ctx->a4[i][k4++];
			if (k6 < ctx->n6[i] && h->naddrs < MX_ADDRS_MAX)
				h->addrs[h->naddrs++] = ctx->a6[i][k6++];
		}
		any |= h->naddrs > 0;
	}
	if (any) {
		r->status = MX_OK;
	} else if (ctx->temp_name != NULL || ctx->timed_out || ctx->poll_error[0] != '\0') {
		const char *name = ctx->temp_name != NULL ? ctx->temp_name : what;
		bool same = strcmp(name, what) == 0;

		r->status = MX_TEMPFAIL;
		snprintf(r->error, sizeof(r->error), "%s: %s%s%s", what, same ? "" : name,
			 same ? "" : ": ", temp_text(ctx, ctx->temp_status, buf, sizeof(buf), timeout_ms));
	} else {
		r->status = MX_NO_DOMAIN;
		snprintf(r->error, sizeof(r->error), "%s: %s", what,
			 r->routed ? "the route's host has no A or AAAA record"
			 : ctx->implicit ? "no MX and no A or AAAA record"
			 : "no MX host has an A or AAAA record");
	}
}

int
mx_resolve(const char *resolver, const char *domain, const char *route_host,
	   unsigned route_port, int timeout_ms, struct mx_result *r)
{
	struct mx_ctx *ctx;
	struct lookup mxq;
	long long deadline;
	char buf[160];
	bool literal;

	memset(r, 0, sizeof(*r));
	r->status = MX_TEMPFAIL;
	if (timeout_ms < 1)
		timeout_ms = 1;
	deadline = monotonic_ms() + timeout_ms;
	if (route_port == 0 || route_port > 65535)
		route_port = MX_PORT_DEFAULT;

	if (route_host != NULL) {
		size_t len = strlen(route_host);
		struct mx_host *h = &r->hosts[0];

		r->routed = true;
		/* qmail takes "192.0.2.1" as well as "[192.0.2.1]": no top-level domain is numeric. */
		literal = route_host[0] == '[' || (len > 0 && ipaddr_parse(route_host, &h->addrs[0]) == 0 &&
						   h->addrs[0].family == AF_INET);
		if (len == 0 || len > MX_HOST_MAX ||
		    (route_host[0] == '[' ? parse_literal(route_host, len, &h->addrs[0]) < 0
					  : !valid_name(route_host, len))) {
			/* A configuration mistake: retry once it is fixed, never bounce. */
			snprintf(r->error, sizeof(r->error), "bad route host \"%.64s\"", route_host);
			return 0;
		}
		memcpy(h->name, route_host, len + 1);
		h->port = route_port;
		r->nhosts = 1;
		if (literal) {
			h->naddrs = 1;
			r->status = MX_OK;
			return 0;
		}
	} else if (domain == NULL || !valid_name(domain, strlen(domain))) {
		r->status = MX_NO_DOMAIN;
		snprintf(r->error, sizeof(r->error), "\"%.64s\" is not a domain name",
			 domain != NULL ? domain : "");
		return 0;
	}

	ctx = calloc(1, sizeof(*ctx));  /* the address arrays are too big for a small stack */
	if (ctx == NULL) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	ctx->r = r;
	if (open_channel(ctx, resolver, timeout_ms, r->error, sizeof(r->error)) < 0) {
		free(ctx);
		return -1;
	}

	if (route_host != NULL) {
		resolve_hosts(ctx, deadline, timeout_ms, route_host);
		goto done;
	}

	memset(&mxq, 0, sizeof(mxq));
	mxq.type = T_MX;
	ctx->mx_status = ARES_ECANCELLED;       /* until the answer says otherwise */
	send_query(ctx, &mxq, domain);
	run_queries(ctx, deadline);
	if (ctx->mx_status == ARES_SUCCESS && ctx->nmx == 0 && ctx->nnull > 0) {
		/* RFC 7505: only root targets (normally the one "0 ."): the domain takes no mail. */
		r->status = MX_NULL;
		snprintf(r->error, sizeof(r->error), "%s: the domain accepts no mail (null MX, RFC 7505)",
			 domain);
		goto done;
	}
	if (ctx->mx_status == ARES_SUCCESS && ctx->nmx == 0) {
		r->status = MX_NO_DOMAIN;
		snprintf(r->error, sizeof(r->error), "%s: no usable MX host (%zu target names not host names)",
			 domain, ctx->nbad);
		goto done;
	}
	if (ctx->mx_status == ARES_SUCCESS) {
		/* Root targets beside real ones break RFC 7505 3: the real ones still take mail. */
		r->nhosts = ctx->nmx;
		mx_order(r->hosts, r->nhosts, os_random, NULL);
	} else if (ctx->mx_status == ARES_ENODATA) {
		/* No MX: the domain itself is the one host (RFC 5321 5.1). */
		struct mx_host *h = &r->hosts[0];
		size_t len = strlen(domain);

		if (len > MX_HOST_MAX)
			len = MX_HOST_MAX;
		memcpy(h->name, domain, len);
		h->name[len] = '\0';
		h->port = MX_PORT_DEFAULT;
		r->nhosts = 1;
		ctx->implicit = true;
	} else if (ctx->mx_status == ARES_ENOTFOUND || ctx->mx_status == ARES_EBADNAME) {
		r->status = MX_NO_DOMAIN;
		snprintf(r->error, sizeof(r->error), "%s: no such domain (NXDOMAIN)", domain);
		goto done;
	} else {
		r->status = MX_TEMPFAIL;
		snprintf(r->error, sizeof(r->error), "%s: MX lookup: %s", domain,
			 temp_text(ctx, ctx->mx_status, buf, sizeof(buf), timeout_ms));
		goto done;
	}
	resolve_hosts(ctx, deadline, timeout_ms, domain);
done:
	ares_destroy(ctx->ch);
	free(ctx);
	return 0;
}
