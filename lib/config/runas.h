/* runas.h - who a daemon becomes when started as root, and the state folders it is handed before it drops root. */
#ifndef OSD_RUNAS_H
#define OSD_RUNAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "conf.h"

/* How many paths one program prepares and checks after the drop. */
#define RUNAS_PATHS_MAX 12

/* What the program does with a prepared path, checked once it runs as the user. */
enum runas_use {
	RUNAS_WRITE,            /* folder: creates, renames and removes names in it; file: opened for writing */
	RUNAS_READ,             /* reads it only */
	RUNAS_REPLACE,          /* file replaced by rename(2) in its folder: its own mode does not matter */
};

struct runas {
	char user[64];          /* whom the program becomes: conf user, else mail_user; "" = nobody else */
	char group[64];         /* conf group; "" = the user's primary group */
	uid_t uid;              /* the user's ids (when user is set) */
	gid_t gid;
	bool handover;          /* root now, with a user: what is prepared is chowned to uid:gid */
	size_t npaths;
	struct {
		char *path;
		enum runas_use use;
		bool dir;
	} paths[RUNAS_PATHS_MAX];
};

/*
 * The one user every osd daemon runs as: user, else mail_user (the
 * mailboxes' owner); "" when neither is set.
 */
const char *runas_user(const struct osd_conf *conf);

/* Fill ra from conf (runas_user and group, looked up).  0, or -1 with err. */
int runas_init(struct runas *ra, const struct osd_conf *conf, char *err, size_t errsize);

/*
 * Make the folder base/rel ready for the user: every name of rel
 * (e.g. "queue/tmp") is created with mode when missing, handed over to
 * uid:gid when started as root, given u+rwx and stripped of the bits in
 * forbid.  base itself is the administrator's (state_dir: it is created
 * with its missing parents, mode 0755, and not changed); rel "" means base
 * itself is prepared (then its parent is the administrator's).  No
 * symbolic link is followed below base: a link where a prepared folder
 * should be is refused, so that root never chowns through a link the
 * user could have planted.  0, or -1 with "path: why" in err.
 */
int runas_dir(struct runas *ra, const char *base, const char *rel, unsigned mode, unsigned forbid,
	      enum runas_use use, char *err, size_t errsize);

/*
 * The same for an existing regular file base/rel (absent: nothing to do).
 * A file with more than one link is refused: it could be a hard link to a
 * file elsewhere that must not change hands.
 */
int runas_file(struct runas *ra, const char *base, const char *rel, unsigned forbid,
	       enum runas_use use, char *err, size_t errsize);

/*
 * Started as root with a user: hand over everything already inside the
 * folder base/rel (files, and folders down to depth levels below it),
 * left from a run as root.  Links and other odd entries are left alone.
 * Nothing to do otherwise.  0, or -1 with err.
 */
int runas_contents(const struct runas *ra, const char *base, const char *rel, int depth,
		   char *err, size_t errsize);

/*
 * open-smtp/ for a program that records logins (osd pop3d, osd record,
 * osd import-open-smtp: use RUNAS_WRITE) or reads them (osd smtpd:
 * RUNAS_READ, creating the folder if it is missing): owned by the user,
 * 0755 when made, never world-writable.  Whoever removes and renames
 * entries (the watcher) needs write access to this folder, not to the
 * entries.  0, or -1 with err.
 */
int runas_opensmtp(struct runas *ra, const struct osd_conf *conf, enum runas_use use, char *err,
		   size_t errsize);

/*
 * Everything a writer of relay.cdb needs (osd watch, osd expire):
 * state_dir itself (the new table is written beside relay.cdb and renamed
 * over it), open-smtp/ with any entry left by a run as root, and an
 * existing relay.cdb.  0, or -1 with err.
 */
int runas_relay_state(struct runas *ra, const struct osd_conf *conf, char *err, size_t errsize);

/*
 * Drop root to the user (privdrop), then check, as the user now, that
 * every prepared path can be used as declared.  0, or -1 with err.
 */
int runas_drop(struct runas *ra, char *err, size_t errsize);

/* Forget the prepared paths (runas_drop does this too). */
void runas_free(struct runas *ra);

/* Print "osd: what: err" to stderr and exit 111: a daemon that cannot get its folders does not start. */
noreturn void runas_refuse(const char *what, const char *err);

#endif
