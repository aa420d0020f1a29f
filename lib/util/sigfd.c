/* sigfd.c - the daemons' signals as a descriptor: blocked, then read through signalfd(2) in the poll loop. */
#include "sigfd.h"

#include <sys/signalfd.h>

#include "log.h"

int
sigfd_open(const int *sigs, size_t n, sigset_t *old_r)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, old_r) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	return fd;
}
