/* privdrop.h - give up root after binding, fatal on any failure. */
#ifndef OSD_PRIVDROP_H
#define OSD_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/*
 * When running as root and user is non-empty: setgroups, setresgid and
 * setresuid to user (and group, or the user's primary group), then verify
 * root cannot be regained.  Returns 0, or -1 with an explanation in err.
 * Not root, or no user configured: nothing to do, returns 0.
 */
int privdrop(const char *user, const char *group, char *err, size_t errsize);

/*
 * The uid and gid privdrop(user, group) switches to: the user's, and the
 * group's or else the user's primary group.  0, or -1 with err.
 */
int privdrop_ids(const char *user, const char *group, uid_t *uid_r, gid_t *gid_r, char *err,
		 size_t errsize);

#endif
