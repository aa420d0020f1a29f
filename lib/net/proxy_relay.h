/* proxy_relay.h - the byte pump of osd pop3d and imapd in proxy mode: after the login, client and backend talk through osd unchanged. */
#ifndef OSD_PROXY_RELAY_H
#define OSD_PROXY_RELAY_H

#include <stdbool.h>
#include <stdint.h>

struct netconn;

/* Each direction holds at most this much in flight: a buffer when copying, a pipe when splicing. */
#define PROXY_RELAY_BUF (64 * 1024)
#define PROXY_RELAY_PIPE (256 * 1024)

/* What the relay did, for the session's log line. */
struct proxy_relay_stats {
	uint64_t up;            /* octets client -> backend (input buffered before the relay included) */
	uint64_t down;          /* octets backend -> client */
	bool spliced;           /* neither side had TLS: splice(2) through pipes, no copy in osd */
	/*
	 * "closed": the backend ended (after the client, or on its own);
	 * "timeout": nothing moved for idle_ms; "client-reset",
	 * "backend-reset": that side reset the connection; "client-error",
	 * "backend-error": a read or write failed otherwise (TLS error).
	 */
	const char *end;
};

/*
 * Relay octets both ways between client and backend, unchanged, until
 * the backend has ended its stream and the client has all of it, either
 * side fails, or nothing moves for idle_ms.  What either netconn has
 * buffered unread goes first (commands the client pipelined after its
 * login, a backend's early words).  Memory is bounded (PROXY_RELAY_BUF or
 * PROXY_RELAY_PIPE a direction): a side that does not read holds the
 * other back (TCP's own flow control).  When the client ends its stream
 * (EOF, close_notify), the backend's write half is closed once what was
 * in flight is delivered, and the backend's replies still go to the
 * client (a half-close, as after QUIT or LOGOUT).  Without TLS on either
 * side the octets go through splice(2), which raises SIGPIPE on a
 * vanished peer: the process must ignore SIGPIPE (the servers do,
 * lib/net/server.c).  The netconns stay the caller's to close.
 */
void proxy_relay(struct netconn *client, struct netconn *backend, int idle_ms,
		 struct proxy_relay_stats *st);

/*
 * proxy_relay, then its log line: "proxy: addr=ADDR user=USER
 * backend=NAME end=... up=N down=N splice=yes|no".
 */
void proxy_relay_logged(struct netconn *client, struct netconn *backend, int idle_ms,
			const char *addr, const char *user, const char *backend_name);

#endif
