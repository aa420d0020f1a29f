/* test_atomicfile.c - unit tests for atomic file replacement, write_all and close_keep_errno (lib/util/atomicfile.c, lib/util/fdclose.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "fdclose.h"
#include "path.h"
#include "testutil.h"

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void
read_file(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, out, size - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

/* How many entries of dir contain ".tmp." (leftover temporaries). */
static int
count_temps(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp.") != NULL)
			n++;
	closedir(d);
	return n;
}

static void
test_atomicfile_commit_replaces_target_and_leaves_no_temp(void **state)
{
	char path[PATH_MAX], got[64];
	struct atomicfile af;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	write_file(path, "old");
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_int_equal(write_all(af.fd, "new contents", 12), 0);
	/* Until commit, readers still see the old file. */
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "old");
	assert_int_equal(atomicfile_commit(&af, true), 0);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "new contents");
	assert_int_equal(count_temps(*state), 0);
}

/* SWAP: the new file takes the name, the old one is gone from the folder, an open reader keeps it. */
static void
test_atomicfile_swap_replaces_target_and_removes_the_old_file(void **state)
{
	char path[PATH_MAX], got[64];
	struct atomicfile af;
	struct stat sb;
	int reader;
	ssize_t n;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	write_file(path, "old");
	reader = open(path, O_RDONLY);
	assert_true(reader >= 0);
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_int_equal(write_all(af.fd, "new contents", 12), 0);
	assert_int_equal(atomicfile_commit_how(&af, ATOMICFILE_SWAP), 0);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "new contents");
	assert_int_equal(count_temps(*state), 0);
	/* The reader still has the old file, now without a name. */
	assert_int_equal(fstat(reader, &sb), 0);
	assert_int_equal(sb.st_nlink, 0);
	n = pread(reader, got, sizeof(got) - 1, 0);
	assert_int_equal(n, 3);
	got[n] = '\0';
	assert_string_equal(got, "old");
	close(reader);
	/* With nothing to exchange with, it is a plain rename. */
	assert_int_equal(path_join(path, sizeof(path), *state, "first.cdb"), 0);
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_int_equal(write_all(af.fd, "first", 5), 0);
	assert_int_equal(atomicfile_commit_how(&af, ATOMICFILE_SWAP | ATOMICFILE_SYNC_ALL), 0);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "first");
	assert_int_equal(count_temps(*state), 0);
}

static void
test_atomicfile_commit_without_fsync_creates_file(void **state)
{
	char path[PATH_MAX], got[64];
	struct atomicfile af;

	assert_int_equal(path_join(path, sizeof(path), *state, "fresh"), 0);
	assert_int_equal(atomicfile_open(&af, path, 0600), 0);
	assert_int_equal(write_all(af.fd, "x", 1), 0);
	assert_int_equal(atomicfile_commit(&af, false), 0);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "x");
}

static void
test_atomicfile_temp_is_hidden_beside_target(void **state)
{
	char path[PATH_MAX], prefix[PATH_MAX];
	struct atomicfile af;
	struct stat st;

	assert_int_equal(path_join(path, sizeof(path), *state, "relay.cdb"), 0);
	assert_int_equal(path_fmt(prefix, sizeof(prefix), "%s/.relay.cdb.tmp.%ld.",
				  (char *)*state, (long)getpid()), 0);
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_string_equal(af.path, path);
	assert_memory_equal(af.tmp, prefix, strlen(prefix));
	assert_int_equal(stat(af.tmp, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	atomicfile_abort(&af);
}

static void
test_atomicfile_open_twice_gives_distinct_temps(void **state)
{
	char path[PATH_MAX];
	struct atomicfile a, b;

	assert_int_equal(path_join(path, sizeof(path), *state, "t"), 0);
	assert_int_equal(atomicfile_open(&a, path, 0644), 0);
	assert_int_equal(atomicfile_open(&b, path, 0644), 0);
	assert_string_not_equal(a.tmp, b.tmp);
	atomicfile_abort(&a);
	atomicfile_abort(&b);
	assert_int_equal(count_temps(*state), 0);
}

static void
test_atomicfile_abort_keeps_target_and_removes_temp(void **state)
{
	char path[PATH_MAX], got[64];
	struct atomicfile af;

	assert_int_equal(path_join(path, sizeof(path), *state, "keep"), 0);
	write_file(path, "original");
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_int_equal(write_all(af.fd, "half", 4), 0);
	atomicfile_abort(&af);
	read_file(path, got, sizeof(got));
	assert_string_equal(got, "original");
	assert_int_equal(count_temps(*state), 0);
	/* A second abort, or a commit after it, is harmless. */
	atomicfile_abort(&af);
	errno = 0;
	assert_int_equal(atomicfile_commit(&af, true), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_atomicfile_mode_is_exact_despite_umask(void **state)
{
	char path[PATH_MAX];
	struct atomicfile af;
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(path_join(path, sizeof(path), *state, "mode"), 0);
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	assert_int_equal(atomicfile_commit(&af, true), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void
test_atomicfile_open_in_missing_folder_fails(void **state)
{
	char path[PATH_MAX];
	struct atomicfile af;

	assert_int_equal(path_join(path, sizeof(path), *state, "nope/file"), 0);
	errno = 0;
	assert_int_equal(atomicfile_open(&af, path, 0644), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(af.fd, -1);
}

static void
test_atomicfile_open_folder_name_fails_eisdir(void **state)
{
	char path[PATH_MAX];
	struct atomicfile af;

	assert_int_equal(path_fmt(path, sizeof(path), "%s/", (char *)*state), 0);
	errno = 0;
	assert_int_equal(atomicfile_open(&af, path, 0644), -1);
	assert_int_equal(errno, EISDIR);
}

static void
test_atomicfile_open_overlong_path_fails_enametoolong(void **state)
{
	char *path;
	struct atomicfile af;
	size_t n = PATH_MAX + 5;

	(void)state;
	path = malloc(n + 1);
	assert_non_null(path);
	memset(path, 'a', n);
	path[0] = '/';
	path[n] = '\0';
	errno = 0;
	assert_int_equal(atomicfile_open(&af, path, 0644), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(path);
}

static void
test_atomicfile_commit_rename_failure_removes_temp(void **state)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct atomicfile af;

	/* The target is a non-empty folder: rename(2) must fail. */
	assert_int_equal(path_join(path, sizeof(path), *state, "target"), 0);
	assert_int_equal(path_join(sub, sizeof(sub), path, "x"), 0);
	assert_int_equal(path_mkdirs(sub, 0755), 0);
	assert_int_equal(atomicfile_open(&af, path, 0644), 0);
	errno = 0;
	assert_int_equal(atomicfile_commit(&af, true), -1);
	assert_true(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	assert_int_equal(count_temps(*state), 0);
}

static void
test_fsync_parent_dir_works_and_reports_missing_folder(void **state)
{
	char path[PATH_MAX];

	assert_int_equal(path_join(path, sizeof(path), *state, "whatever"), 0);
	assert_int_equal(fsync_parent_dir(path), 0);
	assert_int_equal(path_join(path, sizeof(path), *state, "missing/whatever"), 0);
	errno = 0;
	assert_int_equal(fsync_parent_dir(path), -1);
	assert_int_equal(errno, ENOENT);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

static void
test_write_all_survives_signals_and_short_writes(void **state)
{
	const size_t total = 4 * 1024 * 1024;
	struct sigaction sa, old_sa;
	struct itimerval it, old_it;
	char *data;
	int fds[2], status;
	pid_t pid;

	(void)state;
	data = malloc(total);
	assert_non_null(data);
	memset(data, 'm', total);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A slow reader: the writer blocks, gets signals, writes partially. */
		char chunk[4096];
		size_t got = 0;
		ssize_t n;

		close(fds[1]);
		free(data);     /* not the reader's: valgrind would call it lost at _exit */
		usleep(50000);
		while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) {
			got += (size_t)n;
			if (got % (256 * 1024) < sizeof(chunk))
				usleep(1000);
		}
		_exit(got == total ? 0 : 1);
	}
	close(fds[0]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;    /* no SA_RESTART: write(2) must see EINTR or return short */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old_sa), 0);
	/*
	 * A signal every 2 ms; under valgrind (meson test --setup valgrind)
	 * every 50 ms: its slower signal delivery at 2 ms left write(2) no
	 * time to move a byte, and the test never ended.
	 */
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = getenv("OSD_UNDER_VALGRIND") != NULL ? 50000 : 2000;
	it.it_value = it.it_interval;
	assert_int_equal(setitimer(ITIMER_REAL, &it, &old_it), 0);

	assert_int_equal(write_all(fds[1], data, total), 0);

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(data);
}

static void
test_write_all_reports_write_errors(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	/* Nothing to write is not an error. */
	assert_int_equal(write_all(-1, "", 0), 0);
}

/* atomicfile_write_commit: the data lands under path; a failed write leaves path and no temporary, errno kept. */
static void
test_atomicfile_write_commit_writes_or_leaves_nothing(void **state)
{
	const char *dir = *state;
	struct atomicfile af;
	char path[PATH_MAX], text[64];

	assert_int_equal(path_join(path, sizeof(path), dir, "f"), 0);
	write_file(path, "old\n");
	assert_int_equal(atomicfile_open(&af, path, 0600), 0);
	assert_int_equal(atomicfile_write_commit(&af, "new\n", 4, false), 0);
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "new\n");
	assert_int_equal(count_temps(dir), 0);

	assert_int_equal(atomicfile_open(&af, path, 0600), 0);
	close(af.fd);           /* the write must fail: EBADF */
	assert_int_equal(atomicfile_write_commit(&af, "lost\n", 5, false), -1);
	assert_int_equal(errno, EBADF);
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "new\n");
	assert_int_equal(count_temps(dir), 0);
}

/* A pid that ran and is gone (a child reaped at once). */
static long
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

static bool
exists_in(const char *dir, const char *name)
{
	char p[PATH_MAX];

	assert_int_equal(path_join(p, sizeof(p), dir, name), 0);
	return access(p, F_OK) == 0;
}

/* A folder's temporaries: those of writers that are gone go, live writers' and other files stay. */
static void
test_atomicfile_clean_stale_dir_removes_only_dead_writers(void **state)
{
	const char *dir = *state;
	char dead[64], live[64], ours[64], other_dead[64], noname[64], nodot[64], p[PATH_MAX];
	long pid = dead_pid();

	snprintf(dead, sizeof(dead), ".1796.12.tmp.%ld.0", pid);
	snprintf(other_dead, sizeof(other_dead), ".f.tmp.%ld.3", pid);
	snprintf(live, sizeof(live), ".x.tmp.%ld.1", (long)getppid());
	snprintf(ours, sizeof(ours), ".y.tmp.%ld.2", (long)getpid());
	snprintf(noname, sizeof(noname), ".tmp.%ld.1", pid);
	snprintf(nodot, sizeof(nodot), "z.tmp.%ld.1", pid);
	const char *names[] = { dead, other_dead, live, ours, noname, nodot, "1796.12", ".z.tmp.abc.1",
				".z.tmp.12." };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(path_join(p, sizeof(p), dir, names[i]), 0);
		write_file(p, "x");
	}
	/* One file's temporaries only: .f's. */
	assert_int_equal(path_join(p, sizeof(p), dir, "f"), 0);
	assert_int_equal(atomicfile_clean_stale(p), 1);
	assert_false(exists_in(dir, other_dead));
	assert_true(exists_in(dir, dead));
	/* The folder's: the dead writer's; this process's only with ours_too. */
	assert_int_equal(atomicfile_clean_stale_dir(dir, false), 1);
	assert_false(exists_in(dir, dead));
	assert_true(exists_in(dir, ours));
	assert_int_equal(atomicfile_clean_stale_dir(dir, true), 1);
	assert_false(exists_in(dir, ours));
	assert_true(exists_in(dir, live) && exists_in(dir, noname) && exists_in(dir, nodot) &&
		    exists_in(dir, "1796.12") && exists_in(dir, ".z.tmp.abc.1") &&
		    exists_in(dir, ".z.tmp.12."));
	assert_int_equal(atomicfile_clean_stale_dir("/nonexistent-osd-dir", true), 0);
}

/* close_keep_errno closes and keeps the caller's errno, even when close itself fails. */
static void
test_close_keep_errno_keeps_errno(void **state)
{
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	errno = ENOSPC;
	assert_int_equal(close_keep_errno(fds[0]), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(fcntl(fds[0], F_GETFD), -1);      /* closed */
	errno = EDQUOT;
	assert_int_equal(close_keep_errno(fds[0]), -1);     /* close fails with EBADF */
	assert_int_equal(errno, EDQUOT);
	errno = EIO;
	assert_int_equal(close_keep_errno(-1), -1);
	assert_int_equal(errno, EIO);
	close(fds[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atomicfile_commit_replaces_target_and_leaves_no_temp,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_swap_replaces_target_and_removes_the_old_file,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_commit_without_fsync_creates_file,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_temp_is_hidden_beside_target,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_open_twice_gives_distinct_temps,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_abort_keeps_target_and_removes_temp,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_mode_is_exact_despite_umask,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_open_in_missing_folder_fails,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_open_folder_name_fails_eisdir,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_atomicfile_open_overlong_path_fails_enametoolong),
		cmocka_unit_test_setup_teardown(test_atomicfile_commit_rename_failure_removes_temp,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fsync_parent_dir_works_and_reports_missing_folder,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_write_all_survives_signals_and_short_writes),
		cmocka_unit_test(test_write_all_reports_write_errors),
		cmocka_unit_test_setup_teardown(test_atomicfile_write_commit_writes_or_leaves_nothing,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomicfile_clean_stale_dir_removes_only_dead_writers,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_close_keep_errno_keeps_errno),
	};

	return cmocka_run_group_tests_name("atomicfile", tests, NULL, NULL);
}
