/* fleet.h - fleet mode in the watcher: publish local logins to Redis, mirror the fleet's logins (docs/fleet.md). */
#ifndef OSD_FLEET_H
#define OSD_FLEET_H

#include <poll.h>
#include <stdbool.h>

#include "conf.h"
#include "fleetmsg.h"

struct fleet;

/* What the watcher does for the fleet. */
struct fleet_hooks {
	void *ctx;
	/* A login of another host, already checked (fleetmsg.h): record it locally. */
	void (*mirror)(void *ctx, const struct fleet_login *l);
	/* Connected (again): publish every live local login (fleet_publish). */
	void (*connected)(void *ctx);
	/* A revocation, already checked: remove the local entries it voids (NULL: none). */
	void (*revoke)(void *ctx, const struct fleet_revocation *rv);
};

/*
 * Fleet mode as conf says, or NULL with fleet = none.  Reads
 * redis_password_file now (call it before dropping privileges); connects
 * later, from fleet_handle, and keeps state_dir/FLEET_STATUS_FILE saying
 * how that goes.  Exits on a bad configuration.
 */
struct fleet *fleet_new(const struct osd_conf *conf, const struct fleet_hooks *hooks);

void fleet_free(struct fleet *f);

/* relay_expire changed (SIGHUP). */
void fleet_set_expire(struct fleet *f, long relay_expire);

/* The descriptors to wait on into pfd (room for FLEET_POLLFDS); returns how many. */
#define FLEET_POLLFDS 2
int fleet_pollfds(struct fleet *f, struct pollfd *pfd);

/* Milliseconds until fleet_handle has timed work (reconnect, ping), or -1. */
long fleet_timeout_ms(struct fleet *f);

/*
 * Do the fleet's work after poll: pfd as filled by fleet_pollfds with the
 * revents poll set.  Calls the hooks (mirror needs open-smtp/ open).
 */
void fleet_handle(struct fleet *f, const struct pollfd *pfd, int n);

/*
 * Publish a local login (never blocks: queued on the connection, or
 * dropped while cut off: the connected hook publishes it again then).
 */
void fleet_publish(struct fleet *f, const struct fleet_login *l);

/*
 * Send the logins published since the last poll now, as far as the socket
 * takes them without blocking: the watcher calls this before it rebuilds
 * relay.cdb, so a login does not wait for its own host's rebuild to
 * leave for the fleet.
 */
void fleet_flush(struct fleet *f);

/* Connected to Redis and subscribed? */
bool fleet_up(const struct fleet *f);

/*
 * Reading every login of the fleet (the SCAN after a (re)connect)?  Up
 * to the whole fleet's live logins arrive in a burst then: the watcher
 * spaces its rewrites of relay.cdb wider meanwhile (FLEET_RESYNC_BATCH_MS).
 */
bool fleet_resyncing(const struct fleet *f);
#define FLEET_RESYNC_BATCH_MS 250

/*
 * SIGHUP: take the fleet keys of conf (fleet, redis_*) and reconnect if
 * they changed; *fp may go from NULL to a fleet and back.  New settings
 * that are malformed, whose password file cannot be read, or with which
 * Redis cannot be reached and authenticated to (tried once, blocking, a
 * few seconds at most) are logged and the running ones kept.
 */
void fleet_reload(struct fleet **fp, const struct osd_conf *conf, const struct fleet_hooks *hooks);

/*
 * osd revoke in fleet mode: the fleet settings of conf (NULL with fleet =
 * none), checked, password read (before dropping privileges); exits on a
 * bad configuration.  Free with fleet_client_free.
 */
struct fleet *fleet_client_new(const struct osd_conf *conf);
void fleet_client_free(struct fleet *f);

/*
 * Publish rv to the fleet, blocking (a few seconds at most): delete the
 * login keys it voids, set its tombstone, announce it on the channel, in
 * one step (docs/fleet.md).  Returns the login keys deleted (0 or more),
 * or -1 with why in err (Redis unreachable, refused...).
 */
int fleet_client_revoke(struct fleet *f, const struct fleet_revocation *rv, char *err, size_t errsize);

#endif
