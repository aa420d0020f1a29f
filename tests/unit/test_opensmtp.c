/* test_opensmtp.c - unit tests for the open-smtp/ folder of per-address files (lib/relay/opensmtp.c). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "log.h"
#include "opensmtp.h"
#include "path.h"
#include "testutil.h"

#define EXPIRE 3600L

struct fixture {
	char dir[64];
	int dirfd;
};

static int
setup_tmpdir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/osd-test-opensmtp.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown_tmpdir(void **state)
{
	struct fixture *f = *state;

	close(f->dirfd);
	testutil_rmtree(f->dir);
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

static struct timespec
now_ts(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static void
make_file(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

static void
set_mtime(int dirfd, const char *name, time_t sec, long nsec)
{
	struct timespec times[2] = { { .tv_sec = sec, .tv_nsec = nsec },
				     { .tv_sec = sec, .tv_nsec = nsec } };

	assert_int_equal(utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW), 0);
}

static bool
get_stat(int dirfd, const char *name, struct stat *st)
{
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool
exists(int dirfd, const char *name)
{
	struct stat st;

	return get_stat(dirfd, name, &st);
}

/* Entries of the folder whose names start with prefix. */
static int
count_prefixed(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void
test_opensmtp_record_creates_empty_file_now(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.7"), b = addr("2001:db8::1");
	struct timespec before = now_ts(), after;
	struct stat st;

	assert_int_equal(opensmtp_record(f->dir, &a), 0);
	assert_int_equal(opensmtp_record(f->dir, &b), 0);
	after = now_ts();
	assert_true(get_stat(f->dirfd, "192.0.2.7", &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	/* Allow for file systems with coarse timestamps. */
	assert_true(st.st_mtim.tv_sec >= before.tv_sec - 1);
	assert_true(st.st_mtim.tv_sec <= after.tv_sec + 1);
	assert_true(get_stat(f->dirfd, "2001:db8::1", &st));
	assert_int_equal(st.st_size, 0);
}

static void
test_opensmtp_record_again_updates_mtime(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.7");
	struct timespec before;
	struct stat st;

	assert_int_equal(opensmtp_record(f->dir, &a), 0);
	set_mtime(f->dirfd, "192.0.2.7", 1000000000, 0);
	before = now_ts();
	assert_int_equal(opensmtp_record(f->dir, &a), 0);
	assert_true(get_stat(f->dirfd, "192.0.2.7", &st));
	assert_true(st.st_mtim.tv_sec >= before.tv_sec - 1);
	assert_int_equal(st.st_size, 0);
	/* The _at form does the same. */
	set_mtime(f->dirfd, "192.0.2.7", 1000000000, 0);
	assert_int_equal(opensmtp_record_at(f->dirfd, &a), 0);
	assert_true(get_stat(f->dirfd, "192.0.2.7", &st));
	assert_true(st.st_mtim.tv_sec >= before.tv_sec - 1);
}

static void
test_opensmtp_record_v4mapped_uses_ipv4_name(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in6 sin6;
	struct ipaddr a;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
	assert_int_equal(opensmtp_record(f->dir, &a), 0);
	assert_true(exists(f->dirfd, "192.0.2.7"));
	assert_false(exists(f->dirfd, "::ffff:192.0.2.7"));
	a = addr("::ffff:198.51.100.1");
	assert_int_equal(opensmtp_record_at(f->dirfd, &a), 0);
	assert_true(exists(f->dirfd, "198.51.100.1"));
}

static void
test_opensmtp_record_does_not_touch_symlink_target(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.9");
	struct stat st;

	make_file(f->dirfd, "victim");
	set_mtime(f->dirfd, "victim", 1000000000, 0);
	assert_int_equal(symlinkat("victim", f->dirfd, "192.0.2.9"), 0);
	(void)opensmtp_record_at(f->dirfd, &a);
	assert_true(get_stat(f->dirfd, "victim", &st));
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
}

static void
test_opensmtp_record_missing_folder_fails(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.7");
	char path[PATH_MAX];

	assert_int_equal(path_join(path, sizeof(path), f->dir, "missing"), 0);
	errno = 0;
	assert_int_equal(opensmtp_record(path, &a), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_opensmtp_name_to_addr_accepts_only_canonical_names(void **state)
{
	static const char *const bad[] = {
		"2001:0db8::1", "::ffff:1.2.3.4", "1.2.3", ".osd-x", "x", "",
		"2001:DB8::1", "2001:db8:0:0:0:0:0:1", "01.2.3.4", "1.2.3.4 ", "..", ".",
	};
	struct ipaddr a, want;

	(void)state;
	assert_true(opensmtp_name_to_addr("192.0.2.7", &a));
	want = addr("192.0.2.7");
	assert_true(ipaddr_equal(&a, &want));
	assert_true(opensmtp_name_to_addr("2001:db8::1", &a));
	want = addr("2001:db8::1");
	assert_true(ipaddr_equal(&a, &want));
	/* The inet_ntop form, not the tcpserver key form. */
	assert_true(opensmtp_name_to_addr("2001:db8:0:1:1:1:1:1", &a));
	assert_false(opensmtp_name_to_addr("2001:db8::1:1:1:1:1", &a));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (opensmtp_name_to_addr(bad[i], &a))
			fail_msg("accepted entry name \"%s\"", bad[i]);
}

static void
test_opensmtp_is_expired_boundaries(void **state)
{
	struct timespec mtime = { .tv_sec = 1000000, .tv_nsec = 500 };
	struct timespec now;

	(void)state;
	/* Exactly mtime + expire: expired. */
	now = (struct timespec){ .tv_sec = 1000000 + EXPIRE, .tv_nsec = 500 };
	assert_true(opensmtp_is_expired(&mtime, EXPIRE, &now));
	/* One nanosecond before: not. */
	now.tv_nsec = 499;
	assert_false(opensmtp_is_expired(&mtime, EXPIRE, &now));
	/* Across a second boundary. */
	mtime.tv_nsec = 0;
	now = (struct timespec){ .tv_sec = 1000000 + EXPIRE - 1, .tv_nsec = 999999999 };
	assert_false(opensmtp_is_expired(&mtime, EXPIRE, &now));
	now = (struct timespec){ .tv_sec = 1000000 + EXPIRE, .tv_nsec = 0 };
	assert_true(opensmtp_is_expired(&mtime, EXPIRE, &now));
	/* A later second with a smaller nanosecond part is still expired. */
	mtime.tv_nsec = 999999999;
	now = (struct timespec){ .tv_sec = 1000000 + EXPIRE + 1, .tv_nsec = 0 };
	assert_true(opensmtp_is_expired(&mtime, EXPIRE, &now));
	/* An mtime in the future is not expired. */
	now = (struct timespec){ .tv_sec = 999000, .tv_nsec = 0 };
	assert_false(opensmtp_is_expired(&mtime, EXPIRE, &now));
}

static void
test_opensmtp_expire_at_removes_expired_entry(void **state)
{
	struct fixture *f = *state;
	struct timespec mtime = { 0, 0 };

	make_file(f->dirfd, "10.0.0.1");
	set_mtime(f->dirfd, "10.0.0.1", now_ts().tv_sec - 2 * EXPIRE, 0);
	assert_int_equal(opensmtp_expire_at(f->dirfd, "10.0.0.1", EXPIRE, &mtime),
			 OPENSMTP_REMOVED);
	assert_false(exists(f->dirfd, "10.0.0.1"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_at_keeps_fresh_entry(void **state)
{
	struct fixture *f = *state;
	struct timespec mtime = { 0, 0 };
	time_t fresh = now_ts().tv_sec - 10;

	make_file(f->dirfd, "2001:db8::7");
	set_mtime(f->dirfd, "2001:db8::7", fresh, 123);
	assert_int_equal(opensmtp_expire_at(f->dirfd, "2001:db8::7", EXPIRE, &mtime),
			 OPENSMTP_REFRESHED);
	assert_int_equal(mtime.tv_sec, fresh);
	assert_int_equal(mtime.tv_nsec, 123);
	assert_true(exists(f->dirfd, "2001:db8::7"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_at_missing_entry_is_gone(void **state)
{
	struct fixture *f = *state;
	struct timespec mtime = { 0, 0 };

	assert_int_equal(opensmtp_expire_at(f->dirfd, "10.0.0.1", EXPIRE, &mtime),
			 OPENSMTP_GONE);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

/* A boundary entry: expired exactly at *now_r (mtime = now - EXPIRE). */
static void
make_expired(int dirfd, const char *name, struct timespec *now_r)
{
	*now_r = now_ts();
	make_file(dirfd, name);
	set_mtime(dirfd, name, now_r->tv_sec - EXPIRE, now_r->tv_nsec);
}

static void
test_opensmtp_touch_on_renamed_entry_has_not_landed(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, mtime;
	struct stat st, late;
	int fd;

	/* The unfixed recorder's loss, step by step: its path lookup finds
	 * the entry, the expirer renames it, sees it still expired and
	 * deletes it, and only then does the new time land. */
	make_expired(f->dirfd, "10.0.0.1", &now);
	fd = openat(f->dirfd, "10.0.0.1", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.1", EXPIRE, &now, &aside, &res, &mtime));
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REMOVED);
	assert_int_equal(futimens(fd, NULL), 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* The recorder now sees that its touch is not on the live entry ... */
	assert_int_equal(opensmtp_touch_landed(f->dirfd, "10.0.0.1", &st), 0);
	/* ... also when another login made a new one meanwhile ... */
	make_file(f->dirfd, "10.0.0.1");
	assert_int_equal(opensmtp_touch_landed(f->dirfd, "10.0.0.1", &st), 0);
	close(fd);
	/* ... and records again: the login is there. */
	fd = opensmtp_touch_at(f->dirfd, "10.0.0.1", &late);
	assert_true(fd >= 0);
	assert_int_equal(opensmtp_touch_landed(f->dirfd, "10.0.0.1", &late), 1);
	close(fd);
	assert_true(get_stat(f->dirfd, "10.0.0.1", &st));
	assert_false(opensmtp_is_expired(&st.st_mtim, EXPIRE, &now));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_finish_puts_back_entry_touched_after_check(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, mtime = { 0, 0 };
	struct stat touched, st;
	int fd;

	/* A login between the expirer's check (E1) and its rename (E2):
	 * the recorder saw its touch on the live name and returned success,
	 * so the expirer must find it after the rename and put it back. */
	make_expired(f->dirfd, "2001:db8::5", &now);
	fd = opensmtp_touch_at(f->dirfd, "2001:db8::5", &touched);
	assert_true(fd >= 0);
	assert_int_equal(opensmtp_touch_landed(f->dirfd, "2001:db8::5", &touched), 1);
	/* E1 saw the old time: with now at the boundary it was expired. */
	set_mtime(f->dirfd, "2001:db8::5", now.tv_sec - EXPIRE, now.tv_nsec);
	assert_true(opensmtp_expire_begin(f->dirfd, "2001:db8::5", EXPIRE, &now, &aside, &res,
					  &mtime));
	assert_false(exists(f->dirfd, "2001:db8::5"));
	assert_true(exists(f->dirfd, aside.path));
	/* ... the touch itself landed just before the rename. */
	assert_int_equal(futimens(fd, NULL), 0);
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REFRESHED);
	assert_true(get_stat(f->dirfd, "2001:db8::5", &st));
	assert_int_equal(st.st_ino, touched.st_ino);
	assert_int_equal(mtime.tv_sec, st.st_mtim.tv_sec);
	assert_int_equal(mtime.tv_nsec, st.st_mtim.tv_nsec);
	assert_false(opensmtp_is_expired(&st.st_mtim, EXPIRE, &now));
	/* The recorder's check after the put-back finds its own file. */
	assert_int_equal(opensmtp_touch_landed(f->dirfd, "2001:db8::5", &touched), 1);
	close(fd);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_finish_keeps_new_entry_made_after_rename(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("10.0.0.2");
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, mtime = { 0, 0 };
	struct stat created, st;
	int fd;

	make_expired(f->dirfd, "10.0.0.2", &now);
	fd = openat(f->dirfd, "10.0.0.2", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.2", EXPIRE, &now, &aside, &res, &mtime));
	/* A login finds no entry and creates one; a second login's touch
	 * lands on the renamed file (it will find out and record again). */
	assert_int_equal(opensmtp_record_at(f->dirfd, &a), 0);
	assert_true(get_stat(f->dirfd, "10.0.0.2", &created));
	assert_int_equal(futimens(fd, NULL), 0);
	close(fd);
	/* Refreshed, but the name is taken: the new entry stays, the
	 * renamed one goes, never over it. */
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REFRESHED);
	assert_true(get_stat(f->dirfd, "10.0.0.2", &st));
	assert_int_equal(st.st_ino, created.st_ino);
	assert_int_equal(mtime.tv_sec, created.st_mtim.tv_sec);
	assert_int_equal(mtime.tv_nsec, created.st_mtim.tv_nsec);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_finish_removes_untouched_entry(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, before, mtime = { 0, 0 };

	make_expired(f->dirfd, "10.0.0.3", &now);
	/* One nanosecond earlier it is not expired yet. */
	before = (struct timespec){ .tv_sec = now.tv_sec - 1, .tv_nsec = now.tv_nsec + 999999999 };
	if (before.tv_nsec > 999999999) {
		before.tv_sec++;
		before.tv_nsec -= 1000000000;
	}
	assert_false(opensmtp_expire_begin(f->dirfd, "10.0.0.3", EXPIRE, &before, &aside, &res,
					   &mtime));
	assert_int_equal(res, OPENSMTP_REFRESHED);
	assert_true(exists(f->dirfd, "10.0.0.3"));
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.3", EXPIRE, &now, &aside, &res, &mtime));
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REMOVED);
	assert_false(exists(f->dirfd, "10.0.0.3"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_begin_names_each_expiry_apart(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_aside first, second;
	enum opensmtp_expire_result res;
	struct timespec now, mtime = { 0, 0 };

	/* Two expiries of one address in flight (the watcher and osd
	 * expire): neither renames over, nor deletes, the other's file. */
	make_expired(f->dirfd, "10.0.0.4", &now);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.4", EXPIRE, &now, &first, &res, &mtime));
	make_expired(f->dirfd, "10.0.0.4", &now);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.4", EXPIRE, &now, &second, &res,
					  &mtime));
	assert_string_not_equal(first.path, second.path);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire.10.0.0.4,"), 2);
	/* The second renamed file was refreshed: it goes back. */
	set_mtime(f->dirfd, second.path, now.tv_sec, now.tv_nsec);
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &first, EXPIRE, &now, &mtime),
			 OPENSMTP_REMOVED);
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &second, EXPIRE, &now, &mtime),
			 OPENSMTP_REFRESHED);
	assert_true(exists(f->dirfd, "10.0.0.4"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_expire_finish_after_a_scan_finished_it(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_aside aside;
	enum opensmtp_expire_result res;
	struct timespec now, mtime = { 0, 0 };

	/* Another process's scan meets our renamed file and finishes the
	 * expiry by the same rule; ours then reports what is there. */
	make_expired(f->dirfd, "10.0.0.5", &now);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.5", EXPIRE, &now, &aside, &res, &mtime));
	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, NULL, NULL, NULL), 0);
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_GONE);
	/* The same with a login on the renamed file: the scan put it back. */
	make_expired(f->dirfd, "10.0.0.5", &now);
	assert_true(opensmtp_expire_begin(f->dirfd, "10.0.0.5", EXPIRE, &now, &aside, &res, &mtime));
	set_mtime(f->dirfd, aside.path, now.tv_sec, 7);
	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, NULL, NULL, NULL), 0);
	assert_true(exists(f->dirfd, "10.0.0.5"));
	assert_int_equal(opensmtp_expire_finish(f->dirfd, &aside, EXPIRE, &now, &mtime),
			 OPENSMTP_REFRESHED);
	assert_int_equal(mtime.tv_sec, now.tv_sec);
	assert_int_equal(mtime.tv_nsec, 7);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_record_refuses_non_regular_entry(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("10.0.0.6"), b = addr("10.0.0.7");

	/* Neither a folder nor a FIFO named like an address is touched,
	 * and a FIFO cannot make the recorder wait. */
	assert_int_equal(mkdirat(f->dirfd, "10.0.0.6", 0755), 0);
	assert_int_equal(opensmtp_record_at(f->dirfd, &a), -1);
	assert_int_equal(mkfifoat(f->dirfd, "10.0.0.7", 0644), 0);
	assert_int_equal(opensmtp_record_at(f->dirfd, &b), -1);
}

static void
test_opensmtp_record_time_at_sets_old_mtime(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.7");
	struct stat st;

	/* Creates the entry when missing. */
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, 1500000000), 1);
	assert_true(get_stat(f->dirfd, "192.0.2.7", &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	/* Moves an older one forward. */
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, 1600000000), 1);
	assert_true(get_stat(f->dirfd, "192.0.2.7", &st));
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
}

static void
test_opensmtp_record_time_at_keeps_newer_entry(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("2001:db8::1");
	struct stat before, after;

	assert_int_equal(opensmtp_record_at(f->dirfd, &a), 0);
	assert_true(get_stat(f->dirfd, "2001:db8::1", &before));
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, before.st_mtim.tv_sec - 1000), 0);
	assert_true(get_stat(f->dirfd, "2001:db8::1", &after));
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

static void
test_opensmtp_record_time_at_never_shows_another_time(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.9");
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), created = 0, changed_after = 0;
	struct stat st;
	DIR *d;
	struct dirent *de;
	ssize_t n;

	/* A new entry appears under its name with its time already set: the
	 * name never carries the present time, not even for an instant (fleet
	 * mode mirrors a login of another host this way; a copy seen, or left
	 * by a crash, with the present time would outlive the login). */
	assert_true(in >= 0);
	assert_true(inotify_add_watch(in, f->dir, IN_CREATE | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0);
	assert_int_equal(opensmtp_record_time_at(f->dirfd, &a, 1500000000), 1);
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

			if (ev->len > 0 && strcmp(ev->name, "192.0.2.9") == 0) {
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					created++;
				else if (created)
					changed_after++;
			}
			p += sizeof *ev + ev->len;
		}
	}
	close(in);
	assert_int_equal(created, 1);
	assert_int_equal(changed_after, 0);
	assert_true(get_stat(f->dirfd, "192.0.2.9", &st));
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	/* Nothing left aside. */
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		assert_true(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
			    strcmp(de->d_name, "192.0.2.9") == 0);
	closedir(d);
}

/*
 * opensmtp_mirror_at makes a new entry unnamed (O_TMPFILE) and links it in:
 * it says so (2) with the entry's inode, the folder's only events under
 * an entry's name are the link's IN_CREATE (the watcher takes the entry
 * into its table at once and skips that event), no name aside is made,
 * and a second call on the same entry says it set an existing one (1).
 */
static void
test_opensmtp_mirror_at_links_an_unnamed_inode(void **state)
{
	struct fixture *f = *state;
	struct ipaddr a = addr("192.0.2.10");
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), created = 0, other = 0, aside = 0;
	struct stat st, got;
	ssize_t n;

	assert_true(in >= 0);
	assert_true(inotify_add_watch(in, f->dir, IN_CREATE | IN_ATTRIB | IN_DELETE | IN_MOVED_TO) >= 0);
	assert_int_equal(opensmtp_mirror_at(f->dirfd, &a, 1500000000, NULL, &st), 2);
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

			if (ev->len > 0 && strcmp(ev->name, "192.0.2.10") == 0 && ev->mask == IN_CREATE)
				created++;
			else if (ev->len > 0 && strcmp(ev->name, "192.0.2.10") == 0)
				other++;
			else if (ev->len > 0 && ev->name[0] == '.')
				aside++;
			p += sizeof *ev + ev->len;
		}
	}
	close(in);
	assert_int_equal(created, 1);
	assert_int_equal(other, 0);
	assert_int_equal(aside, 0);
	assert_true(get_stat(f->dirfd, "192.0.2.10", &got));
	assert_int_equal(st.st_ino, got.st_ino);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(got.st_mtim.tv_sec, 1500000000);
	assert_int_equal(got.st_nlink, 1);
	assert_int_equal(opensmtp_mirror_at(f->dirfd, &a, 1500000001, NULL, &st), 1);
	assert_int_equal(st.st_mtim.tv_sec, 1500000001);
	assert_int_equal(opensmtp_mirror_at(f->dirfd, &a, 1500000000, NULL, &st), 0);
}

struct seen {
	int calls;
	struct ipaddr addrs[8];
	struct timespec mtimes[8];
};

static int
collect(void *ctx, const struct ipaddr *a, const struct timespec *mtime)
{
	struct seen *s = ctx;

	if (s->calls < 8) {
		s->addrs[s->calls] = *a;
		s->mtimes[s->calls] = *mtime;
	}
	s->calls++;
	return 0;
}

static bool
seen_addr(const struct seen *s, const char *text, time_t sec)
{
	struct ipaddr a = addr(text);

	for (int i = 0; i < s->calls && i < 8; i++)
		if (ipaddr_equal(&s->addrs[i], &a))
			return s->mtimes[i].tv_sec == sec;
	return false;
}

static void
test_opensmtp_scan_counts_live_expired_and_ignored(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_scan_stats stats;
	struct seen s = { 0 };
	time_t now = now_ts().tv_sec;

	make_file(f->dirfd, "192.0.2.1");
	set_mtime(f->dirfd, "192.0.2.1", now - 100, 0);
	make_file(f->dirfd, "2001:db8::2");
	set_mtime(f->dirfd, "2001:db8::2", now - 200, 0);
	make_file(f->dirfd, "192.0.2.3");
	set_mtime(f->dirfd, "192.0.2.3", now - 2 * EXPIRE, 0);
	make_file(f->dirfd, "junk");
	assert_int_equal(mkdirat(f->dirfd, "1.2.3.4", 0755), 0);
	assert_int_equal(symlinkat("192.0.2.1", f->dirfd, "5.6.7.8"), 0);

	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, collect, &s, &stats), 0);
	assert_int_equal(stats.live, 2);
	assert_int_equal(stats.expired, 1);
	assert_int_equal(stats.ignored, 3);
	assert_int_equal(s.calls, 2);
	assert_true(seen_addr(&s, "192.0.2.1", now - 100));
	assert_true(seen_addr(&s, "2001:db8::2", now - 200));
	assert_false(exists(f->dirfd, "192.0.2.3"));
	/* What is not an entry is left alone. */
	assert_true(exists(f->dirfd, "junk"));
	assert_true(exists(f->dirfd, "1.2.3.4"));
	assert_true(exists(f->dirfd, "5.6.7.8"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static void
test_opensmtp_scan_finishes_interrupted_expiry(void **state)
{
	struct fixture *f = *state;
	struct opensmtp_scan_stats stats;
	struct seen s = { 0 };
	time_t now = now_ts().tv_sec;
	struct stat st;

	/* Fresh: a login came in during the crashed expiry; put it back. */
	make_file(f->dirfd, ".osd-expire.10.0.0.1");
	set_mtime(f->dirfd, ".osd-expire.10.0.0.1", now - 10, 0);
	/* Expired: finish the removal. */
	make_file(f->dirfd, ".osd-expire.10.0.0.2");
	set_mtime(f->dirfd, ".osd-expire.10.0.0.2", now - 2 * EXPIRE, 0);
	/* The same with the names of this version: <addr>,<unique>. */
	make_file(f->dirfd, ".osd-expire.10.0.0.3,4242.1.99");
	set_mtime(f->dirfd, ".osd-expire.10.0.0.3,4242.1.99", now - 10, 0);
	make_file(f->dirfd, ".osd-expire.2001:db8::4,4242.2.99");
	set_mtime(f->dirfd, ".osd-expire.2001:db8::4,4242.2.99", now - 2 * EXPIRE, 0);

	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, collect, &s, &stats), 0);
	/* The entries put back are reported, whatever readdir's order. */
	assert_int_equal(stats.live, 2);
	assert_int_equal(s.calls, 2);
	assert_true(seen_addr(&s, "10.0.0.1", now - 10));
	assert_true(seen_addr(&s, "10.0.0.3", now - 10));
	assert_true(get_stat(f->dirfd, "10.0.0.1", &st));
	assert_int_equal(st.st_mtim.tv_sec, now - 10);
	assert_false(exists(f->dirfd, "10.0.0.2"));
	assert_true(get_stat(f->dirfd, "10.0.0.3", &st));
	assert_int_equal(st.st_mtim.tv_sec, now - 10);
	assert_false(exists(f->dirfd, "2001:db8::4"));
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
	assert_int_equal(stats.expired, 0);
	assert_int_equal(stats.ignored, 0);
}

static void
test_opensmtp_scan_leftover_does_not_replace_newer_entry(void **state)
{
	struct fixture *f = *state;
	time_t now = now_ts().tv_sec;
	struct stat st;

	make_file(f->dirfd, ".osd-expire.10.0.0.1");
	set_mtime(f->dirfd, ".osd-expire.10.0.0.1", now - 100, 0);
	make_file(f->dirfd, "10.0.0.1");
	set_mtime(f->dirfd, "10.0.0.1", now - 5, 0);
	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, NULL, NULL, NULL), 0);
	assert_true(get_stat(f->dirfd, "10.0.0.1", &st));
	assert_int_equal(st.st_mtim.tv_sec, now - 5);
	assert_int_equal(count_prefixed(f->dir, ".osd-expire."), 0);
}

static int
stop_at_first(void *ctx, const struct ipaddr *a, const struct timespec *mtime)
{
	(void)a;
	(void)mtime;
	(*(int *)ctx)++;
	return -1;
}

static void
test_opensmtp_scan_callback_can_stop(void **state)
{
	struct fixture *f = *state;
	int calls = 0;

	make_file(f->dirfd, "192.0.2.1");
	make_file(f->dirfd, "192.0.2.2");
	errno = 0;
	assert_int_equal(opensmtp_scan(f->dirfd, EXPIRE, stop_at_first, &calls, NULL), -1);
	assert_int_equal(errno, ECANCELED);
	assert_int_equal(calls, 1);
}

static void
test_opensmtp_printable_masks_control_bytes(void **state)
{
	char out[8];

	(void)state;
	opensmtp_printable("a\nb\x7f" "c\x80", out, sizeof(out));
	assert_string_equal(out, "a?b?c?");
	opensmtp_printable("0123456789", out, sizeof(out));
	assert_string_equal(out, "0123456");
	opensmtp_printable("x", out, 1);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_opensmtp_record_creates_empty_file_now,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_again_updates_mtime,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_v4mapped_uses_ipv4_name,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_does_not_touch_symlink_target,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_missing_folder_fails,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_opensmtp_name_to_addr_accepts_only_canonical_names),
		cmocka_unit_test(test_opensmtp_is_expired_boundaries),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_at_removes_expired_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_at_keeps_fresh_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_at_missing_entry_is_gone,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_touch_on_renamed_entry_has_not_landed,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_finish_puts_back_entry_touched_after_check,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_finish_keeps_new_entry_made_after_rename,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_finish_removes_untouched_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_begin_names_each_expiry_apart,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_expire_finish_after_a_scan_finished_it,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_refuses_non_regular_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_time_at_sets_old_mtime,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_time_at_keeps_newer_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_record_time_at_never_shows_another_time,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_scan_counts_live_expired_and_ignored,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_scan_finishes_interrupted_expiry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_scan_leftover_does_not_replace_newer_entry,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_scan_callback_can_stop,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_opensmtp_mirror_at_links_an_unnamed_inode,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_opensmtp_printable_masks_control_bytes),
	};

	/* The scan warns about every name it skips; the tests check the counts. */
	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests_name("opensmtp", tests, NULL, NULL);
}
