/* listen_backlog.c - LD_PRELOAD shim for the OpenSMTPD peer: raises a small listen(2) backlog.
 *
 * OpenSMTPD calls listen(fd, SMTPD_BACKLOG) with SMTPD_BACKLOG 5 (smtpd.h,
 * unchanged up to 7.8).  OpenBSD, its home, raises any backlog below
 * kern.sominconn (80) to 80; Linux keeps 5, so with 10 or more clients
 * connecting at once the accept queue overflows, the kernel drops their
 * SYNs and each client waits for a SYN retransmission (1 s, 3 s, ...).
 * bench/peer-opensmtpd.sh preloads this into the unpacked smtpd so that its
 * backlog is LISTEN_BACKLOG_MIN (default 128, osd's own SERVER_BACKLOG),
 * nothing else changed.  Benchmark-only: not part of osd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int listen(int fd, int backlog);

/* listen(2) with the backlog raised to at least $LISTEN_BACKLOG_MIN (128). */
int
listen(int fd, int backlog)
{
	static int (*real)(int, int);
	const char *env = getenv("LISTEN_BACKLOG_MIN");
	int min = env != NULL ? atoi(env) : 128;

	if (real == NULL)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
	if (real == NULL)
		return -1;
	return real(fd, backlog < min ? min : backlog);
}
