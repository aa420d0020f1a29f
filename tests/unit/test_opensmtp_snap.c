/* test_opensmtp_snap.c - unit tests for the open-smtp snapshot and the scans that trust it (lib/relay/opensmtp_snap.c, opensmtp_scan_known). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "opensmtp.h"
#include "opensmtp_snap.h"
#include "relay_rebuild.h"
#include "relaydb.h"
#include "testutil.h"

#define EXPIRE 600

/* Entries to save: a fixed list. */
struct list {
	struct ipaddr addr[8];
	struct timespec mtime[8];
	uint64_t ino[8];
	size_t n, pos;
};

static int
next_listed(void *ctx, struct ipaddr *addr_r, struct timespec *mtime_r, uint64_t *ino_r)
{
	struct list *l = ctx;

	if (l->pos >= l->n)
		return 0;
	*addr_r = l->addr[l->pos];
	*mtime_r = l->mtime[l->pos];
	*ino_r = l->ino[l->pos];
	l->pos++;
	return 1;
}

static void
add(struct list *l, const char *text, time_t sec, uint64_t ino)
{
	assert_true(l->n < 8);
	assert_int_equal(ipaddr_parse(text, &l->addr[l->n]), 0);
	l->mtime[l->n] = (struct timespec){ sec, 123 };
	l->ino[l->n] = ino;
	l->n++;
}

static struct ipaddr
ip(const char *text)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	return a;
}

/* Saved and loaded: an entry is vouched for only under its own inode number, in any order. */
static void
test_snap_round_trip(void **state)
{
	char path[600];
	struct list l = { .n = 0 };
	struct opensmtp_snap *s;
	struct timespec m;
	struct ipaddr a;

	snprintf(path, sizeof path, "%s/relay.snap", (const char *)*state);
	add(&l, "192.0.2.1", 1000, 11);
	add(&l, "2001:db8::1", 2000, 12);
	add(&l, "192.0.2.3", 3000, 0);  /* no inode number: not saved */
	add(&l, "192.0.2.4", 4000, 14);
	assert_int_equal(opensmtp_snap_save(path, next_listed, &l, false), 3);
	s = opensmtp_snap_load(path);
	assert_non_null(s);
	assert_int_equal(opensmtp_snap_count(s), 3);
	/* Out of order first (the index), then in order (the cursor). */
	a = ip("192.0.2.4");
	assert_true(opensmtp_snap_known(s, &a, 14, &m));
	assert_int_equal(m.tv_sec, 4000);
	assert_int_equal(m.tv_nsec, 123);
	a = ip("192.0.2.1");
	assert_true(opensmtp_snap_known(s, &a, 11, &m));
	assert_int_equal(m.tv_sec, 1000);
	a = ip("2001:db8::1");
	assert_true(opensmtp_snap_known(s, &a, 12, &m));
	assert_int_equal(m.tv_sec, 2000);
	/* Another file under the name, an address not saved, one saved without inode. */
	a = ip("192.0.2.1");
	assert_false(opensmtp_snap_known(s, &a, 99, &m));
	a = ip("192.0.2.9");
	assert_false(opensmtp_snap_known(s, &a, 11, &m));
	a = ip("192.0.2.3");
	assert_false(opensmtp_snap_known(s, &a, 0, &m));
	/* The IPv6 address with 192.0.2.4's bytes is another address. */
	a = ip("c000:204::");
	assert_false(opensmtp_snap_known(s, &a, 14, &m));
	opensmtp_snap_free(s);
}

/* A damaged, cut or foreign file is not a snapshot: loading it fails (the scan then reads every file). */
static void
test_snap_damaged_is_ignored(void **state)
{
	char path[600];
	struct list l = { .n = 0 };
	struct stat st;
	unsigned char byte;
	int fd;

	snprintf(path, sizeof path, "%s/relay.snap", (const char *)*state);
	assert_null(opensmtp_snap_load(path));          /* missing */
	add(&l, "192.0.2.1", 1000, 11);
	add(&l, "192.0.2.2", 1000, 12);
	assert_int_equal(opensmtp_snap_save(path, next_listed, &l, false), 2);
	assert_int_equal(stat(path, &st), 0);
	/* One bit of a record's mtime changed. */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 16 + 8), 1);
	byte ^= 1;
	assert_int_equal(pwrite(fd, &byte, 1, 16 + 8), 1);
	assert_null(opensmtp_snap_load(path));
	byte ^= 1;
	assert_int_equal(pwrite(fd, &byte, 1, 16 + 8), 1);
	opensmtp_snap_free(opensmtp_snap_load(path));
	/* Cut short. */
	assert_int_equal(ftruncate(fd, st.st_size - 1), 0);
	assert_null(opensmtp_snap_load(path));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_null(opensmtp_snap_load(path));
	close(fd);
}

struct job {
	char rules[512], dir[512], cdb[512], snap[512];
	struct relay_rebuild_args a;
	int dirfd;
};

static void
job_init(struct job *j, const char *tmp)
{
	snprintf(j->rules, sizeof j->rules, "%s/tcp.smtp", tmp);
	snprintf(j->dir, sizeof j->dir, "%s/open-smtp", tmp);
	snprintf(j->cdb, sizeof j->cdb, "%s/relay.cdb", tmp);
	snprintf(j->snap, sizeof j->snap, "%s/relay.snap", tmp);
	assert_int_equal(mkdir(j->dir, 0755), 0);
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY);
	assert_true(j->dirfd >= 0);
	j->a = (struct relay_rebuild_args){ .rules = j->rules, .dir = j->dir, .cdb = j->cdb,
					    .expire = EXPIRE, .dyn = relaydb_dynamic_default,
					    .snap = j->snap };
}

/* An entry file name with mtime when (a new inode: made beside it, renamed over). */
static void
make_entry(const struct job *j, const char *name, time_t when)
{
	struct timespec t[2] = { { when, 0 }, { when, 0 } };
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof tmp, "%s.new", name);
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(futimens(fd, t), 0);
	close(fd);
	assert_int_equal(renameat(j->dirfd, tmp, j->dirfd, name), 0);
}

static void
set_mtime(const struct job *j, const char *name, time_t when)
{
	struct timespec t[2] = { { when, 0 }, { when, 0 } };

	assert_int_equal(utimensat(j->dirfd, name, t, AT_SYMLINK_NOFOLLOW), 0);
}

static bool
relays(const struct job *j, const char *text)
{
	struct relaydb_result res;
	struct ipaddr a = ip(text);

	assert_int_equal(relaydb_lookup(j->cdb, &a, &res), 0);
	return res.matched && res.allow && strcmp(res.key, text) == 0;
}

static uint64_t
ino_of(const struct job *j, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(j->dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return (uint64_t)st.st_ino;
}

/*
 * The snapshot never decides which entries exist, nor lets an entry live
 * longer than its file says: a run after changes made behind its back.
 */
static void
test_snap_scan_checks_the_folder(void **state)
{
	struct relay_rebuild_stats st;
	struct list l = { .n = 0 };
	struct job j;
	char err[1024];
	time_t now = time(NULL);

	job_init(&j, *state);
	make_entry(&j, "192.0.2.1", now - 10);     /* stays as it is */
	make_entry(&j, "192.0.2.2", now - 10);     /* deleted after the snapshot */
	make_entry(&j, "192.0.2.3", now - 10);     /* replaced by an expired file */
	make_entry(&j, "192.0.2.4", now - 500);    /* a login after the snapshot */
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_int_equal(st.snap_loaded, -1);
	assert_int_equal(st.snap_saved, 4);
	assert_int_equal(st.scan.live, 4);

	/* Unchanged: all four from the snapshot, no fstatat. */
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_int_equal(st.snap_loaded, 4);
	assert_int_equal(st.snap_known, 4);

	assert_int_equal(unlinkat(j.dirfd, "192.0.2.2", 0), 0);
	make_entry(&j, "192.0.2.3", now - EXPIRE - 10);
	set_mtime(&j, "192.0.2.4", now);
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_true(relays(&j, "192.0.2.1"));
	assert_false(relays(&j, "192.0.2.2"));        /* not resurrected */
	assert_false(relays(&j, "192.0.2.3"));        /* another inode: read, and expired */
	assert_int_equal(faccessat(j.dirfd, "192.0.2.3", F_OK, 0), -1);
	assert_true(relays(&j, "192.0.2.4"));
	assert_int_equal(st.scan.expired, 1);
	assert_int_equal(st.snap_known, 2);           /* .1 and .4 (by its older mtime) */

	/* A snapshot whose mtime says expired, of a file a login refreshed since:
	 * the file is read and the entry kept. */
	add(&l, "192.0.2.1", now - EXPIRE - 100, ino_of(&j, "192.0.2.1"));
	assert_int_equal(opensmtp_snap_save(j.snap, next_listed, &l, false), 1);
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_int_equal(st.snap_known, 0);
	assert_int_equal(st.scan.expired, 0);
	assert_true(relays(&j, "192.0.2.1"));
	close(j.dirfd);
}

/* margin: an entry that expires within it by the snapshot's mtime is read, not vouched for. */
static int
count_known(void *ctx, const struct opensmtp_found *f)
{
	unsigned *n = ctx;

	*n += f->known;
	return 0;
}

static void
test_snap_margin_reads_entries_near_expiry(void **state)
{
	struct opensmtp_snap *s;
	struct list l = { .n = 0 };
	struct job j;
	unsigned known = 0;
	time_t now = time(NULL);

	job_init(&j, *state);
	make_entry(&j, "192.0.2.1", now - 10);
	make_entry(&j, "192.0.2.2", now - EXPIRE + 30);
	add(&l, "192.0.2.1", now - 10, ino_of(&j, "192.0.2.1"));
	add(&l, "192.0.2.2", now - EXPIRE + 30, ino_of(&j, "192.0.2.2"));
	assert_int_equal(opensmtp_snap_save(j.snap, next_listed, &l, false), 2);
	s = opensmtp_snap_load(j.snap);
	assert_non_null(s);
	assert_int_equal(opensmtp_scan_known(j.dirfd, EXPIRE, 60, opensmtp_snap_known, s, count_known,
					     &known, NULL), 0);
	assert_int_equal(known, 1);
	opensmtp_snap_free(s);
	close(j.dirfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snap_round_trip, testutil_setup_tmpdir,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_snap_damaged_is_ignored, testutil_setup_tmpdir,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_snap_scan_checks_the_folder, testutil_setup_tmpdir,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_snap_margin_reads_entries_near_expiry,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
