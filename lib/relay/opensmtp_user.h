/* opensmtp_user.h - who is behind an open-smtp/ entry: the login name in an xattr, or a sidecar file where the filesystem has none. */
#ifndef OSD_OPENSMTP_USER_H
#define OSD_OPENSMTP_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/*
 * The entry itself stays a zero-size file whose mtime is the login time
 * (the watcher, relay.cdb and the classic tools depend on that).  The name
 * of the user whose login made or last touched it is kept:
 *  - in the extended attribute OPENSMTP_USER_XATTR on the entry's inode,
 *    so that it moves with the inode through every rename (the expiry's
 *    rename-aside and put-back) and vanishes with it;
 *  - where the filesystem refuses user xattrs (ENOTSUP: tmpfs before
 *    Linux 6.6, some NFS), in a sidecar file OPENSMTP_USER_DIR/<inode>
 *    holding "<entry name> <user>\n".  Named by the inode, not the
 *    address, it too follows the inode through renames, and a login that
 *    creates a new entry for the same address meanwhile (a new inode)
 *    never shares a sidecar with the old one.  Removing an entry removes
 *    its sidecar first; a sidecar left behind (a crash, a recorder that
 *    lost a race) is older than relay_expire once it can matter no more
 *    and opensmtp_user_gc drops it.  The entry name inside it is checked
 *    on reading, so a reused inode number never names a user for another
 *    address.
 * The environment variable OSD_USER_STORE=file makes the writers use the
 * sidecar even where xattrs work (tests, or a shared filesystem whose
 * xattrs other hosts cannot see).
 */
#define OPENSMTP_USER_XATTR "user.osd.login"
#define OPENSMTP_USER_DIR ".osd-users"
#define OPENSMTP_USER_MAX 255           /* bytes of a stored login name */

/* Is user storable: 1..OPENSMTP_USER_MAX bytes, each printable ASCII other than space? */
bool opensmtp_user_valid(const char *user);

/*
 * Store user (NULL or not valid: forget any name, the last login is then
 * nobody's known) on the entry open as fd, which is dirfd/name with the
 * status st.  Returns 0, or -1 with errno.
 */
int opensmtp_user_set(int dirfd, const char *name, int fd, const struct stat *st, const char *user);

/*
 * The name stored for the entry dirfd/name whose status is st (from an
 * fstatat of it): 1 with out filled (size >= OPENSMTP_USER_MAX + 1), 0
 * when none is stored, -1 with errno.  sidefd is OPENSMTP_USER_DIR opened
 * (opensmtp_user_open_dir), or -1 to open it when needed.  With dirfd
 * AT_FDCWD, name is looked up from the working folder (osd list chdirs
 * into the folder to save an open per entry).
 */
int opensmtp_user_get(int dirfd, const char *name, const struct stat *st, int sidefd, char *out,
		      size_t size);

/* The same for the entry's file open as fd (perhaps under another name, renamed aside). */
int opensmtp_user_get_fd(int dirfd, const char *name, int fd, const struct stat *st, char *out,
			 size_t size);

/* OPENSMTP_USER_DIR of the folder dirfd opened read-only, or -1 (errno ENOENT: no sidecars). */
int opensmtp_user_open_dir(int dirfd);

/* Drop the sidecar of the inode of st (before the entry is removed for good).  0 or -1. */
int opensmtp_user_forget(int dirfd, const struct stat *st);

/*
 * Remove the sidecars no live entry can need: older than expire seconds
 * (every login that stores a name rewrites its sidecar), and leftover
 * temporary files.  Renamed aside and looked at again before removal, so a
 * login writing one at the same moment keeps it.  0 or -1.
 */
int opensmtp_user_gc(int dirfd, long expire);

#endif
