/* sigfd.h - the daemons' signals as a descriptor: blocked, then read through signalfd(2) in the poll loop. */
#ifndef OSD_SIGFD_H
#define OSD_SIGFD_H

#include <signal.h>
#include <stddef.h>

/*
 * Block the n signals of sigs (the mask before into *old_r unless NULL, for
 * children to restore) and return a close-on-exec, non-blocking signalfd
 * that delivers them.  Exits through fatal() when the system refuses: a
 * daemon that cannot see SIGTERM must not start.
 */
int sigfd_open(const int *sigs, size_t n, sigset_t *old_r);

#endif
