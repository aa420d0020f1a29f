/* hashgate.c - a bound on password hashes running at once: turns in shared memory, each naming its holder's pid. */
#include "hashgate.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static _Atomic int *turns;      /* slots pids (0: free), shared by the forked sessions */
static unsigned nturns;
static int held = -1;           /* the turn this process holds, or -1 */

/* How long a waiter sleeps between two looks (a hash takes tens of ms or more). */
#define HASHGATE_POLL_NS 20000000L

int
hashgate_init(unsigned slots)
{
	void *p;

	if (slots == 0) {
		errno = EINVAL;
		return -1;
	}
	p = mmap(NULL, slots * sizeof(*turns), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (turns != NULL)
		munmap((void *)turns, nturns * sizeof(*turns));
	turns = p;                      /* MAP_ANONYMOUS: all zero, every turn free */
	nturns = slots;
	held = -1;
	return 0;
}

unsigned
hashgate_default_slots(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 2 : n > 64 ? 128 : (unsigned)(2 * n);
}

/* A holder that no longer exists (ESRCH; EPERM means it does, under another uid). */
static bool
gone(int pid)
{
	return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

bool
hashgate_try_enter(void)
{
	int me = (int)getpid();

	if (turns == NULL || held != -1)
		return false;
	for (unsigned i = 0; i < nturns; i++) {
		int was = 0;

		if (atomic_compare_exchange_strong(&turns[i], &was, me) ||
		    (gone(was) && atomic_compare_exchange_strong(&turns[i], &was, me))) {
			held = (int)i;
			return true;
		}
	}
	return false;
}

bool
hashgate_enter(void)
{
	struct timespec nap = { 0, HASHGATE_POLL_NS };

	if (turns == NULL)
		return false;
	while (!hashgate_try_enter()) {
		if (held != -1)
			return true;
		(void)nanosleep(&nap, NULL);
	}
	return true;
}

void
hashgate_leave(void)
{
	int me = (int)getpid();

	if (turns == NULL || held == -1)
		return;
	/* Only our own turn: a forked copy of a holder must not free its parent's. */
	(void)atomic_compare_exchange_strong(&turns[held], &me, 0);
	held = -1;
}
