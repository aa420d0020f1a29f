/* mxlookup.c - smtp-gate/remote/mx.c as a command, so test_mx_resolve.py can ask a real DNS server (dnsmasq). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx.h"

static const char *const status_names[] = {
	[MX_OK] = "ok", [MX_NULL] = "null", [MX_NO_DOMAIN] = "nodomain", [MX_TEMPFAIL] = "tempfail",
};

/*
 * mxlookup RESOLVER DOMAIN [TIMEOUT_MS [ROUTE_HOST [ROUTE_PORT]]]
 * RESOLVER "" means the system's.  Prints "status=S routed=0|1", then
 * "error=..." for a status other than ok, then one
 * "host=NAME pref=N port=P addrs=a,b" line per host in the order to try.
 * Exit 0, or 111 when mx_resolve could not start, 100 for bad usage.
 */
int
main(int argc, char **argv)
{
	static struct mx_result r;      /* static: a few kilobytes */
	int timeout_ms = 5000;
	const char *route_host = NULL;
	unsigned route_port = 25;

	if (argc < 3 || argc > 6) {
		fprintf(stderr, "usage: mxlookup RESOLVER DOMAIN [TIMEOUT_MS [ROUTE_HOST [ROUTE_PORT]]]\n");
		return 100;
	}
	if (argc > 3)
		timeout_ms = atoi(argv[3]);
	if (argc > 4)
		route_host = argv[4];
	if (argc > 5)
		route_port = (unsigned)strtoul(argv[5], NULL, 10);
	if (mx_resolve(argv[1], argv[2], route_host, route_port, timeout_ms, &r) < 0) {
		fprintf(stderr, "mxlookup: %s\n", r.error);
		return 111;
	}
	printf("status=%s routed=%d\n", status_names[r.status], r.routed ? 1 : 0);
	if (r.status != MX_OK)
		printf("error=%s\n", r.error);
	for (size_t i = 0; i < r.nhosts; i++) {
		const struct mx_host *h = &r.hosts[i];

		printf("host=%s pref=%u port=%u addrs=", h->name, h->pref, h->port);
		for (size_t k = 0; k < h->naddrs; k++) {
			char text[IPADDR_TEXT_MAX];

			ipaddr_format(&h->addrs[k], text);
			printf("%s%s", k > 0 ? "," : "", text);
		}
		printf("\n");
	}
	return 0;
}
