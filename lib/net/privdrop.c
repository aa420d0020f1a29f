/* privdrop.c - give up root for good after the listening sockets are bound. */
#include "errfmt.h"
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* getpwnam_r/getgrnam_r scratch space: start here, grow on ERANGE up to the cap. */
#define PRIVDROP_BUF_START 4096
#define PRIVDROP_BUF_MAX (1024 * 1024)

/*
 * A user's uid and primary gid (is_user), or a group's gid; -1 with err
 * on failure.  One loop for both: the scratch space grows on ERANGE.
 */
static int
lookup(bool is_user, const char *name, uid_t *uid_r, gid_t *gid_r, char *err, size_t errsize)
{
	const char *kind = is_user ? "user" : "group";
	struct passwd pw, *pw_res = NULL;
	struct group gr, *gr_res = NULL;
	size_t size = PRIVDROP_BUF_START;
	char *buf;
	int r;

	for (;;) {
		if ((buf = malloc(size)) == NULL)
			return errfmt(err, errsize, "%s %s: out of memory", kind, name);
		r = is_user ? getpwnam_r(name, &pw, buf, size, &pw_res) :
			      getgrnam_r(name, &gr, buf, size, &gr_res);
		if (r != ERANGE || size >= PRIVDROP_BUF_MAX)
			break;
		free(buf);
		size *= 2;
	}
	if (r != 0) {
		free(buf);
		return errfmt(err, errsize, "%s %s: %s", kind, name, strerror(r));
	}
	if (is_user ? pw_res == NULL : gr_res == NULL) {
		free(buf);
		return errfmt(err, errsize, "%s %s: no such %s", kind, name, kind);
	}
	if (is_user) {
		*uid_r = pw.pw_uid;
		*gid_r = pw.pw_gid;
	} else {
		*gid_r = gr.gr_gid;
	}
	free(buf);
	return 0;
}

int
privdrop_ids(const char *user, const char *group, uid_t *uid_r, gid_t *gid_r, char *err,
	     size_t errsize)
{
	if (lookup(true, user, uid_r, gid_r, err, errsize) == -1)
		return -1;
	if (group != NULL && group[0] != '\0' &&
	    lookup(false, group, NULL, gid_r, err, errsize) == -1)
		return -1;
	return 0;
}

int
privdrop(const char *user, const char *group, char *err, size_t errsize)
{
	uid_t uid = 0;
	gid_t gid = 0;

	if (geteuid() != 0 || user == NULL || user[0] == '\0')
		return 0;
	if (privdrop_ids(user, group, &uid, &gid, err, errsize) == -1)
		return -1;

	/* Groups first: once the uid is gone we may no longer change them. */
	if (setgroups(1, &gid) == -1)
		return errfmt(err, errsize, "setgroups %lu: %s", (unsigned long)gid,
				     strerror(errno));
	if (setresgid(gid, gid, gid) == -1)
		return errfmt(err, errsize, "setresgid %lu: %s", (unsigned long)gid,
				     strerror(errno));
	if (setresuid(uid, uid, uid) == -1)
		return errfmt(err, errsize, "setresuid %lu: %s", (unsigned long)uid,
				     strerror(errno));

	/* Trust but verify: a saved set-user-id left at 0 would undo all of this. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		return errfmt(err, errsize, "user %s: root could be regained after "
				     "dropping privileges", user);
	return 0;
}
