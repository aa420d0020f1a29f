/* atomicfile.h - replace a file so that readers see the old or the new one, never a mix. */
#ifndef OSD_ATOMICFILE_H
#define OSD_ATOMICFILE_H

#include <stddef.h>

#include <limits.h>
#include <stdbool.h>

struct atomicfile {
	int fd;                 /* write the new contents here */
	char path[PATH_MAX];    /* the final name */
	char tmp[PATH_MAX];     /* the temporary name beside it */
};

/*
 * Create a temporary file beside path (same folder, so rename is atomic)
 * with the given mode.  Returns 0, or -1 with errno.
 */
int atomicfile_open(struct atomicfile *af, const char *path, unsigned mode);

/*
 * fsync the file, rename it over path, fsync the folder (when do_fsync),
 * and close.  On failure the temporary is removed and -1 returned with errno.
 */
int atomicfile_commit(struct atomicfile *af, bool do_fsync);

/*
 * atomicfile_commit with the steps to disk chosen: ATOMICFILE_SYNC_DATA
 * fsyncs the file before the rename (after a crash the name holds the old
 * contents or the whole new ones), ATOMICFILE_SYNC_NAME the folder after
 * it (the rename itself survives a crash).  Without SYNC_NAME a crash may
 * bring back an earlier version: for a writer to whom that is harmless
 * (the new file only adds to the old), one journal commit instead of two.
 */
#define ATOMICFILE_SYNC_DATA 1
#define ATOMICFILE_SYNC_NAME 2
#define ATOMICFILE_SYNC_ALL (ATOMICFILE_SYNC_DATA | ATOMICFILE_SYNC_NAME)
/*
 * ATOMICFILE_SWAP: put the new file in place by exchanging the two names
 * (renameat2 RENAME_EXCHANGE), then remove the old file, instead of a
 * rename over it.  ext4 starts writing a file's data to disk when it is
 * renamed over another (its auto_da_alloc, meant for writers that never
 * fsync); an exchange does not, so without SYNC_DATA a file replaced again
 * within seconds never reaches the disk at all.  The price: after a power
 * cut the name may hold an empty file (never a mix of old and new).  Falls
 * back to a plain rename where the file system cannot exchange.
 */
#define ATOMICFILE_SWAP 4
int atomicfile_commit_how(struct atomicfile *af, int how);

/*
 * Write all of data into the open temporary and commit it: the one way to
 * finish a file built in memory.  On failure the temporary is removed and
 * -1 returned with errno (path untouched).
 */
int atomicfile_write_commit(struct atomicfile *af, const void *data, size_t len, bool do_fsync);
int atomicfile_write_commit_how(struct atomicfile *af, const void *data, size_t len, int how);

/* Close and remove the temporary without touching path. */
void atomicfile_abort(struct atomicfile *af);

/*
 * Remove the temporaries of path that processes killed before their
 * commit left behind (".BASE.tmp.PID.N" whose PID no longer runs): a
 * kill -9 in the middle of a rewrite leaves one each time.  Those of a
 * live process are its own, mid-write.  Returns how many were removed.
 */
int atomicfile_clean_stale(const char *path);

/*
 * The same for every file of the folder dir: the temporaries (".NAME.tmp.PID.N")
 * of any file there whose writer no longer runs.  ours_too: this process's
 * own pid counts as dead, for a program that has written nothing yet and
 * whose pid a dead writer had (pids are reused, across reboots too).
 * Returns how many were removed.
 */
int atomicfile_clean_stale_dir(const char *dir, bool ours_too);

/* Write all of len bytes to fd, retrying on EINTR and short writes. */
int write_all(int fd, const void *data, size_t len);

/* fsync the folder that holds path (makes a rename or create durable). */
int fsync_parent_dir(const char *path);

#endif
