/* hashgate.h - at most N password hashes at once across a daemon's session processes. */
#ifndef OSD_HASHGATE_H
#define OSD_HASHGATE_H

#include <stdbool.h>

/*
 * A yescrypt check takes 16 MB and a good part of a core for a while, and
 * a daemon forks a process per session: without a bound, failed logins
 * from many addresses hash max_connections times at once (gigabytes).
 * The daemon makes a gate of slots turns before its first fork (shared
 * memory the sessions inherit); a session takes a turn around its hash,
 * waiting while all are taken.  A turn names its holder's pid, so one
 * whose holder died (killed while hashing) is taken back by the next
 * waiter.  Without a gate (hashgate_init not called, or failed) enter
 * and leave do nothing and hashing is unbounded, as before.
 */
int hashgate_init(unsigned slots);

/* Twice the online CPUs, at least 2: the turns of the daemons' gates. */
unsigned hashgate_default_slots(void);

/* Wait for a turn (in a session process).  false without a gate. */
bool hashgate_enter(void);

/* A turn if one is free now (or held by a dead process), without waiting. */
bool hashgate_try_enter(void);

/* Give back the turn this process holds, if any. */
void hashgate_leave(void);

#endif
