/* test_imap_folders.c - unit tests for imapd/imap_folders.c: mailbox names, LIST, CREATE, DELETE, RENAME, subscriptions, STATUS over a Maildir++. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "buf.h"
#include "imap_folders.h"
#include "imap_mailbox.h"
#include "path.h"
#include "testutil.h"

static int
setup_root(void **state)
{
	char *dir = testutil_mkdtemp("imapfolders");
	char p[PATH_MAX];

	if (dir == NULL)
		return -1;
	if (path_join(p, sizeof(p), dir, "cur") == -1 || mkdir(p, 0700) == -1 ||
	    path_join(p, sizeof(p), dir, "new") == -1 || mkdir(p, 0700) == -1 ||
	    path_join(p, sizeof(p), dir, "tmp") == -1 || mkdir(p, 0700) == -1)
		return -1;
	*state = dir;
	return 0;
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX];
	int fd;

	assert_int_equal(path_join(p, sizeof(p), dir, rel), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static int
mkdir_in(const char *root, const char *rel)
{
	char p[PATH_MAX];

	assert_int_equal(path_join(p, sizeof(p), root, rel), 0);
	return mkdir(p, 0700);
}

static bool
is_dir(const char *root, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(path_join(p, sizeof(p), root, rel), 0);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
create_ok(const char *root, const char *name)
{
	const char *err = NULL, *code = NULL;

	assert_int_equal(imap_folder_create(root, name, &err, &code), 0);
}

static const struct imap_folder *
find(const struct imap_folder *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static void
test_imap_folders_name_checks(void **state)
{
	char big[300];
	char p[PATH_MAX];

	(void)state;
	assert_true(imap_folder_name_ok("INBOX"));
	assert_true(imap_folder_name_ok("Sent Items"));
	assert_true(imap_folder_name_ok("Lists.osd"));
	assert_true(imap_folder_name_ok("&AOQ-pfel"));          /* "äpfel" */
	assert_true(imap_folder_name_ok("Tom &- Jerry"));       /* '&' itself */
	assert_true(imap_folder_name_ok("&2D3eAA-"));           /* U+1F600 as a surrogate pair */
	/* Nothing may name a path outside the Maildir. */
	assert_false(imap_folder_name_ok("../x"));
	assert_false(imap_folder_name_ok("/etc"));
	assert_false(imap_folder_name_ok("a/b"));
	assert_false(imap_folder_name_ok(".hidden"));
	assert_false(imap_folder_name_ok("a..b"));
	assert_false(imap_folder_name_ok("a."));
	assert_false(imap_folder_name_ok(""));
	assert_false(imap_folder_name_ok("a\tb"));
	assert_false(imap_folder_name_ok("a\x7f"));
	assert_false(imap_folder_name_ok("\xc3\xa4pfel"));      /* 8-bit: must be modified UTF-7 */
	/* Modified UTF-7 that is not: unterminated, encoded ASCII, a lone surrogate, bad padding. */
	assert_false(imap_folder_name_ok("&AOQ"));
	assert_false(imap_folder_name_ok("&AGE-"));
	assert_false(imap_folder_name_ok("&2D0-"));
	assert_false(imap_folder_name_ok("&AOR-"));
	assert_false(imap_folder_name_ok("&A/Q-"));
	memset(big, 'a', 255);
	big[255] = '\0';
	assert_true(imap_folder_name_ok(big));
	big[255] = 'a';
	big[256] = '\0';
	assert_false(imap_folder_name_ok(big));
	errno = 0;
	assert_int_equal(imap_folder_dir("/r", "../x", p, sizeof(p)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(imap_folder_dir("/r", "inbox", p, sizeof(p)), 0);
	assert_string_equal(p, "/r");
	assert_int_equal(imap_folder_dir("/r", "A.B", p, sizeof(p)), 0);
	assert_string_equal(p, "/r/.A.B");
}

static void
test_imap_folders_create_and_list(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder *v;
	size_t n;

	create_ok(root, "a.b");         /* no "a": allowed, only .a.b is made */
	create_ok(root, "Sent");
	create_ok(root, "Deleted Items");
	create_ok(root, "Spam");
	create_ok(root, "Zed.");        /* a trailing separator: "Zed" */
	assert_true(is_dir(root, ".a.b/cur"));
	assert_true(is_dir(root, ".a.b/new"));
	assert_true(is_dir(root, ".a.b/tmp"));
	assert_false(is_dir(root, ".a"));
	assert_true(is_dir(root, ".Zed/cur"));
	{
		char p[PATH_MAX];
		struct stat st;

		assert_int_equal(path_join(p, sizeof(p), root, ".a.b/maildirfolder"), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
	/* Something that is no folder: a file, a dot-dir without cur/. */
	put(root, ".notafolder", "x");
	assert_int_equal(mkdir_in(root, ".nocur"), 0);
	assert_int_equal(imap_folder_create(root, "Sent", &err, &code), -1);
	assert_string_equal(code, "ALREADYEXISTS");
	assert_int_equal(imap_folder_create(root, "inbox", &err, &code), -1);
	assert_string_equal(code, "ALREADYEXISTS");
	assert_int_equal(imap_folder_create(root, "../x", &err, &code), -1);
	assert_string_equal(code, "CANNOT");
	assert_int_equal(imap_folder_create(root, ".hidden", &err, &code), -1);
	assert_int_equal(imap_folder_create(root, "/etc", &err, &code), -1);

	assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
	assert_int_equal(n, 7);
	assert_string_equal(v[0].name, "INBOX");
	assert_false(v[0].noselect);
	assert_string_equal(v[1].name, "Deleted Items");
	assert_string_equal(v[1].special_use, "\\Trash");
	assert_string_equal(find(v, n, "Sent")->special_use, "\\Sent");
	assert_string_equal(find(v, n, "Spam")->special_use, "\\Junk");
	assert_null(find(v, n, "Zed")->special_use);
	assert_true(find(v, n, "a")->noselect);
	assert_true(find(v, n, "a")->has_children);
	assert_false(find(v, n, "a.b")->noselect);
	assert_false(find(v, n, "a.b")->has_children);
	assert_false(find(v, n, "Sent")->has_children);
	assert_null(find(v, n, "notafolder"));
	imap_folders_free(v, n);
}

/* Parents two levels up without a Maildir, and one missing parent of two children: each listed once, \Noselect. */
static void
test_imap_folders_list_missing_parents(void **state)
{
	const char *root = *state;
	const char *err = NULL;
	struct imap_folder *v;
	size_t n;

	create_ok(root, "A.B.C");
	create_ok(root, "X.one");
	create_ok(root, "X.two");
	assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
	assert_int_equal(n, 7);         /* INBOX A A.B A.B.C X X.one X.two */
	assert_true(find(v, n, "A")->noselect);
	assert_true(find(v, n, "A")->has_children);
	assert_true(find(v, n, "A.B")->noselect);
	assert_true(find(v, n, "A.B")->has_children);
	assert_false(find(v, n, "A.B.C")->noselect);
	assert_false(find(v, n, "A.B.C")->has_children);
	assert_true(find(v, n, "X")->noselect);
	assert_true(find(v, n, "X")->has_children);
	imap_folders_free(v, n);
}

static void
test_imap_folders_delete(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder_status st;

	create_ok(root, "a");
	create_ok(root, "a.b");
	put(root, ".a.b/new/1700000000.M1P1.h,S=2", "x\n");
	assert_int_equal(imap_folder_delete(root, "INBOX", &err, &code), -1);
	assert_string_equal(code, "CANNOT");
	assert_int_equal(imap_folder_delete(root, "a", &err, &code), -1);
	assert_string_equal(code, "INUSE");
	assert_string_equal(err, "Mailbox has children, delete them first");
	assert_int_equal(imap_folder_delete(root, "nope", &err, &code), -1);
	assert_string_equal(code, "NONEXISTENT");
	assert_int_equal(imap_folder_status(root, "a.b", &st, &err, &code), 0);
	assert_int_equal(st.messages, 1);
	assert_int_equal(imap_folder_delete(root, "a.b", &err, &code), 0);
	assert_false(is_dir(root, ".a.b"));
	assert_int_equal(imap_folder_delete(root, "a", &err, &code), 0);
	assert_false(is_dir(root, ".a"));
	/* Made again: a new UIDVALIDITY (RFC 3501 section 2.3.1.1). */
	{
		struct imap_folder_status st2;

		create_ok(root, "a.b");
		assert_int_equal(imap_folder_status(root, "a.b", &st2, &err, &code), 0);
		assert_int_equal(st2.messages, 0);
		assert_true(st2.uidvalidity != st.uidvalidity);
	}
}

static void
test_imap_folders_rename_children_follow(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder_status before, after;

	create_ok(root, "a");
	create_ok(root, "a.b");
	create_ok(root, "ab");          /* not a child of "a" */
	create_ok(root, "x");
	put(root, ".a/new/1700000000.M1P1.h,S=2", "x\n");
	assert_int_equal(imap_folder_subscribe(root, "a.b", true, &err), 0);
	assert_int_equal(imap_folder_status(root, "a", &before, &err, &code), 0);
	assert_int_equal(imap_folder_rename(root, "a", "x", &err, &code), -1);
	assert_string_equal(code, "ALREADYEXISTS");
	assert_int_equal(imap_folder_rename(root, "a", "a.c", &err, &code), -1);
	assert_string_equal(code, "CANNOT");
	assert_int_equal(imap_folder_rename(root, "zz", "yy", &err, &code), -1);
	assert_string_equal(code, "NONEXISTENT");
	assert_int_equal(imap_folder_rename(root, "a", "../etc", &err, &code), -1);
	assert_int_equal(imap_folder_rename(root, "a", "n.m", &err, &code), 0);
	assert_true(is_dir(root, ".n.m/cur"));
	assert_true(is_dir(root, ".n.m.b/cur"));
	assert_false(is_dir(root, ".a"));
	assert_false(is_dir(root, ".a.b"));
	assert_true(is_dir(root, ".ab/cur"));
	/* Same mailbox under a new name: UIDVALIDITY and UIDs kept. */
	assert_int_equal(imap_folder_status(root, "n.m", &after, &err, &code), 0);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.messages, 1);
	assert_int_equal(after.uidnext, before.uidnext);
	{
		struct imap_folder *v;
		size_t n;

		assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
		assert_true(find(v, n, "n.m.b")->subscribed);
		assert_true(find(v, n, "n")->noselect);
		imap_folders_free(v, n);
	}
}

static void
test_imap_folders_rename_inbox_moves_messages(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder_status st;

	put(root, "new/1700000000.M1P1.h,S=2", "x\n");
	put(root, "cur/1700000001.M1P1.h,S=2:2,S", "y\n");
	create_ok(root, "INBOX.kid");
	assert_int_equal(imap_folder_rename(root, "INBOX", "Old", &err, &code), 0);
	assert_int_equal(imap_folder_status(root, "Old", &st, &err, &code), 0);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(imap_folder_status(root, "INBOX", &st, &err, &code), 0);
	assert_int_equal(st.messages, 0);
	assert_true(is_dir(root, ".INBOX.kid/cur"));   /* INBOX's children stay */
}

static void
test_imap_folders_subscriptions(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder *v;
	char p[PATH_MAX];
	struct buf b;
	size_t n;
	int fd;

	create_ok(root, "Sent");
	assert_int_equal(imap_folder_subscribe(root, "Sent", true, &err), 0);
	assert_int_equal(imap_folder_subscribe(root, "INBOX", true, &err), 0);
	assert_int_equal(imap_folder_subscribe(root, "Sent", true, &err), 0);     /* twice: once */
	assert_int_equal(imap_folder_subscribe(root, "../x", true, &err), -1);
	assert_int_equal(path_join(p, sizeof(p), root, "subscriptions"), 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	buf_init(&b, 0);
	assert_int_equal(buf_read_fd(&b, fd), 0);
	close(fd);
	assert_string_equal(b.data, "Sent\nINBOX\n");
	buf_free(&b);
	assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
	assert_true(find(v, n, "Sent")->subscribed);
	assert_true(find(v, n, "INBOX")->subscribed);
	imap_folders_free(v, n);
	assert_int_equal(imap_folder_subscribe(root, "Sent", false, &err), 0);
	assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
	assert_false(find(v, n, "Sent")->subscribed);
	imap_folders_free(v, n);
	/* A subscription outlives its folder: listed \Noselect, no children, still subscribed; once. */
	create_ok(root, "Gone.kid");
	assert_int_equal(imap_folder_subscribe(root, "Gone.kid", true, &err), 0);
	assert_int_equal(imap_folder_delete(root, "Gone.kid", &err, &code), 0);
	assert_int_equal(imap_folders_list(root, &v, &n, &err), 0);
	assert_int_equal(n, 3);         /* INBOX Gone.kid Sent: no parent "Gone" made up */
	assert_true(find(v, n, "Gone.kid")->noselect);
	assert_false(find(v, n, "Gone.kid")->has_children);
	assert_true(find(v, n, "Gone.kid")->subscribed);
	assert_false(find(v, n, "Sent")->noselect);
	imap_folders_free(v, n);
}

static void
test_imap_folders_status_without_select(void **state)
{
	const char *root = *state;
	const char *err = NULL, *code = NULL;
	struct imap_folder_status st;
	struct imap_mailbox *mb;

	put(root, "new/1700000000.M1P1.h,S=2", "x\n");
	put(root, "cur/1700000001.M1P1.h,S=3:2,S", "yy\n");
	assert_int_equal(imap_folder_status(root, "INBOX", &st, &err, &code), 0);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.recent, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.uidnext, 3);
	assert_int_equal(st.size, 5);
	assert_true(st.uidvalidity != 0);
	/* Read-only: new/ left alone, \Recent left for the SELECT. */
	assert_true(is_dir(root, "new"));
	{
		char p[PATH_MAX];
		struct stat sb;

		assert_int_equal(path_join(p, sizeof(p), root, "new/1700000000.M1P1.h,S=2"), 0);
		assert_int_equal(stat(p, &sb), 0);
	}
	assert_int_equal(imap_mailbox_open(root, "INBOX", false, &mb, &err, &code), 0);
	assert_int_equal(imap_mailbox_uidvalidity(mb), st.uidvalidity);
	assert_int_equal(imap_mailbox_recent(mb), 2);
	imap_mailbox_close(mb);
	assert_int_equal(imap_folder_status(root, "INBOX", &st, &err, &code), 0);
	assert_int_equal(st.recent, 0);
	assert_int_equal(imap_folder_status(root, "Nope", &st, &err, &code), -1);
	assert_string_equal(code, "NONEXISTENT");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_folders_name_checks),
		cmocka_unit_test_setup_teardown(test_imap_folders_create_and_list, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_list_missing_parents, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_delete, setup_root, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_rename_children_follow, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_rename_inbox_moves_messages, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_subscriptions, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_folders_status_without_select, setup_root,
						testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
