/* listen.h - listening sockets from "host:port" specs, for every osd daemon. */
#ifndef OSD_LISTEN_H
#define OSD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

/* Most sockets one spec can give ("*:110" gives two: 0.0.0.0 and [::]). */
#define LISTEN_MAX_FDS 8

/* Longest host part of a spec (an IPv6 address, or a host name). */
#define LISTEN_HOST_MAX 255

/*
 * Take a listener spec apart: "host:port", "[v6addr]:port", "*:port" (every
 * address, IPv4 and IPv6).  port is a number 1..65535 (no service names:
 * a config should not depend on /etc/services).  host_r receives "" for
 * "*".  Returns 0, or -1 with err naming the spec and what is wrong.
 */
int listen_parse(const char *spec, char *host_r, size_t hostsize, unsigned *port_r,
		 char *err, size_t errsize);

/*
 * Bind and listen on every address spec names (getaddrinfo, numeric port;
 * a host name gives all of its addresses).  Sockets are non-blocking and
 * close-on-exec, with SO_REUSEADDR, and IPv6 ones IPV6_V6ONLY (so "*:port"
 * can hold 0.0.0.0 and [::] side by side).  Returns the number of sockets
 * put into fds_r (at most max, at least 1), or -1 with err naming the spec
 * ("127.0.0.1:110: bind: Address already in use"); nothing stays open then.
 */
int listen_bind(const char *spec, int backlog, int *fds_r, size_t max, char *err, size_t errsize);

/*
 * Bind and listen on the unix-domain socket path (absolute): a stale
 * socket left there by an earlier run is removed first, anything else
 * at path is refused.  The socket is made with mode (umask aside) and,
 * when uid or gid is not -1, given to them (lchown: as root, so that a
 * peer running as another user, e.g. Postfix's, may connect).
 * Non-blocking and close-on-exec.  The socket, or -1 with err naming
 * the path.
 */
int listen_bind_unix(const char *path, int backlog, unsigned mode, uid_t uid, gid_t gid,
		     char *err, size_t errsize);

#endif
