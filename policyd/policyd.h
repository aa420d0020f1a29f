/* policyd.h - osd policyd: the Postfix policy service's state, its listeners and its event loop. */
#ifndef OSD_POLICYD_H
#define OSD_POLICYD_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"
#include "listen.h"
#include "policy_proto.h"
#include "relaycheck.h"
#include "relaytable.h"
#include "rules.h"

/* Most listening sockets (policy_listen may name several, "*:port" gives two). */
#define POLICYD_LISTENERS_MAX (4 * LISTEN_MAX_FDS)

/*
 * The answer when the relay state cannot be read: a temporary failure,
 * as Postfix's own smtpd_policy_service_default_action when the service
 * is down, so that no client is refused for good (or let through) on a
 * broken table.
 */
#define POLICYD_TEMPFAIL_ACTION "451 4.3.0 Relay state unavailable, try again later"

struct policyd {
	struct osd_conf conf;
	struct rules_file rules;        /* tcp.smtp: tells static records from logins */
	struct relay_table table;       /* relay.cdb, kept open */
	struct relay_state st;          /* what relay_decide_cdb reads */
	char relay_cdb[PATH_MAX];
	char opensmtp_dir[PATH_MAX];
	struct tls_server *tls;         /* always NULL (daemon_reload's certificate slot) */
	int listeners[POLICYD_LISTENERS_MAX];
	bool listener_unix[POLICYD_LISTENERS_MAX];
	size_t nlisteners;
};

/*
 * Bind every listener of conf.policy_listen ("unix:/path" or
 * "host:port", separated by spaces or commas).  Unix sockets get mode
 * 0660 and uid:gid (-1: unchanged).  Fatal (naming the key) on failure.
 */
void policyd_bind(struct policyd *d, uid_t uid, gid_t gid);

/*
 * The action for one parsed request: the configured action when its
 * client_address may relay now (relay_decide_cdb on the open table), the
 * default action for any other client and for a request that names no
 * usable client (logged), POLICYD_TEMPFAIL_ACTION when the relay state
 * cannot be read.  peer names the Postfix connection in log lines.
 * refresh: bring the open relay.cdb up to date first.
 */
const char *policyd_answer(struct policyd *d, const struct policy_request *req, const char *peer,
			   bool refresh);

/*
 * Serve until SIGTERM or SIGINT: one process, one epoll loop, every
 * connection kept open across requests (Postfix reuses them).  SIGHUP
 * re-reads osd.conf and the rules.
 */
void policyd_run(struct policyd *d);

#endif
