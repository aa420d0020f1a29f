/* test_opensmtp_user.c - unit tests for the login name behind an open-smtp/ entry (lib/relay/opensmtp_user.c): xattr, sidecar fallback, and every path that moves entries. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "opensmtp.h"
#include "opensmtp_user.h"
#include "testutil.h"

#define EXPIRE 3600L

struct fixture {
	char dir[64];
	int dirfd;
	bool sidecar;           /* OSD_USER_STORE=file: the fallback of a filesystem without xattrs */
};

static int
setup(void **state, bool sidecar)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/osd-test-opensmtp-user.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0)
		return -1;
	f->sidecar = sidecar;
	if (sidecar)
		setenv("OSD_USER_STORE", "file", 1);
	else
		unsetenv("OSD_USER_STORE");
	*state = f;
	return 0;
}

static int
setup_xattr(void **state)
{
	return setup(state, false);
}

static int
setup_sidecar(void **state)
{
	return setup(state, true);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dirfd);
	testutil_rmtree(f->dir);
	unsetenv("OSD_USER_STORE");
	free(f);
	return 0;
}

static struct ipaddr
addr(const char *text)
{
	struct ipaddr a;

	if (ipaddr_parse(text, &a) != 0)
		fail_msg("bad test address %s", text);
	return a;
}

/* Names in folder path other than "." and "..", or -1 when it does not exist. */
static int
count_files(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The name stored for entry name now ("" for none). */
static const char *
who(struct fixture *f, const char *name)
{
	static char out[OPENSMTP_USER_MAX + 1];
	struct stat st;

	if (fstatat(f->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("%s: %s", name, strerror(errno));
	out[0] = '\0';
	if (opensmtp_user_get(f->dirfd, name, &st, -1, out, sizeof(out)) < 0)
		fail_msg("get %s: %s", name, strerror(errno));
	return out;
}

/* Is the name stored in the xattr (true) and not the sidecar, or the other way round? */
static void
assert_store(struct fixture *f, const char *name)
{
	char path[512], side[64], buf[300];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(stat(path, &st), 0);
	n = getxattr(path, OPENSMTP_USER_XATTR, buf, sizeof(buf));
	snprintf(side, sizeof(side), "%s/%llu", OPENSMTP_USER_DIR, (unsigned long long)st.st_ino);
	if (f->sidecar) {
		assert_true(n < 0);
		assert_int_equal(faccessat(f->dirfd, side, F_OK, 0), 0);
	} else {
		assert_true(n > 0);
		assert_int_not_equal(faccessat(f->dirfd, side, F_OK, 0), 0);
	}
}

static int
sidecar_count(struct fixture *f)
{
	char path[512];
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", f->dir, OPENSMTP_USER_DIR);
	n = count_files(path);
	return n < 0 ? 0 : n;
}

static void
test_opensmtp_user_valid_bounds(void **state)
{
	char name[OPENSMTP_USER_MAX + 2];

	(void)state;
	memset(name, 'a', OPENSMTP_USER_MAX);
	name[OPENSMTP_USER_MAX] = '\0';
	assert_true(opensmtp_user_valid(name));
	name[OPENSMTP_USER_MAX] = 'a';
	name[OPENSMTP_USER_MAX + 1] = '\0';
	assert_false(opensmtp_user_valid(name));
	assert_true(opensmtp_user_valid("alice@example.test"));
	assert_false(opensmtp_user_valid(""));
	assert_false(opensmtp_user_valid("al ice"));
	assert_false(opensmtp_user_valid("alice\n"));
	assert_false(opensmtp_user_valid("al\x7f" "ice"));
	assert_false(opensmtp_user_valid("\xc3\xa9lise"));
}

static void
test_opensmtp_user_record_stores_last_login(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.7");

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "alice@example.test"), 0);
	assert_string_equal(who(f, "192.0.2.7"), "alice@example.test");
	assert_store(f, "192.0.2.7");
	/* NAT: another user behind the same address: the entry names the last one. */
	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "bob@example.test"), 0);
	assert_string_equal(who(f, "192.0.2.7"), "bob@example.test");
	/* A login whose user is not known: the entry names no one (not bob). */
	assert_int_equal(opensmtp_record_at(f->dirfd, &a), 0);
	assert_string_equal(who(f, "192.0.2.7"), "");
	assert_int_equal(sidecar_count(f), 0);
	/* An unstorable name: recorded all the same, with no name. */
	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "bad name"), 0);
	assert_string_equal(who(f, "192.0.2.7"), "");
}

static void
test_opensmtp_user_entry_stays_zero_size(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("2001:db8::1");
	struct stat st;

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "alice"), 0);
	assert_int_equal(fstatat(f->dirfd, "2001:db8::1", &st, 0), 0);
	assert_int_equal(st.st_size, 0);
}

/* E2 then a recorder's touch on the renamed file, then E4: the name comes back with the inode. */
static void
test_opensmtp_user_put_back_keeps_name(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.8");
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, mtime;
	char path[512];

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "carol"), 0);
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec += EXPIRE + 10;      /* the entry is expired at this now */
	assert_true(opensmtp_expire_begin(f->dirfd, "192.0.2.8", EXPIRE, &now, &aside, &res, &mtime));
	/* A login that opened the file before the rename touches it now. */
	snprintf(path, sizeof(path), "%s/%s", f->dir, aside.path);
	now.tv_sec -= 5;
	assert_int_equal(utimensat(AT_FDCWD, path, (struct timespec[2]){ now, now }, 0), 0);
	now.tv_sec += 5;
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REFRESHED);
	assert_string_equal(who(f, "192.0.2.8"), "carol");
}

/* An expiry that removes the entry removes its sidecar: nothing left to name a reused inode. */
static void
test_opensmtp_user_expiry_removes_name(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.9");
	struct timespec now, mtime;

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "dave"), 0);
	assert_int_equal(sidecar_count(f), f->sidecar ? 1 : 0);
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec += EXPIRE + 10;
	assert_int_equal(opensmtp_expire_at_time(f->dirfd, "192.0.2.9", EXPIRE, &now, &mtime),
			 OPENSMTP_REMOVED);
	assert_int_equal(sidecar_count(f), 0);
	assert_int_not_equal(faccessat(f->dirfd, "192.0.2.9", F_OK, AT_SYMLINK_NOFOLLOW), 0);
}

/* The vpopmail import sets an older login that names no one: the name goes. */
static void
test_opensmtp_user_import_forgets_name(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.10");

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "erin"), 0);
	/* Older than the entry: kept, name and all. */
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, time(NULL) - 100), 0);
	assert_string_equal(who(f, "192.0.2.10"), "erin");
	/* Newer: the entry's last login is the imported one. */
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, time(NULL) + 100), 1);
	assert_string_equal(who(f, "192.0.2.10"), "");
	assert_int_equal(sidecar_count(f), 0);
}

/* A mirrored fleet login: the new entry has its time and name from the start; a newer entry is kept. */
static void
test_opensmtp_user_mirror_names_login(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.14"), b = addr("192.0.2.15");
	time_t when = time(NULL) - 100;
	struct stat st;

	assert_int_equal(opensmtp_record_time_user_at(f->dirfd, &a, when, "ivan"), 1);
	assert_int_equal(fstatat(f->dirfd, "192.0.2.14", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtim.tv_sec, when);
	assert_int_equal(st.st_mtim.tv_nsec, 0);
	assert_string_equal(who(f, "192.0.2.14"), "ivan");
	/* A later login of the same address elsewhere: time and name move on. */
	assert_int_equal(opensmtp_record_time_user_at(f->dirfd, &a, when + 50, "judy"), 1);
	assert_string_equal(who(f, "192.0.2.14"), "judy");
	/* A local login newer than the fleet's: kept, its name too. */
	assert_int_equal(opensmtp_record_user_at(f->dirfd, &b, "kate"), 0);
	assert_int_equal(opensmtp_record_time_user_at(f->dirfd, &b, when, "leo"), 0);
	assert_string_equal(who(f, "192.0.2.15"), "kate");
	/* No name: none stored (and none left behind). */
	assert_int_equal(opensmtp_record_time_user_at(f->dirfd, &a, when + 60, NULL), 1);
	assert_string_equal(who(f, "192.0.2.14"), "");
	assert_int_equal(sidecar_count(f), f->sidecar ? 1 : 0);
}

static void
test_opensmtp_user_revoke(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.11");
	struct timespec login;

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "frank"), 0);
	/* Another user's entry (NAT: bob logged in last): kept. */
	assert_int_equal(opensmtp_revoke_at(f->dirfd, "192.0.2.11", "alice", &login), 0);
	assert_string_equal(who(f, "192.0.2.11"), "frank");
	assert_int_equal(opensmtp_revoke_at(f->dirfd, "192.0.2.11", "frank", &login), 1);
	assert_int_not_equal(faccessat(f->dirfd, "192.0.2.11", F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(sidecar_count(f), 0);
	assert_int_equal(opensmtp_revoke_at(f->dirfd, "192.0.2.11", NULL, &login), 0);
	/* A login after the revoke makes a new entry. */
	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "frank"), 0);
	assert_string_equal(who(f, "192.0.2.11"), "frank");
	assert_int_equal(opensmtp_revoke_at(f->dirfd, "192.0.2.11", NULL, &login), 1);
	assert_int_equal(count_files(f->dir), f->sidecar ? 1 : 0);   /* only .osd-users */
}

/* A sidecar whose inode number is reused by another address's entry names no one there. */
static void
test_opensmtp_user_sidecar_checks_name(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.12");
	char side[64], out[OPENSMTP_USER_MAX + 1];
	struct stat st;
	int fd;

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "gina"), 0);
	assert_int_equal(fstatat(f->dirfd, "192.0.2.12", &st, 0), 0);
	snprintf(side, sizeof(side), "%s/%llu", OPENSMTP_USER_DIR, (unsigned long long)st.st_ino);
	fd = openat(f->dirfd, side, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "192.0.2.99 mallory\n", 19), 19);
	close(fd);
	assert_int_equal(opensmtp_user_get(f->dirfd, "192.0.2.12", &st, -1, out, sizeof(out)), 0);
}

/* A sidecar older than relay_expire is dropped by a scan; a fresh one stays. */
static void
test_opensmtp_user_gc(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.13");
	struct timespec old[2] = { { .tv_sec = time(NULL) - EXPIRE - 100 },
				   { .tv_sec = time(NULL) - EXPIRE - 100 } };
	char side[64];
	int fd;

	assert_int_equal(opensmtp_record_user_at(f->dirfd, &a, "hank"), 0);
	assert_int_equal(mkdirat(f->dirfd, OPENSMTP_USER_DIR, 0755) == 0 || errno == EEXIST, 1);
	snprintf(side, sizeof(side), "%s/%s", OPENSMTP_USER_DIR, "424242");
	fd = openat(f->dirfd, side, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(futimens(fd, old), 0);
	close(fd);
	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, NULL, NULL, NULL), 0);
	assert_int_not_equal(faccessat(f->dirfd, side, F_OK, 0), 0);
	assert_string_equal(who(f, "192.0.2.13"), "hank");
}

#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, setup_xattr, teardown), \
		 cmocka_unit_test_setup_teardown(fn, setup_sidecar, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opensmtp_user_valid_bounds),
		BOTH(test_opensmtp_user_record_stores_last_login),
		BOTH(test_opensmtp_user_entry_stays_zero_size),
		BOTH(test_opensmtp_user_put_back_keeps_name),
		BOTH(test_opensmtp_user_expiry_removes_name),
		BOTH(test_opensmtp_user_import_forgets_name),
		BOTH(test_opensmtp_user_revoke),
		BOTH(test_opensmtp_user_mirror_names_login),
		cmocka_unit_test_setup_teardown(test_opensmtp_user_sidecar_checks_name, setup_sidecar,
						teardown),
		cmocka_unit_test_setup_teardown(test_opensmtp_user_gc, setup_sidecar, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
