/* testutil.h - temporary folders and files (a vpasswd among them) for the cmocka unit tests, and the escapes of their golden transcripts. */
#ifndef OSD_TESTUTIL_H
#define OSD_TESTUTIL_H

#include <stddef.h>

#include "buf.h"

/* A new empty folder /tmp/osd-test-<tag>.XXXXXX (free() the name); NULL on failure. */
char *testutil_mkdtemp(const char *tag);

/* Remove path and everything below it (no symlink is followed). */
int testutil_rmtree(const char *path);

/* cmocka setup and teardown whose state is such a folder's name. */
int testutil_setup_tmpdir(void **state);
int testutil_teardown_tmpdir(void **state);

/* One user of a test vpasswd: vpopmail's flag mask (the gid field) and the cleartext 8th field ("" for none). */
struct testutil_vuser {
	const char *name;
	unsigned long flags;
	const char *cleartext;
};

/*
 * Write users_dir/domain/vpasswd (making the folders, 0700) with the n
 * users, each with password hashed and home users_dir/domain/NAME (not
 * made).  0, or -1.
 */
int testutil_write_vpasswd(const char *users_dir, const char *domain, const char *password,
			   const struct testutil_vuser *users, size_t n);

/*
 * Decode the escapes of a golden script line (\r \n \0 \\ \xNN) into out
 * (at most size octets): the octets written, or (size_t)-1 for a bad \x.
 */
size_t testutil_unescape(const char *in, char *out, size_t size);

/* Append bytes to a transcript: printable ones as they are, '\\' doubled, the rest as \xNN. */
void testutil_escape(struct buf *t, const char *p, size_t len);

#endif
