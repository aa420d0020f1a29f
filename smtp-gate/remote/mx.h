/* mx.h - where mail for a domain goes: smtproutes, then MX records through c-ares (RFC 5321 section 5.1, RFC 7505). */
#ifndef OSD_SMTP_MX_H
#define OSD_SMTP_MX_H

#include <stdbool.h>
#include <stddef.h>

#include "ipaddr.h"

#define MX_HOST_MAX 255
/* Addresses kept per host (A and AAAA together). */
#define MX_ADDRS_MAX 8
/* MX hosts kept per domain. */
#define MX_HOSTS_MAX 16

struct mx_host {
	char name[MX_HOST_MAX + 1];     /* "mx1.example.net", or "[192.0.2.1]" for a literal */
	unsigned pref;                  /* MX preference (0 for a route or an implicit MX) */
	unsigned port;                  /* 25 unless a route says otherwise */
	struct ipaddr addrs[MX_ADDRS_MAX];
	size_t naddrs;                  /* 0: the name did not resolve (try the next host) */
};

enum mx_status {
	MX_OK = 0,              /* hosts[0..nhosts) in the order to try them */
	MX_NULL,                /* RFC 7505 null MX: the domain accepts no mail (permanent) */
	MX_NO_DOMAIN,           /* NXDOMAIN, or no MX and no A/AAAA (permanent) */
	MX_TEMPFAIL             /* SERVFAIL, timeout, no reply: try later */
};

struct mx_result {
	enum mx_status status;
	struct mx_host hosts[MX_HOSTS_MAX];
	size_t nhosts;
	bool routed;            /* the hosts come from smtproutes, not from DNS */
	char error[256];        /* why, for a status other than MX_OK */
};

/*
 * A route from smtproutes lines for domain (lowercase): "domain:host[:port]"
 * for the domain itself, ".domain:host" for its subdomains (longest suffix
 * wins), ":host" for every domain.  An empty host means "no route: use
 * MX".  Returns 1 and fills host (name or "[literal]") and *port_r (25 when
 * not given), 0 when no line applies, -1 for a malformed line (err says which).
 */
int mx_route(char *const *lines, size_t nlines, const char *domain, char host[MX_HOST_MAX + 1],
	     unsigned *port_r, char *err, size_t errsize);

/*
 * Resolve domain: its MX records in preference order (equal preferences
 * shuffled), each host's A and AAAA addresses; no MX records: the domain's
 * own addresses (implicit MX, RFC 5321 5.1); a single "0 ." MX: MX_NULL.
 * When route_host is non-NULL (from mx_route) only that host is resolved
 * (a literal needs no DNS).  resolver: "host:port" of the DNS server, or
 * "" for the system's (/etc/resolv.conf).  The whole lookup takes at most
 * timeout_ms.  Returns 0 with r filled (see r->status), -1 only when
 * c-ares cannot even start (then r->error says why).
 */
int mx_resolve(const char *resolver, const char *domain, const char *route_host,
	       unsigned route_port, int timeout_ms, struct mx_result *r);

/*
 * Order hosts by preference, shuffling equal preferences with rand_fn
 * (returns a random unsigned; NULL: random()).  Pure: the unit tests
 * call it with a fixed sequence.
 */
void mx_order(struct mx_host *hosts, size_t n, unsigned (*rand_fn)(void *), void *ctx);

#endif
