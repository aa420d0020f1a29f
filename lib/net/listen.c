/* listen.c - parse "host:port" listener specs and bind them (IPv4 and IPv6). */
#include "decimal.h"
#include "errfmt.h"
#include "fdclose.h"
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int
listen_parse(const char *spec, char *host_r, size_t hostsize, unsigned *port_r,
	     char *err, size_t errsize)
{
	const char *host, *colon, *p;
	size_t hostlen;
	uint64_t port;

	if (spec == NULL || spec[0] == '\0')
		return errfmt(err, errsize, "empty listener (want host:port)");
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return errfmt(err, errsize, "%s: want [IPv6-address]:port", spec);
		host = spec + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
		if (hostlen == 0)
			return errfmt(err, errsize, "%s: empty address in brackets", spec);
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return errfmt(err, errsize, "%s: want host:port", spec);
		host = spec;
		hostlen = (size_t)(colon - spec);
		/* A bare IPv6 address would be ambiguous: 2001:db8::1:110. */
		if (memchr(host, ':', hostlen) != NULL)
			return errfmt(err, errsize, "%s: write an IPv6 address as "
					   "[address]:port", spec);
		if (hostlen == 0)
			return errfmt(err, errsize, "%s: empty host (use *:port for "
					   "every address)", spec);
	}
	p = colon + 1;
	if (*p == '\0')
		return errfmt(err, errsize, "%s: missing port", spec);
	if (decimal_parse(p, strlen(p), 65535, &port) == -1 || port == 0)
		return errfmt(err, errsize, "%s: bad port (want 1-65535)", spec);
	if (hostlen == 1 && host[0] == '*')
		hostlen = 0;
	if (hostlen >= hostsize || hostlen > LISTEN_HOST_MAX)
		return errfmt(err, errsize, "%s: host name too long", spec);
	memcpy(host_r, host, hostlen);
	host_r[hostlen] = '\0';
	for (p = host_r; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == '[' || *p == ']' || *p == '/')
			return errfmt(err, errsize, "%s: bad character in host", spec);
	*port_r = (unsigned)port;
	return 0;
}

/*
 * listen(2) on fd, unless step names what failed before: then (or when
 * listen fails) close fd and report "spec: step: why".  fd, or -1 with err.
 */
static int
listen_done(int fd, int backlog, const char *step, const char *spec, char *err, size_t errsize)
{
	if (step == NULL && listen(fd, backlog) == 0)
		return fd;
	(void)close_keep_errno(fd);
	return errfmt(err, errsize, "%s: %s: %s", spec, step != NULL ? step : "listen",
		      strerror(errno));
}

/* One socket for ai, bound and listening; -1 with err. */
static int
bind_one(const char *spec, const struct addrinfo *ai, int backlog, char *err, size_t errsize)
{
	const char *step = NULL;
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return errfmt(err, errsize, "%s: socket: %s", spec, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		step = "setsockopt SO_REUSEADDR";
	/* Without V6ONLY, [::] would also take IPv4 and collide with 0.0.0.0. */
	else if (ai->ai_family == AF_INET6 &&
		 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		step = "setsockopt IPV6_V6ONLY";
	else if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		step = "bind";
	return listen_done(fd, backlog, step, spec, err, errsize);
}

int
listen_bind(const char *spec, int backlog, int *fds_r, size_t max, char *err, size_t errsize)
{
	char host[LISTEN_HOST_MAX + 1], port[8];
	struct addrinfo hints, *res = NULL, *ai;
	unsigned portnum;
	size_t n = 0, i;
	int r, fd;

	if (listen_parse(spec, host, sizeof(host), &portnum, err, errsize) == -1)
		return -1;
	snprintf(port, sizeof(port), "%u", portnum);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (r != 0)
		return errfmt(err, errsize, "%s: %s", spec,
				   r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (n >= max) {
			errfmt(err, errsize, "%s: more than %zu addresses", spec, max);
			goto fail;
		}
		if ((fd = bind_one(spec, ai, backlog, err, errsize)) == -1) {
			/* "*" on a host without IPv6: the IPv4 socket is enough. */
			if (host[0] == '\0' && ai->ai_family == AF_INET6 &&
			    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
				continue;
			goto fail;
		}
		fds_r[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0)
		return errfmt(err, errsize, "%s: no address to listen on", spec);
	return (int)n;
fail:
	freeaddrinfo(res);
	for (i = 0; i < n; i++)
		close(fds_r[i]);
	return -1;
}

int
listen_bind_unix(const char *path, int backlog, unsigned mode, uid_t uid, gid_t gid, char *err,
		 size_t errsize)
{
	struct sockaddr_un sun;
	char spec[sizeof(sun.sun_path) + 8];
	const char *step = NULL;
	struct stat sb;
	mode_t old;
	int fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] != '/')
		return errfmt(err, errsize, "unix:%s: want an absolute path", path);
	if (strlen(path) >= sizeof(sun.sun_path))
		return errfmt(err, errsize, "unix:%s: path too long (max %zu bytes)", path,
			      sizeof(sun.sun_path) - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	/* Only a socket is ours to replace: a typo must not remove a file. */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return errfmt(err, errsize, "%s: exists and is not a socket", spec);
		if (unlink(path) == -1)
			return errfmt(err, errsize, "%s: unlink: %s", spec, strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errfmt(err, errsize, "%s: socket: %s", spec, strerror(errno));
	/* The mode is set by bind itself, so the socket is never more open than asked. */
	old = umask(0777 & ~(mode_t)mode);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1)
		step = "bind";
	else if ((uid != (uid_t)-1 || gid != (gid_t)-1) && lchown(path, uid, gid) == -1)
		step = "chown";
	return listen_done(fd, backlog, step, spec, err, errsize);
}
