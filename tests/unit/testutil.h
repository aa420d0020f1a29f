/* testutil.h - temporary folders and files for the cmocka unit tests. */
#ifndef OSD_TESTUTIL_H
#define OSD_TESTUTIL_H

/* A new empty folder /tmp/osd-test-<tag>.XXXXXX (free() the name); NULL on failure. */
char *testutil_mkdtemp(const char *tag);

/* Remove path and everything below it (no symlink is followed). */
int testutil_rmtree(const char *path);

/* cmocka setup and teardown whose state is such a folder's name. */
int testutil_setup_tmpdir(void **state);
int testutil_teardown_tmpdir(void **state);

#endif
