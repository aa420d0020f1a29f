/* imap_testbox.h - for the FETCH and SEARCH unit tests: a Maildir built from sample messages in a temporary folder, opened as the selected folder, and commands parsed by the real parser. */
#ifndef OSD_IMAP_TESTBOX_H
#define OSD_IMAP_TESTBOX_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "imap_mailbox.h"
#include "imap_parser.h"
#include "path.h"
#include "testutil.h"

/* One message of the test folder: a sample file, its Maildir name in cur/, its delivery time. */
struct testbox_msg {
	const char *sample;     /* under <samples>/fetch/ */
	const char *name;       /* in cur/, with its ":2,FLAGS" */
	time_t mtime;
};

struct testbox {
	char *root;             /* the Maildir */
	struct imap_mailbox *mb;
	struct imap_parser *parser;
};

/* The folder of samples, argv[1] of the test program. */
static const char *testbox_samples;

/* Make the Maildir (cur/ new/ tmp/) with msgs, in this order, and open it. */
__attribute__((unused)) static int
testbox_make(struct testbox *tb, const struct testbox_msg *msgs, size_t n, bool readonly)
{
	struct imap_parser_limits limits = { 0 };
	char path[PATH_MAX], src[PATH_MAX];
	const char *error, *code;
	struct buf data;
	size_t i;
	int fd;

	memset(tb, 0, sizeof(*tb));
	if ((tb->root = testutil_mkdtemp("imapfetch")) == NULL)
		return -1;
	for (i = 0; i < 3; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };

		if (path_join(path, sizeof(path), tb->root, subs[i]) < 0 || mkdir(path, 0700) < 0)
			return -1;
	}
	for (i = 0; i < n; i++) {
		struct timeval tv[2] = { { msgs[i].mtime, 0 }, { msgs[i].mtime, 0 } };

		if (path_fmt(src, sizeof(src), "%s/fetch/%s", testbox_samples, msgs[i].sample) < 0 ||
		    path_fmt(path, sizeof(path), "%s/cur/%s", tb->root, msgs[i].name) < 0)
			return -1;
		buf_init(&data, 0);
		if ((fd = open(src, O_RDONLY | O_CLOEXEC)) < 0 || buf_read_fd(&data, fd) < 0)
			return -1;
		close(fd);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
		    write(fd, data.data, data.len) != (ssize_t)data.len)
			return -1;
		close(fd);
		buf_free(&data);
		if (utimes(path, tv) < 0)
			return -1;
	}
	if (imap_mailbox_open(tb->root, "INBOX", readonly, &tb->mb, &error, &code) < 0) {
		fprintf(stderr, "imap_mailbox_open: %s\n", error);
		return -1;
	}
	tb->parser = imap_parser_new(&limits);
	return 0;
}

__attribute__((unused)) static void
testbox_free(struct testbox *tb)
{
	if (tb->mb != NULL)
		imap_mailbox_close(tb->mb);
	if (tb->parser != NULL)
		imap_parser_free(tb->parser);
	if (tb->root != NULL) {
		testutil_rmtree(tb->root);
		free(tb->root);
	}
}

/*
 * Parse one command: lines separated by CRLF, a line ending in {n}
 * followed by the n octets of a literal (8-bit text must come so).  Its
 * arguments, NULL when the parser refused it.
 */
__attribute__((unused)) static const struct imap_arg *
testbox_parse(struct testbox *tb, const char *cmd, size_t *n_r)
{
	const char *p = cmd, *crlf;
	enum imap_parse_result r;
	size_t lit, len;
	bool sync;

	imap_parser_reset(tb->parser);
	for (;;) {
		crlf = strstr(p, "\r\n");
		len = crlf != NULL ? (size_t)(crlf - p) : strlen(p);
		r = imap_parser_line(tb->parser, p, len, &lit, &sync);
		if (r == IMAP_PARSE_DONE)
			return imap_parser_args(tb->parser, n_r);
		if (r != IMAP_PARSE_LITERAL || crlf == NULL || strlen(crlf + 2) < lit)
			return NULL;
		p = crlf + 2;
		if (lit > 0 && imap_parser_literal(tb->parser, p, lit) == IMAP_PARSE_ERROR)
			return NULL;
		p += lit;
	}
}

/* Remove message file name from cur/ (another program deleting it). */
__attribute__((unused)) static int
testbox_unlink(struct testbox *tb, const char *name)
{
	char path[PATH_MAX];

	if (path_fmt(path, sizeof(path), "%s/cur/%s", tb->root, name) < 0)
		return -1;
	return unlink(path);
}

#endif
