/* testutil.c - temporary folders for the cmocka unit tests. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

char *
testutil_mkdtemp(const char *tag)
{
	char *dir = malloc(256);

	if (dir == NULL)
		return NULL;
	if ((size_t)snprintf(dir, 256, "/tmp/osd-test-%s.XXXXXX", tag) >= 256 || mkdtemp(dir) == NULL) {
		free(dir);
		return NULL;
	}
	return dir;
}

int
testutil_rmtree(const char *path)
{
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
testutil_setup_tmpdir(void **state)
{
	char *dir = testutil_mkdtemp("unit");

	if (dir == NULL)
		return -1;
	*state = dir;
	return 0;
}

int
testutil_teardown_tmpdir(void **state)
{
	char *dir = *state;

	testutil_rmtree(dir);
	free(dir);
	return 0;
}
