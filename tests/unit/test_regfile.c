/* test_regfile.c - opening files that must be regular (lib/util/regfile.c): a FIFO is refused at once, never waited on. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "path.h"
#include "regfile.h"
#include "testutil.h"

static void
make_fifo(const char *dir, const char *name, char *path, size_t size)
{
	assert_int_equal(path_join(path, size, dir, name), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
}

/* A FIFO without a writer: open(2) would wait for ever; alarm() fails the test if it does. */
static void
test_regfile_fifo_refused_without_blocking(void **state)
{
	char path[PATH_MAX];
	int dirfd;

	alarm(20);
	make_fifo(*state, "fifo", path, sizeof(path));
	errno = 0;
	assert_int_equal(regfile_open(path, O_RDONLY, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(regfile_strerror(EINVAL), "not a regular file");
	dirfd = open(*state, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	errno = 0;
	assert_int_equal(regfile_openat(dirfd, "fifo", O_RDONLY | O_NOFOLLOW, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* Read-write opens of a FIFO do not block, but are refused all the same. */
	assert_int_equal(regfile_openat(dirfd, "fifo", O_RDWR | O_CREAT, 0600, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* A folder and a device are not regular files either. */
	assert_int_equal(regfile_openat(dirfd, ".", O_RDONLY, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(regfile_open("/dev/null", O_RDONLY, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	close(dirfd);
	alarm(0);
}

/* A regular file opens, its stat is given, and the descriptor blocks again unless asked not to. */
static void
test_regfile_regular_file_opens_blocking(void **state)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	assert_int_equal(path_join(path, sizeof(path), *state, "msg"), 0);
	fd = regfile_open(path, O_WRONLY | O_CREAT | O_EXCL, 0640, &st);
	assert_true(fd >= 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	fd = regfile_open(path, O_RDONLY, 0, &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	fd = regfile_open(path, O_RDONLY | O_NONBLOCK, 0, NULL);
	assert_true(fd >= 0);
	assert_int_not_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);

	errno = 0;
	assert_int_equal(regfile_open("/nonexistent/osd-regfile", O_RDONLY, 0, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(regfile_strerror(ENOENT), strerror(ENOENT));
}

#define T(name) cmocka_unit_test_setup_teardown(name, testutil_setup_tmpdir, testutil_teardown_tmpdir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_regfile_fifo_refused_without_blocking),
		T(test_regfile_regular_file_opens_blocking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
