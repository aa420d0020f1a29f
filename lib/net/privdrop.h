/* privdrop.h - give up root after binding, fatal on any failure. */
#ifndef OSD_PRIVDROP_H
#define OSD_PRIVDROP_H

#include <stddef.h>

/*
 * When running as root and user is non-empty: setgroups, setresgid and
 * setresuid to user (and group, or the user's primary group), then verify
 * root cannot be regained.  Returns 0, or -1 with an explanation in err.
 * Not root, or no user configured: nothing to do, returns 0.
 */
int privdrop(const char *user, const char *group, char *err, size_t errsize);

#endif
