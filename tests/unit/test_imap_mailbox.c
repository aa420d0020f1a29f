/* test_imap_mailbox.c - unit tests for imapd/imap_mailbox.c: UIDs that last, others' deliveries and deletions, sequence numbers of EXPUNGE, flags, COPY, APPEND, quota, migration, two processes at once. */
#include <dirent.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "buf.h"
#include "imap_folders.h"
#include "imap_mailbox.h"
#include "imap_uidlist.h"
#include "imap_viewcache.h"
#include "path.h"
#include "testutil.h"

static const char *samples;     /* tests/unit/imap/store */

static void
mkmaildir(const char *dir)
{
	char p[PATH_MAX];

	(void)mkdir(dir, 0700);
	assert_int_equal(path_join(p, sizeof(p), dir, "cur"), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(path_join(p, sizeof(p), dir, "new"), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(path_join(p, sizeof(p), dir, "tmp"), 0);
	assert_int_equal(mkdir(p, 0700), 0);
}

static int
setup_root(void **state)
{
	char *dir = testutil_mkdtemp("imapmb");

	if (dir == NULL)
		return -1;
	mkmaildir(dir);
	*state = dir;
	return 0;
}

/* Write a file as a delivery does: into sub ("new" or "cur") of dir. */
static void
put(const char *dir, const char *sub, const char *name, const char *text)
{
	char p[PATH_MAX];
	int fd;

	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", dir, sub, name), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static bool
exists(const char *dir, const char *sub, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(path_fmt(p, sizeof(p), "%s/%s/%s", dir, sub, name), 0);
	return stat(p, &st) == 0;
}

static void
deliver5(const char *root)
{
	/* Named as osd's delivery names them; deliberately created out of order. */
	put(root, "new", "1700000003.M3P9.h,S=6", "three\n");
	put(root, "new", "1700000001.M1P9.h,S=4", "one\n");
	put(root, "new", "1700000002.M2P9.h,S=4", "two\n");
	put(root, "new", "1700000005.M5P9.h,S=5", "five\n");
	put(root, "new", "1700000004.M4P9.h,S=5", "four\n");
}

static struct imap_mailbox *
open_ok(const char *root, const char *name, bool ro)
{
	struct imap_mailbox *mb = NULL;
	const char *err = NULL, *code = NULL;

	assert_int_equal(imap_mailbox_open(root, name, ro, &mb, &err, &code), 0);
	assert_non_null(mb);
	return mb;
}

static void
sync_ok(struct imap_mailbox *mb, bool expunges, struct imap_sync_report *r)
{
	const char *err = NULL;

	assert_int_equal(imap_mailbox_sync(mb, expunges, r, &err), 0);
}

static void
test_imap_mailbox_uids_stable_across_reopen(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	uint32_t uidv, i;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 5);
	uidv = imap_mailbox_uidvalidity(mb);
	assert_true(uidv != 0);
	assert_int_equal(imap_mailbox_uidnext(mb), 6);
	/* UIDs in delivery order (the time in the name), not readdir order. */
	for (i = 1; i <= 5; i++) {
		char want[32];

		snprintf(want, sizeof(want), "17000000%02u.M%uP9.h", i, i);
		assert_int_equal(imap_mailbox_msg(mb, i)->uid, i);
		assert_memory_equal(imap_mailbox_msg(mb, i)->name, want, strlen(want));
		assert_true(imap_mailbox_msg(mb, i)->recent);
		assert_int_equal(imap_mailbox_msg(mb, i)->internal_date, 1700000000 + i);
	}
	assert_int_equal(imap_mailbox_msg(mb, 3)->file_size, 6);
	assert_int_equal(imap_mailbox_recent(mb), 5);
	/* Seen by a read-write session: moved to cur/ with ":2,". */
	assert_true(exists(root, "cur", "1700000001.M1P9.h,S=4:2,"));
	assert_false(exists(root, "new", "1700000001.M1P9.h,S=4"));
	imap_mailbox_close(mb);

	mb = open_ok(root, "inbox", false);
	assert_int_equal(imap_mailbox_uidvalidity(mb), uidv);
	assert_int_equal(imap_mailbox_count(mb), 5);
	for (i = 1; i <= 5; i++) {
		assert_int_equal(imap_mailbox_msg(mb, i)->uid, i);
		/* \Recent only for the first session. */
		assert_false(imap_mailbox_msg(mb, i)->recent);
	}
	assert_int_equal(imap_mailbox_seq_of_uid(mb, 4), 4);
	assert_int_equal(imap_mailbox_seq_of_uid(mb, 9), 0);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_new_files_get_increasing_uids(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb, *other;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	other = open_ok(root, "INBOX", true);  /* EXAMINE: nothing \Recent taken */
	sync_ok(mb, true, &r);
	assert_false(r.count_changed);
	put(root, "new", "1700000010.M1P9.h,S=4", "six\n");
	put(root, "new", "1700000011.M1P9.h,S=6", "seven\n");
	sync_ok(other, true, &r);      /* the other session gives them their UIDs first */
	assert_true(r.count_changed);
	assert_int_equal(imap_mailbox_count(other), 7);
	assert_true(imap_mailbox_msg(other, 6)->recent);        /* not taken yet */
	sync_ok(mb, true, &r);
	assert_true(r.count_changed);
	assert_int_equal(r.n_expunged, 0);
	assert_int_equal(imap_mailbox_count(mb), 7);
	assert_int_equal(imap_mailbox_msg(mb, 6)->uid, 6);
	assert_int_equal(imap_mailbox_msg(mb, 7)->uid, 7);
	assert_true(imap_mailbox_msg(mb, 7)->recent);
	assert_int_equal(imap_mailbox_recent(mb), 7);
	assert_int_equal(imap_mailbox_uidnext(mb), 8);
	imap_mailbox_close(other);
	imap_mailbox_close(mb);
}

/* Apply a report to the client's list of UIDs as a client does: each EXPUNGE n in turn. */
static size_t
client_apply(uint32_t *uids, size_t n, const struct imap_sync_report *r)
{
	size_t i;

	for (i = 0; i < r->n_expunged; i++) {
		uint32_t seq = r->expunged[i];

		assert_true(seq >= 1 && seq <= n);
		memmove(&uids[seq - 1], &uids[seq], (n - seq) * sizeof(*uids));
		n--;
	}
	return n;
}

static void
test_imap_mailbox_removed_outside_reported_with_right_sequence(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb;
	uint32_t client[5] = { 1, 2, 3, 4, 5 };
	char p[PATH_MAX];
	size_t n;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	/* As pop3d deletes: unlink from cur/. */
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/%s", root, "1700000002.M2P9.h,S=4:2,"), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/%s", root, "1700000004.M4P9.h,S=5:2,"), 0);
	assert_int_equal(unlink(p), 0);
	sync_ok(mb, true, &r);
	assert_int_equal(r.n_expunged, 2);
	/* From the highest down: EXPUNGE 4, then 2. */
	assert_int_equal(r.expunged[0], 4);
	assert_int_equal(r.expunged[1], 2);
	assert_true(r.count_changed);
	n = client_apply(client, 5, &r);
	assert_int_equal(n, 3);
	assert_int_equal(imap_mailbox_count(mb), 3);
	for (n = 0; n < 3; n++)
		assert_int_equal(imap_mailbox_msg(mb, (uint32_t)n + 1)->uid, client[n]);
	assert_int_equal(client[1], 3);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_ghost_until_expunges_allowed(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb;
	struct buf b;
	char p[PATH_MAX];

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/%s", root, "1700000003.M3P9.h,S=6:2,"), 0);
	assert_int_equal(unlink(p), 0);
	put(root, "new", "1700000020.M1P9.h,S=4", "new\n");
	/* During FETCH/STORE/SEARCH: no EXPUNGE; the message keeps its number, flagged expunged. */
	sync_ok(mb, false, &r);
	assert_int_equal(r.n_expunged, 0);
	assert_int_equal(imap_mailbox_count(mb), 6);    /* the new one may come (EXISTS is allowed) */
	assert_true(imap_mailbox_msg(mb, 3)->expunged);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 3);
	assert_int_equal(imap_mailbox_msg(mb, 6)->uid, 6);
	buf_init(&b, 0);
	errno = 0;
	assert_int_equal(imap_mailbox_read(mb, 3, &b), -1);
	assert_int_equal(errno, ENOENT);
	/* Still a ghost at a second sync without expunges. */
	sync_ok(mb, false, &r);
	assert_int_equal(r.n_expunged, 0);
	assert_true(imap_mailbox_msg(mb, 3)->expunged);
	sync_ok(mb, true, &r);
	assert_int_equal(r.n_expunged, 1);
	assert_int_equal(r.expunged[0], 3);
	assert_int_equal(imap_mailbox_count(mb), 5);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 4);
	buf_free(&b);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_flags_renamed_and_seen_by_others(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *a, *b;
	struct buf content;
	char from[PATH_MAX], to[PATH_MAX];
	int k;

	deliver5(root);
	a = open_ok(root, "INBOX", false);
	b = open_ok(root, "INBOX", false);
	k = imap_mailbox_keyword_index(a, "$Forwarded", true);
	assert_int_equal(k, 0);
	assert_int_equal(imap_mailbox_set_flags(a, 2, IMAP_FLAG_SEEN | IMAP_FLAG_FLAGGED, 1u << k), 0);
	/* Maildir info letters in ASCII order: system flags, then keywords. */
	assert_true(exists(root, "cur", "1700000002.M2P9.h,S=4:2,FSa"));
	assert_string_equal(imap_mailbox_msg(a, 2)->name, "1700000002.M2P9.h,S=4:2,FSa");
	sync_ok(a, true, &r);
	assert_int_equal(r.n_changed, 0);       /* its own change is not reported back */
	sync_ok(b, true, &r);
	assert_int_equal(r.n_changed, 1);
	assert_int_equal(r.changed[0], 2);
	assert_true(r.keywords_changed);
	assert_int_equal(imap_mailbox_msg(b, 2)->flags, IMAP_FLAG_SEEN | IMAP_FLAG_FLAGGED);
	assert_int_equal(imap_mailbox_msg(b, 2)->keywords, 1u);
	assert_string_equal(imap_mailbox_keyword(b, 0), "$Forwarded");
	assert_int_equal(imap_mailbox_keyword_index(b, "$forwarded", false), 0);
	/* Another program renames it (a flag of its own, 'P', kept by later renames). */
	assert_int_equal(path_fmt(from, sizeof(from), "%s/cur/1700000002.M2P9.h,S=4:2,FSa", root), 0);
	assert_int_equal(path_fmt(to, sizeof(to), "%s/cur/1700000002.M2P9.h,S=4:2,PRSa", root), 0);
	assert_int_equal(rename(from, to), 0);
	/* Read before a sync: found again by its base name. */
	buf_init(&content, 0);
	assert_int_equal(imap_mailbox_read(a, 2, &content), 0);
	assert_string_equal(content.data, "two\n");
	buf_free(&content);
	/* set_flags of a renamed file: found again too; the unknown letter stays. */
	assert_int_equal(imap_mailbox_set_flags(b, 2, IMAP_FLAG_DELETED, 0), 0);
	assert_true(exists(root, "cur", "1700000002.M2P9.h,S=4:2,PT"));
	sync_ok(a, true, &r);
	assert_int_equal(r.n_changed, 1);
	assert_int_equal(imap_mailbox_msg(a, 2)->flags, IMAP_FLAG_DELETED);
	imap_mailbox_close(a);
	imap_mailbox_close(b);
}

/* Every message renamed by another session: one sync takes the new names of all (each found while earlier ones were taken). */
static void
test_imap_mailbox_sync_many_renamed_by_other(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *a, *b;
	uint32_t i;

	deliver5(root);
	a = open_ok(root, "INBOX", false);
	b = open_ok(root, "INBOX", false);
	for (i = 1; i <= 5; i++)
		assert_int_equal(imap_mailbox_set_flags(b, i, IMAP_FLAG_DELETED, 0), 0);
	sync_ok(a, false, &r);
	assert_int_equal(r.n_changed, 5);
	for (i = 1; i <= 5; i++)
		assert_int_equal(imap_mailbox_msg(a, i)->flags, IMAP_FLAG_DELETED);
	imap_mailbox_close(a);
	imap_mailbox_close(b);
}

static void
test_imap_mailbox_expunge_deleted_and_uid_expunge(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb;
	const char *err = NULL;
	uint32_t only = 4;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_set_flags(mb, 2, IMAP_FLAG_DELETED, 0), 0);
	assert_int_equal(imap_mailbox_set_flags(mb, 4, IMAP_FLAG_DELETED, 0), 0);
	/* UID EXPUNGE 4: only that one. */
	assert_int_equal(imap_mailbox_expunge(mb, &only, 1, &err), 0);
	sync_ok(mb, true, &r);
	assert_int_equal(r.n_expunged, 1);
	assert_int_equal(r.expunged[0], 4);
	assert_int_equal(imap_mailbox_expunge(mb, NULL, 0, &err), 0);
	sync_ok(mb, true, &r);
	assert_int_equal(r.n_expunged, 1);
	assert_int_equal(r.expunged[0], 2);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_false(exists(root, "cur", "1700000002.M2P9.h,S=4:2,T"));
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_append_uid_lf_date_flags(void **state)
{
	const char *root = *state;
	const char *kws[] = { "Work" };
	struct imap_mailbox *mb;
	const char *err = NULL, *code = NULL;
	uint32_t uidv = 0, uid = 0;
	struct buf b;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_append(root, "INBOX", "Subject: x\r\n\r\nbody\r\n", 20,
					     IMAP_FLAG_SEEN, kws, 1, 1600000000, &uidv, &uid, &err, &code), 0);
	assert_int_equal(uidv, imap_mailbox_uidvalidity(mb));
	assert_int_equal(uid, 6);
	{
		struct imap_sync_report r;

		sync_ok(mb, true, &r);
		assert_true(r.count_changed);
		assert_true(r.keywords_changed);
	}
	assert_int_equal(imap_mailbox_count(mb), 6);
	assert_int_equal(imap_mailbox_msg(mb, 6)->uid, 6);
	assert_int_equal(imap_mailbox_msg(mb, 6)->flags, IMAP_FLAG_SEEN);
	assert_int_equal(imap_mailbox_msg(mb, 6)->keywords, 1u);
	assert_string_equal(imap_mailbox_keyword(mb, 0), "Work");
	assert_int_equal(imap_mailbox_msg(mb, 6)->internal_date, 1600000000);
	/* Stored with LF line ends, as deliveries are; ,S= is that size. */
	assert_int_equal(imap_mailbox_msg(mb, 6)->file_size, 17);
	buf_init(&b, 0);
	assert_int_equal(imap_mailbox_read(mb, 6, &b), 0);
	assert_string_equal(b.data, "Subject: x\n\nbody\n");
	buf_free(&b);
	{
		char p[PATH_MAX];
		struct stat st;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/%s", root, imap_mailbox_msg(mb, 6)->name), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mtime, 1600000000);
		assert_non_null(strstr(p, ":2,Sa"));
	}
	/* A folder that does not exist: TRYCREATE. */
	assert_int_equal(imap_mailbox_append(root, "Nope", "x", 1, 0, NULL, 0, 0, &uidv, &uid, &err, &code), -1);
	assert_string_equal(code, "TRYCREATE");
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_copy_uids_and_flags(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb, *dest;
	const char *err = NULL, *code = NULL;
	uint32_t seqs[2] = { 3, 1 }, uids[2] = { 0, 0 }, uidv = 0;
	int k;

	deliver5(root);
	assert_int_equal(imap_folder_create(root, "Archive", &err, &code), 0);
	mb = open_ok(root, "INBOX", false);
	k = imap_mailbox_keyword_index(mb, "Later", true);
	assert_true(k >= 0);
	assert_int_equal(imap_mailbox_set_flags(mb, 3, IMAP_FLAG_ANSWERED, 1u << k), 0);
	assert_int_equal(imap_mailbox_copy(mb, seqs, 2, "Archive", &uidv, uids, &err, &code), 0);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	dest = open_ok(root, "Archive", false);
	assert_int_equal(imap_mailbox_uidvalidity(dest), uidv);
	assert_true(uidv != imap_mailbox_uidvalidity(mb));
	assert_int_equal(imap_mailbox_count(dest), 2);
	/* COPYUID order: the source's seq 3 is the destination's UID 1. */
	assert_int_equal(imap_mailbox_msg(dest, 1)->flags, IMAP_FLAG_ANSWERED);
	assert_int_equal(imap_mailbox_msg(dest, 1)->internal_date, 1700000003);
	assert_int_equal(imap_mailbox_msg(dest, 1)->file_size, 6);
	assert_string_equal(imap_mailbox_keyword(dest, 0), "Later");
	assert_int_equal(imap_mailbox_msg(dest, 1)->keywords, 1u);
	assert_true(imap_mailbox_msg(dest, 1)->recent);
	assert_int_equal(imap_mailbox_msg(dest, 2)->internal_date, 1700000001);
	/* Copy into the same folder: a new name, a new UID. */
	assert_int_equal(imap_mailbox_copy(mb, seqs, 1, "INBOX", &uidv, uids, &err, &code), 0);
	assert_int_equal(uids[0], 6);
	assert_int_equal(imap_mailbox_copy(mb, seqs, 1, "Missing", &uidv, uids, &err, &code), -1);
	assert_string_equal(code, "TRYCREATE");
	imap_mailbox_close(dest);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_quota_refuses_append_and_copy(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	const char *err = NULL, *code = NULL;
	uint32_t uidv, uid, seq = 1, uids[1];
	char p[PATH_MAX];
	struct buf b;
	int fd;

	deliver5(root);
	put(root, ".", "maildirsize", "38S,100C\n24 5\n");
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_append(root, "INBOX", "0123456789012345678", 19, 0, NULL, 0, 0, &uidv,
					     &uid, &err, &code), -1);
	assert_string_equal(code, "OVERQUOTA");
	assert_string_equal(err, "Quota exceeded (mailbox for user is full)");
	assert_int_equal(imap_mailbox_append(root, "INBOX", "0123456789\r\n", 12, 0, NULL, 0, 0, &uidv, &uid,
					     &err, &code), 0);
	/* 24 + 11 = 35: a 4-octet copy goes over 38. */
	assert_int_equal(imap_mailbox_copy(mb, &seq, 1, "INBOX", &uidv, uids, &err, &code), -1);
	assert_string_equal(code, "OVERQUOTA");
	assert_int_equal(imap_mailbox_set_flags(mb, 1, IMAP_FLAG_DELETED, 0), 0);
	assert_int_equal(imap_mailbox_expunge(mb, NULL, 0, &err), 0);
	assert_int_equal(path_join(p, sizeof(p), root, "maildirsize"), 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	buf_init(&b, 0);
	assert_int_equal(buf_read_fd(&b, fd), 0);
	close(fd);
	assert_string_equal(b.data, "38S,100C\n24 5\n11 1\n-4 -1\n");
	buf_free(&b);
	imap_mailbox_close(mb);
}

static void
copy_sample(const char *sample, const char *dir, const char *name)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct buf b;
	int fd;

	assert_int_equal(path_join(src, sizeof(src), samples, sample), 0);
	assert_int_equal(path_join(dst, sizeof(dst), dir, name), 0);
	fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	buf_init(&b, 0);
	assert_int_equal(buf_read_fd(&b, fd), 0);
	close(fd);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, b.data, b.len), 0);
	close(fd);
	buf_free(&b);
}

static void
test_imap_mailbox_migrates_dovecot_uidlist(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;

	copy_sample("dovecot-uidlist.v3", root, "dovecot-uidlist");
	copy_sample("dovecot-keywords", root, "dovecot-keywords");
	put(root, "cur", "1655390418.M100238P743770V0000000000000030I00000000081274AE_0.example.org,S=3734:2,S",
	    "a\n");
	put(root, "cur", "1655390500.M2P7.example.org,S=12:2,Sb", "b\n");
	put(root, "new", "1655390600.M3P7.example.org,S=40", "c\n");
	put(root, "new", "1655390700.M1P7.example.org,S=2", "d\n");   /* after the migration */
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 1275660208u);
	assert_int_equal(imap_mailbox_count(mb), 4);
	assert_int_equal(imap_mailbox_msg(mb, 1)->uid, 17);
	assert_int_equal(imap_mailbox_msg(mb, 2)->uid, 25017);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 25020);
	assert_int_equal(imap_mailbox_msg(mb, 4)->uid, 25022);
	assert_int_equal(imap_mailbox_uidnext(mb), 25023);
	/* Only the one new to both servers is \Recent. */
	assert_false(imap_mailbox_msg(mb, 3)->recent);
	assert_true(imap_mailbox_msg(mb, 4)->recent);
	assert_string_equal(imap_mailbox_keyword(mb, 1), "Junk");
	assert_int_equal(imap_mailbox_msg(mb, 2)->keywords, 2u);
	imap_mailbox_close(mb);
	/* Our own list now. */
	assert_true(exists(root, ".", IMAP_UIDLIST_NAME));
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 1275660208u);
	assert_int_equal(imap_mailbox_msg(mb, 4)->uid, 25022);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_migrates_courierimapuiddb(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;

	copy_sample("courierimapuiddb.v1", root, "courierimapuiddb");
	put(root, "cur", "1000000001.M1P1.mail.example.com:2,S", "a\n");
	put(root, "cur", "1000000003.M3P1.mail.example.com:2,", "c\n");
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 1100000000u);
	assert_int_equal(imap_mailbox_count(mb), 2);
	assert_int_equal(imap_mailbox_msg(mb, 1)->uid, 3);
	assert_int_equal(imap_mailbox_msg(mb, 2)->uid, 11);
	assert_int_equal(imap_mailbox_uidnext(mb), 12);
	imap_mailbox_close(mb);
}

static void
test_imap_mailbox_open_errors(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb = NULL;
	const char *err = NULL, *code = NULL;

	assert_int_equal(imap_mailbox_open(root, "Nothing", false, &mb, &err, &code), -1);
	assert_string_equal(code, "NONEXISTENT");
	assert_int_equal(imap_mailbox_open(root, "../x", false, &mb, &err, &code), -1);
	assert_null(mb);
}

static void
test_imap_mailbox_uid_below_highest_not_shown(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb;
	char p[PATH_MAX], text[512];
	int fd;

	deliver5(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/%s", root, "1700000004.M4P9.h,S=5:2,"), 0);
	assert_int_equal(unlink(p), 0);
	sync_ok(mb, true, &r);
	assert_int_equal(imap_mailbox_count(mb), 4);
	/* A file that an earlier scan missed, listed with UID 4 (below the session's 5). */
	put(root, "cur", "1700000099.M1P9.h,S=2:2,", "x\n");
	snprintf(text, sizeof(text),
		 "osd-uidlist 1 %u 6 6\n1 1700000001.M1P9.h,S=4\n2 1700000002.M2P9.h,S=4\n"
		 "3 1700000003.M3P9.h,S=6\n4 1700000099.M1P9.h,S=2\n5 1700000005.M5P9.h,S=5\n",
		 imap_mailbox_uidvalidity(mb));
	assert_int_equal(path_join(p, sizeof(p), root, "osd-uidlist.new"), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
	{
		char dst[PATH_MAX];

		assert_int_equal(path_join(dst, sizeof(dst), root, "osd-uidlist"), 0);
		assert_int_equal(rename(p, dst), 0);
	}
	/* Shown between 3 and 5 it would renumber 5 unannounced: it waits for the next SELECT. */
	sync_ok(mb, true, &r);
	assert_false(r.count_changed);
	assert_int_equal(imap_mailbox_count(mb), 4);
	assert_int_equal(imap_mailbox_msg(mb, 4)->uid, 5);
	imap_mailbox_close(mb);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 5);
	assert_int_equal(imap_mailbox_msg(mb, 4)->uid, 4);
	imap_mailbox_close(mb);
}

/*
 * Child k: 100 deliveries into new/, a sync after each, then its view
 * (UID and base of each message) written to root/view<k>.
 */
static int
child_deliver_sync(const char *root, int k)
{
	struct imap_mailbox *mb = NULL;
	struct imap_sync_report r;
	const char *err, *code;
	char p[PATH_MAX];
	FILE *f;
	uint32_t i;

	if (imap_mailbox_open(root, "INBOX", false, &mb, &err, &code) == -1)
		return 1;
	for (i = 0; i < 100; i++) {
		char name[64];
		int fd;

		snprintf(name, sizeof(name), "%u.M%uP%d.h,S=2", 1700001000 + i, i, k);
		if (path_fmt(p, sizeof(p), "%s/new/%s", root, name) == -1)
			return 1;
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd == -1 || write(fd, "x\n", 2) != 2)
			return 1;
		close(fd);
		if (imap_mailbox_sync(mb, true, &r, &err) == -1)
			return 1;
	}
	if (path_fmt(p, sizeof(p), "%s/view%d", root, k) == -1 || (f = fopen(p, "w")) == NULL)
		return 1;
	for (i = 1; i <= imap_mailbox_count(mb); i++) {
		const struct imap_msg *m = imap_mailbox_msg(mb, i);

		fprintf(f, "%u %.*s\n", m->uid, (int)strcspn(m->name, ":"), m->name);
	}
	fclose(f);
	imap_mailbox_close(mb);
	return 0;
}

static void
test_imap_mailbox_two_processes_disjoint_uids(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	pid_t pids[2];
	uint32_t i;
	int k;

	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	for (k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(child_deliver_sync(root, k));
	}
	for (k = 0; k < 2; k++) {
		int st;

		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	mb = open_ok(root, "INBOX", false);
	/* 200 files, 200 different UIDs, ascending. */
	assert_int_equal(imap_mailbox_count(mb), 200);
	for (i = 2; i <= 200; i++)
		assert_true(imap_mailbox_msg(mb, i)->uid > imap_mailbox_msg(mb, i - 1)->uid);
	/* Each session's view agrees with the final list: no UID given twice, none lost. */
	for (k = 0; k < 2; k++) {
		char p[PATH_MAX], base[128];
		unsigned uid, lines = 0;
		FILE *f;

		assert_int_equal(path_fmt(p, sizeof(p), "%s/view%d", root, k), 0);
		f = fopen(p, "r");
		assert_non_null(f);
		while (fscanf(f, "%u %127s", &uid, base) == 2) {
			uint32_t seq = imap_mailbox_seq_of_uid(mb, uid);

			assert_true(seq != 0);
			assert_memory_equal(imap_mailbox_msg(mb, seq)->name, base, strlen(base));
			lines++;
		}
		fclose(f);
		/* It saw at least its own 100. */
		assert_true(lines >= 100);
	}
	imap_mailbox_close(mb);
}

/* Set the mtimes of dir's new/ and cur/ to secs ago (their ctimes become now). */
static void
age_folders(const char *dir, time_t secs)
{
	static const char *const subs[] = { "new", "cur" };
	struct timespec ts[2];
	char p[PATH_MAX];
	int i;

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	for (i = 0; i < 2; i++) {
		assert_int_equal(path_join(p, sizeof(p), dir, subs[i]), 0);
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
}

/* Set the mtime of dir/sub to ts exactly. */
static void
set_mtime(const char *dir, const char *sub, const struct timespec *ts)
{
	struct timespec t[2] = { *ts, *ts };
	char p[PATH_MAX];

	assert_int_equal(path_join(p, sizeof(p), dir, sub), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

/* The folder's file name (osd-uidlist, its cache) whole (into b). */
static void
read_named(const char *dir, const char *name, struct buf *b)
{
	char p[PATH_MAX];
	int fd;

	assert_int_equal(path_join(p, sizeof(p), dir, name), 0);
	buf_init(b, 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(buf_read_fd(b, fd), 0);
	close(fd);
}

/* Replace the folder's file name with len octets of data (the way its writer does: rename; new/ and cur/ untouched). */
static void
replace_named(const char *dir, const char *name, const void *data, size_t len)
{
	char p[PATH_MAX], dst[PATH_MAX];
	int fd;

	assert_int_equal(path_join(p, sizeof(p), dir, "replace.test"), 0);
	assert_int_equal(path_join(dst, sizeof(dst), dir, name), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
	assert_int_equal(rename(p, dst), 0);
}

/* The folder's osd-uidlist as text (into b). */
static void
read_list(const char *dir, struct buf *b)
{
	read_named(dir, IMAP_UIDLIST_NAME, b);
}

/* Replace the folder's osd-uidlist with text. */
static void
write_list(const char *dir, const char *text)
{
	replace_named(dir, IMAP_UIDLIST_NAME, text, strlen(text));
}

/* Words of the list's first line. */
static int
header_words(const struct buf *b)
{
	const char *p = b->data;
	int n = 0;

	while (*p != '\n' && *p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		n++;
		while (*p != ' ' && *p != '\n' && *p != '\0')
			p++;
	}
	return n;
}

/*
 * The list as it is with "c:2," of line uid replaced by "c:2,F" (a flag
 * the file does not have; the modseq after it stays, given for the
 * flags of the info).
 */
static void
tamper_flag(const char *dir, unsigned uid)
{
	char line[64], *at, text[4096];
	struct buf b;

	read_list(dir, &b);
	snprintf(line, sizeof(line), "\n%u ", uid);
	at = strstr(b.data, line);
	assert_non_null(at);
	/* The first " c:2," with no flag from there on (the list's line uid, or a later one). */
	while ((at = strstr(at, " c:2,")) != NULL && at[5] != ' ' && at[5] != '\n')
		at++;
	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s c:2,F%s", (int)(at - b.data), b.data, at + strlen(" c:2,"));
	write_list(dir, text);
	buf_free(&b);
}

/*
 * A list "osd-uidlist 2 77 4 4 <extra><the stamps of new/ and cur/ as
 * they are now>" with the lines entries: one the folders would stand for.
 */
static void
write_list_stamped(const char *root, const char *extra, const char *entries)
{
	char p[PATH_MAX], text[2048];
	struct stat n, c;

	assert_int_equal(path_join(p, sizeof(p), root, "new"), 0);
	assert_int_equal(stat(p, &n), 0);
	assert_int_equal(path_join(p, sizeof(p), root, "cur"), 0);
	assert_int_equal(stat(p, &c), 0);
	snprintf(text, sizeof(text), "osd-uidlist 2 77 4 4 %s%lld.%09ld %lld.%09ld %lld.%09ld %lld.%09ld\n%s", extra,
		 (long long)n.st_mtim.tv_sec, n.st_mtim.tv_nsec, (long long)n.st_ctim.tv_sec, n.st_ctim.tv_nsec,
		 (long long)c.st_mtim.tv_sec, c.st_mtim.tv_nsec, (long long)c.st_ctim.tv_sec, c.st_ctim.tv_nsec,
		 entries);
	write_list(root, text);
}

static void
put3(const char *root)
{
	put(root, "cur", "1700000001.M1P9.h,S=4:2,", "one\n");
	put(root, "cur", "1700000002.M2P9.h,S=4:2,", "two\n");
	put(root, "cur", "1700000003.M3P9.h,S=6:2,", "three\n");
}

/*
 * A folder unchanged since the complete scan that wrote the list is
 * opened from the list (a flag put into the list, not the file, shows);
 * a file added, renamed or removed behind its back (even with the mtime
 * set back) is seen by reading the folders.
 */
static void
test_imap_mailbox_list_stands_for_unchanged_folders(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	struct timespec cur_m;
	struct stat st;
	char p[PATH_MAX], q[PATH_MAX];
	struct buf b;

	put3(root);
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 3);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_true(strncmp(b.data, "osd-uidlist 2 ", 14) == 0);
	assert_int_equal(header_words(&b), 10);  /* name, version, 3 numbers, HIGHESTMODSEQ, 4 stamps */
	assert_non_null(strstr(b.data, "\n2 1700000002.M2P9.h,S=4 c:2, M2\n"));
	buf_free(&b);

	/* Unchanged: the view comes from the list. */
	tamper_flag(root, 2);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_int_equal(imap_mailbox_msg(mb, 2)->flags, IMAP_FLAG_FLAGGED);
	assert_string_equal(imap_mailbox_msg(mb, 2)->name, "1700000002.M2P9.h,S=4:2,F");
	assert_int_equal(imap_mailbox_msg(mb, 3)->file_size, 6);
	assert_int_equal(imap_mailbox_msg(mb, 3)->internal_date, 1700000003);
	imap_mailbox_close(mb);

	/* A file added: the folders are read (and within 2 s of the change no stamps are written). */
	tamper_flag(root, 2);
	put(root, "cur", "1700000004.M4P9.h,S=5:2,", "four\n");
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 4);
	assert_int_equal(imap_mailbox_msg(mb, 2)->flags, 0);
	assert_int_equal(imap_mailbox_msg(mb, 4)->uid, 4);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_int_equal(header_words(&b), 6);
	buf_free(&b);

	/* Renamed behind its back with cur/'s mtime set back to the list's: the ctime tells. */
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_int_equal(header_words(&b), 10);
	buf_free(&b);
	assert_int_equal(path_join(p, sizeof(p), root, "cur"), 0);
	assert_int_equal(stat(p, &st), 0);
	cur_m = st.st_mtim;
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/1700000001.M1P9.h,S=4:2,", root), 0);
	assert_int_equal(path_fmt(q, sizeof(q), "%s/cur/1700000001.M1P9.h,S=4:2,S", root), 0);
	assert_int_equal(rename(p, q), 0);
	set_mtime(root, "cur", &cur_m);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_msg(mb, 1)->flags, IMAP_FLAG_SEEN);
	imap_mailbox_close(mb);

	/* Removed behind its back, the mtime set back again: gone. */
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	assert_int_equal(path_join(p, sizeof(p), root, "cur"), 0);
	assert_int_equal(stat(p, &st), 0);
	cur_m = st.st_mtim;
	assert_int_equal(path_fmt(p, sizeof(p), "%s/cur/1700000003.M3P9.h,S=6:2,", root), 0);
	assert_int_equal(unlink(p), 0);
	set_mtime(root, "cur", &cur_m);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 4);
	imap_mailbox_close(mb);
}

/*
 * A list whose stamps are those of the folders, but whose folders
 * changed within the last 2 seconds, is not trusted: a change in the
 * same clock tick would have left the stamps equal.
 */
static void
test_imap_mailbox_list_not_trusted_within_two_seconds(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	struct stat c;
	char p[PATH_MAX];

	put3(root);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	assert_int_equal(path_join(p, sizeof(p), root, "cur"), 0);
	assert_int_equal(stat(p, &c), 0);
	assert_true(time(NULL) - c.st_mtim.tv_sec < 2);
	write_list_stamped(root, "M9 ",
			   "1 1700000001.M1P9.h,S=4 c:2,F M7\n2 1700000002.M2P9.h,S=4 c:2,F M8\n"
			   "3 1700000003.M3P9.h,S=6 c:2,F M9\n");
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 77);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_int_equal(imap_mailbox_msg(mb, 1)->flags, 0);
	imap_mailbox_close(mb);
	/* The same list once the folders are 2 seconds old: trusted (the tell-tale flag shows). */
	age_folders(root, 100);
	write_list_stamped(root, "M9 ",
			   "1 1700000001.M1P9.h,S=4 c:2,F M7\n2 1700000002.M2P9.h,S=4 c:2,F M8\n"
			   "3 1700000003.M3P9.h,S=6 c:2,F M9\n");
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_msg(mb, 1)->flags, IMAP_FLAG_FLAGGED);
	imap_mailbox_close(mb);
}

/* A version 1 list is read (its UIDs kept) and written again as version 2 with the files and stamps. */
static void
test_imap_mailbox_reads_list_version_1(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	struct buf b;

	put3(root);
	write_list(root, "osd-uidlist 1 4242 10 10\n7 1700000001.M1P9.h,S=4\n8 1700000002.M2P9.h,S=4\n"
			 "9 1700000003.M3P9.h,S=6\n");
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 4242);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_int_equal(imap_mailbox_msg(mb, 1)->uid, 7);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 9);
	assert_int_equal(imap_mailbox_uidnext(mb), 10);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_true(strncmp(b.data, "osd-uidlist 2 4242 10 10 M", 26) == 0);
	assert_int_equal(header_words(&b), 10);
	assert_non_null(strstr(b.data, "\n9 1700000003.M3P9.h,S=6 c:2, M"));
	buf_free(&b);
	/* And opened from it, with the same UIDs. */
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_msg(mb, 2)->uid, 8);
	imap_mailbox_close(mb);
}

/* A vsize noted by a session is in the list after it closes the folder, and the next session has it. */
static void
test_imap_mailbox_vsize_kept_in_list(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	struct buf b;

	put3(root);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_msg(mb, 2)->vsize, 0);
	imap_mailbox_set_vsize(mb, 2, 5);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_non_null(strstr(b.data, "\n2 1700000002.M2P9.h,S=4 W5 M2\n"));
	buf_free(&b);
	/* From a scan (the folders changed recently) and from the list alone (aged). */
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_msg(mb, 2)->vsize, 5);
	assert_int_equal(imap_mailbox_msg(mb, 1)->vsize, 0);
	imap_mailbox_close(mb);
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	read_list(root, &b);
	assert_non_null(strstr(b.data, "\n2 1700000002.M2P9.h,S=4 c:2, W5 M2\n"));
	buf_free(&b);
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_msg(mb, 2)->vsize, 5);
	imap_mailbox_close(mb);
}

/* The cache's octets (into b). */
static void
read_cache(const char *dir, struct buf *b)
{
	read_named(dir, IMAP_VIEWCACHE_NAME, b);
}

/* Replace the cache with len octets of data. */
static void
write_cache(const char *dir, const void *data, size_t len)
{
	replace_named(dir, IMAP_VIEWCACHE_NAME, data, len);
}

/*
 * A tell-tale in the cache only: record i's vsize (at 16 in its 32
 * octets, after the 192-octet header) set to v, the cache sealed again.
 */
static void
tamper_cache_vsize(const char *dir, size_t i, uint64_t v)
{
	struct buf b;

	read_cache(dir, &b);
	assert_true(b.len >= 192 + 32 * (i + 1));
	memcpy(b.data + 192 + 32 * i + 16, &v, sizeof(v));
	imap_viewcache_seal(b.data, b.len);
	write_cache(dir, b.data, b.len);
	buf_free(&b);
}

/*
 * A folder unchanged since the list was written is opened from the
 * list's cache, osd-uidlist.cache (a vsize put into the cache alone
 * shows), messages filled in any order as they are asked for; a STORE,
 * then a file added, work on such a view as on any other.
 */
static void
test_imap_mailbox_cache_stands_for_unchanged_folders(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *mb;

	put3(root);
	put(root, "cur", "1700000000.M0P9.h,S=4:2,S", "zero\n");
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	assert_true(exists(root, ".", IMAP_VIEWCACHE_NAME));
	tamper_cache_vsize(root, 2, 4242);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 4);
	assert_int_equal(imap_mailbox_recent(mb), 0);
	assert_int_equal(imap_mailbox_uidnext(mb), 5);
	assert_int_equal(imap_mailbox_seq_of_uid(mb, 3), 3);
	assert_int_equal(imap_mailbox_seq_of_uid(mb, 9), 0);
	assert_int_equal(imap_mailbox_msg(mb, 3)->vsize, 4242);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 3);
	assert_string_equal(imap_mailbox_msg(mb, 3)->name, "1700000002.M2P9.h,S=4:2,");
	assert_int_equal(imap_mailbox_msg(mb, 3)->internal_date, 1700000002);
	assert_int_equal(imap_mailbox_msg(mb, 1)->flags, IMAP_FLAG_SEEN);
	assert_int_equal(imap_mailbox_msg(mb, 1)->file_size, 4);
	sync_ok(mb, true, &r);
	assert_false(r.count_changed);
	/* A STORE renames the file of a message never filled before. */
	assert_int_equal(imap_mailbox_set_flags(mb, 4, IMAP_FLAG_FLAGGED, 0), 0);
	assert_true(exists(root, "cur", "1700000003.M3P9.h,S=6:2,F"));
	assert_string_equal(imap_mailbox_msg(mb, 4)->name, "1700000003.M3P9.h,S=6:2,F");
	/* Its mod-sequence given with only the filled messages looked at. */
	assert_int_equal(imap_mailbox_commit_flags(mb), 0);
	assert_true(imap_mailbox_msg(mb, 4)->modseq > imap_mailbox_msg(mb, 1)->modseq);
	/* A delivery: the folders are read, the view's messages stay as they are. */
	put(root, "new", "1700000009.M9P9.h,S=5", "nine\n");
	sync_ok(mb, true, &r);
	assert_true(r.count_changed);
	assert_int_equal(r.n_expunged, 0);
	assert_int_equal(imap_mailbox_count(mb), 5);
	assert_int_equal(imap_mailbox_msg(mb, 5)->uid, 5);
	assert_true(imap_mailbox_msg(mb, 5)->recent);
	assert_int_equal(imap_mailbox_msg(mb, 4)->flags, IMAP_FLAG_FLAGGED);
	assert_string_equal(imap_mailbox_msg(mb, 2)->name, "1700000001.M1P9.h,S=4:2,");
	assert_int_equal(imap_mailbox_msg(mb, 3)->vsize, 4242);
	imap_mailbox_close(mb);
}

/*
 * A cache that does not check (cut short, garbage) or that belongs to
 * another version of the list (UIDs changed since) is not used: the view
 * and its UIDs come from the text list, and a good cache is written.
 */
static void
test_imap_mailbox_cache_corrupt_or_stale_ignored(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	struct buf b, text;
	char *junk;
	const char *rest;
	size_t len;
	int i;

	put3(root);
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", false);
	imap_mailbox_close(mb);
	tamper_cache_vsize(root, 1, 4242);
	read_cache(root, &b);
	len = b.len;
	/* Cut short at any of these lengths: the text list, no tell-tale, and the cache made again. */
	for (i = 0; i < 4; i++) {
		static const size_t cut[] = { 0, 100, 192, 232 };

		write_cache(root, b.data, cut[i]);
		mb = open_ok(root, "INBOX", false);
		assert_int_equal(imap_mailbox_count(mb), 3);
		assert_int_equal(imap_mailbox_msg(mb, 2)->uid, 2);
		assert_int_equal(imap_mailbox_msg(mb, 2)->vsize, 0);
		imap_mailbox_close(mb);
		read_cache(root, &text);
		assert_int_equal(text.len, len);
		buf_free(&text);
	}
	/* Garbage of the right size. */
	junk = malloc(len);
	assert_non_null(junk);
	memset(junk, 0x5a, len);
	write_cache(root, junk, len);
	free(junk);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_count(mb), 3);
	assert_int_equal(imap_mailbox_msg(mb, 3)->uid, 3);
	imap_mailbox_close(mb);
	/* The good (tampered) cache back, but the list replaced with other UIDs: the list wins. */
	write_cache(root, b.data, b.len);
	read_list(root, &text);
	rest = text.data;
	for (i = 0; i < 5; i++)
		rest = strchr(rest, ' ') + 1;   /* past "osd-uidlist 2 <uv> <next> <recent> " */
	{
		char list[2048];
		const char *nl = strchr(rest, '\n');

		snprintf(list, sizeof(list),
			 "osd-uidlist 2 77 10 10 %.*s\n7 1700000001.M1P9.h,S=4 c:2,\n8 1700000002.M2P9.h,S=4 c:2,\n"
			 "9 1700000003.M3P9.h,S=6 c:2,\n", (int)(nl - rest), rest);
		write_list(root, list);
	}
	buf_free(&text);
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 77);
	assert_int_equal(imap_mailbox_msg(mb, 1)->uid, 7);
	assert_int_equal(imap_mailbox_msg(mb, 2)->uid, 8);
	assert_int_equal(imap_mailbox_msg(mb, 2)->vsize, 0);
	assert_int_equal(imap_mailbox_uidnext(mb), 10);
	imap_mailbox_close(mb);
	buf_free(&b);
}

/* EXAMINE from the cache counts the UIDs nobody claimed as \Recent; SELECT then claims them (from the text list). */
static void
test_imap_mailbox_cache_examine_recent(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;

	put3(root);
	age_folders(root, 100);
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_recent(mb), 3);
	imap_mailbox_close(mb);
	tamper_cache_vsize(root, 0, 77);
	mb = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_msg(mb, 1)->vsize, 77);
	assert_int_equal(imap_mailbox_recent(mb), 3);
	assert_true(imap_mailbox_msg(mb, 2)->recent);
	imap_mailbox_close(mb);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_recent(mb), 3);
	imap_mailbox_close(mb);
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_recent(mb), 0);
	assert_false(imap_mailbox_msg(mb, 2)->recent);
	imap_mailbox_close(mb);
}

/* The "M<n>" word of line uid in the list (0: none). */
static uint64_t
list_modseq(const char *root, unsigned uid)
{
	char line[32];
	const char *at, *m;
	uint64_t v = 0;
	struct buf b;

	read_list(root, &b);
	snprintf(line, sizeof(line), "\n%u ", uid);
	at = strstr(b.data, line);
	if (at != NULL && (m = strstr(at + 1, " M")) != NULL && m < strchr(at + 1, '\n'))
		v = strtoull(m + 2, NULL, 10);
	buf_free(&b);
	return v;
}

/*
 * RFC 7162: every flag change gets a modseq above all before it, kept in
 * the list across sessions: a STORE (committed), a rename behind osd's
 * back (given by the next sync, of any session), an expunge (raises
 * HIGHESTMODSEQ), a new message.
 */
static void
test_imap_mailbox_modseqs_persist_and_rise(void **state)
{
	const char *root = *state;
	struct imap_sync_report r;
	struct imap_mailbox *a, *b;
	char from[PATH_MAX], to[PATH_MAX];
	uint64_t h0, h1, h2, h3;

	deliver5(root);
	a = open_ok(root, "INBOX", false);
	/* A new folder starts at 1; the messages that came get one above it. */
	h0 = imap_mailbox_highest_modseq(a);
	assert_int_equal(h0, 2);
	assert_int_equal(imap_mailbox_msg(a, 1)->modseq, 2);
	assert_int_equal(imap_mailbox_msg(a, 5)->modseq, 2);
	/* A STORE: one new modseq for its changes, in the list at once. */
	assert_int_equal(imap_mailbox_set_flags(a, 2, IMAP_FLAG_SEEN, 0), 0);
	assert_int_equal(imap_mailbox_set_flags(a, 3, IMAP_FLAG_SEEN, 0), 0);
	assert_int_equal(imap_mailbox_commit_flags(a), 0);
	h1 = imap_mailbox_highest_modseq(a);
	assert_true(h1 > h0);
	assert_int_equal(imap_mailbox_msg(a, 2)->modseq, h1);
	assert_int_equal(imap_mailbox_msg(a, 3)->modseq, h1);
	assert_int_equal(imap_mailbox_msg(a, 1)->modseq, h0);
	assert_int_equal(list_modseq(root, 2), h1);
	/* Another session sees the change with that modseq. */
	b = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_msg(b, 2)->modseq, h1);
	assert_int_equal(imap_mailbox_highest_modseq(b), h1);
	/* Renamed behind osd's back: the next sync gives it a new modseq, and the list keeps it. */
	assert_int_equal(path_fmt(from, sizeof(from), "%s/cur/1700000004.M4P9.h,S=5:2,", root), 0);
	assert_int_equal(path_fmt(to, sizeof(to), "%s/cur/1700000004.M4P9.h,S=5:2,F", root), 0);
	assert_int_equal(rename(from, to), 0);
	sync_ok(b, true, &r);
	assert_int_equal(r.n_changed, 1);
	h2 = imap_mailbox_highest_modseq(b);
	assert_true(h2 > h1);
	assert_int_equal(imap_mailbox_msg(b, 4)->modseq, h2);
	assert_int_equal(list_modseq(root, 4), h2);
	/* The first session learns it with the same modseq (not another one). */
	sync_ok(a, true, &r);
	assert_int_equal(r.n_changed, 1);
	assert_int_equal(r.changed[0], 4);
	assert_int_equal(imap_mailbox_msg(a, 4)->modseq, h2);
	assert_int_equal(imap_mailbox_highest_modseq(a), h2);
	imap_mailbox_close(b);
	/* Removed behind its back: HIGHESTMODSEQ rises. */
	assert_int_equal(path_fmt(from, sizeof(from), "%s/cur/1700000005.M5P9.h,S=5:2,", root), 0);
	assert_int_equal(unlink(from), 0);
	sync_ok(a, true, &r);
	assert_int_equal(r.n_expunged, 1);
	h3 = imap_mailbox_highest_modseq(a);
	assert_true(h3 > h2);
	imap_mailbox_close(a);
	/* After a restart (a new session, from the list): the same modseqs. */
	a = open_ok(root, "INBOX", true);
	assert_int_equal(imap_mailbox_highest_modseq(a), h3);
	assert_int_equal(imap_mailbox_msg(a, 2)->modseq, h1);
	assert_int_equal(imap_mailbox_msg(a, 4)->modseq, h2);
	assert_int_equal(imap_mailbox_msg(a, 1)->modseq, h0);
	imap_mailbox_close(a);
	/* And from the list alone (folders unchanged for 2 s: no readdir). */
	age_folders(root, 100);
	a = open_ok(root, "INBOX", false);
	imap_mailbox_close(a);
	a = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_highest_modseq(a), h3);
	assert_int_equal(imap_mailbox_msg(a, 4)->modseq, h2);
	imap_mailbox_close(a);
}

/* A list written by an older osd (no modseqs) is read by scanning, and gets modseqs above any of its past. */
static void
test_imap_mailbox_list_without_modseqs_gets_them(void **state)
{
	const char *root = *state;
	struct imap_mailbox *mb;
	uint64_t h;

	put3(root);
	age_folders(root, 100);
	/* Stamps that match and a tell-tale flag: used, were it not for the missing modseqs. */
	write_list_stamped(root, "",
			   "1 1700000001.M1P9.h,S=4 c:2,F\n2 1700000002.M2P9.h,S=4 c:2,\n3 1700000003.M3P9.h,S=6 c:2,\n");
	mb = open_ok(root, "INBOX", false);
	assert_int_equal(imap_mailbox_uidvalidity(mb), 77);
	assert_int_equal(imap_mailbox_msg(mb, 1)->flags, 0);    /* the folders were read */
	h = imap_mailbox_highest_modseq(mb);
	assert_true(h >= (uint64_t)1700000000 << 16);
	assert_int_equal(imap_mailbox_msg(mb, 3)->modseq, h);
	imap_mailbox_close(mb);
	assert_int_equal(list_modseq(root, 3), h);
}

int
main(int argc, char **argv)
{
	static char dir[PATH_MAX];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_imap_mailbox_uids_stable_across_reopen, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_new_files_get_increasing_uids, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_removed_outside_reported_with_right_sequence,
						setup_root, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_ghost_until_expunges_allowed, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_flags_renamed_and_seen_by_others, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_expunge_deleted_and_uid_expunge, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_append_uid_lf_date_flags, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_copy_uids_and_flags, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_quota_refuses_append_and_copy, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_migrates_dovecot_uidlist, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_migrates_courierimapuiddb, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_sync_many_renamed_by_other, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_open_errors, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_uid_below_highest_not_shown, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_list_stands_for_unchanged_folders, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_list_not_trusted_within_two_seconds, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_reads_list_version_1, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_modseqs_persist_and_rise, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_list_without_modseqs_gets_them, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_vsize_kept_in_list, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_cache_stands_for_unchanged_folders, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_cache_corrupt_or_stale_ignored, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_cache_examine_recent, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_mailbox_two_processes_disjoint_uids, setup_root,
						testutil_teardown_tmpdir),
	};

	if (path_join(dir, sizeof(dir), argc > 1 ? argv[1] : "tests/unit/imap", "store") == -1)
		return 1;
	samples = dir;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
