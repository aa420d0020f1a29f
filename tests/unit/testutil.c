/* testutil.c - temporary folders for the cmocka unit tests, and the escapes of their golden transcripts. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "path.h"
#include "userdb.h"

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

int
testutil_write_vpasswd(const char *users_dir, const char *domain, const char *password,
		       const struct testutil_vuser *users, size_t n)
{
	char dom[PATH_MAX], path[PATH_MAX], hash[USERDB_HASH_MAX + 1], err[256];
	FILE *fp;
	size_t i;

	if (path_join(dom, sizeof(dom), users_dir, domain) == -1 || path_mkdirs(dom, 0700) == -1 ||
	    path_join(path, sizeof(path), dom, "vpasswd") == -1 ||
	    userdb_hash_password(password, hash, sizeof(hash), err, sizeof(err)) == -1 ||
	    (fp = fopen(path, "w")) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		fprintf(fp, "%s:%s:1:%lu:%s:%s/%s:NOQUOTA%s%s\n", users[i].name, hash,
			users[i].flags, users[i].name, dom, users[i].name,
			users[i].cleartext[0] != '\0' ? ":" : "", users[i].cleartext);
	return fclose(fp) == 0 ? 0 : -1;
}

size_t
testutil_unescape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	while (*in != '\0' && n < size) {
		if (in[0] == '\\' && in[1] != '\0') {
			unsigned v;

			in++;
			switch (*in) {
			case 'r': out[n++] = '\r'; in++; break;
			case 'n': out[n++] = '\n'; in++; break;
			case '0': out[n++] = '\0'; in++; break;
			case 'x':
				if (sscanf(in + 1, "%2x", &v) != 1)
					return (size_t)-1;
				out[n++] = (char)v;
				in += 3;
				break;
			default: out[n++] = *in++; break;
			}
			continue;
		}
		out[n++] = *in++;
	}
	return n;
}

void
testutil_escape(struct buf *t, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\')
			(void)buf_append_str(t, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			(void)buf_append_char(t, (char)c);
		else
			(void)buf_printf(t, "\\x%02x", c);
	}
}
