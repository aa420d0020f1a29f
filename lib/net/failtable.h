/* failtable.h - failed logins remembered per client address and target login, for the login delay. */
#ifndef OSD_FAILTABLE_H
#define OSD_FAILTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

/* Records at most; when full, the least recently failed one goes. */
#define FAILTABLE_SIZE 1024
/*
 * Logins with a record of their own per address.  Failures against
 * further logins go to the address's catch-all record (FAILTABLE_OTHER),
 * which no success clears: guessing against many names from one address
 * can neither fill the table nor escape the count.
 */
#define FAILTABLE_LOGINS_PER_ADDR 16
/* The login key of the catch-all record; real keys are never 0. */
#define FAILTABLE_OTHER 0u

struct fail_record {
	struct ipaddr addr;
	uint64_t login;                 /* the login's key (server.c: a keyed hash), or FAILTABLE_OTHER */
	unsigned count;                 /* failures, saturating */
	long long last;                 /* when the last one came, seconds on any steady clock */
};

struct failtable {
	long long window;               /* a record is forgotten this long after its last failure */
	size_t n;
	struct fail_record r[FAILTABLE_SIZE];
};

/* An empty table whose records are forgotten window_s seconds after their last failure. */
void failtable_init(struct failtable *t, long long window_s);

/* A login of login (key) from addr failed at now. */
void failtable_failed(struct failtable *t, const struct ipaddr *addr, uint64_t login,
		      long long now);

/*
 * A login of login from addr succeeded: forget the failures against that
 * login from that address, and only those (other logins' failures, and the
 * catch-all, keep counting for addr).
 */
void failtable_succeeded(struct failtable *t, const struct ipaddr *addr, uint64_t login,
			 long long now);

/* The recent failures from addr over all logins (the sum the delay is made from), saturating. */
unsigned failtable_count(struct failtable *t, const struct ipaddr *addr, long long now);

#endif
