/* test_sigfd.c - unit tests for the daemons' signal descriptor (lib/util/sigfd.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "sigfd.h"

/* The signals are blocked and arrive on the descriptor, which is non-blocking and close-on-exec; the old mask is returned. */
static void
test_sigfd_delivers_blocked_signals(void **state)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2 };
	struct signalfd_siginfo si;
	sigset_t old, now;
	int fd;

	(void)state;
	fd = sigfd_open(sigs, 2, &old);
	assert_true(fd >= 0);
	assert_false(sigismember(&old, SIGUSR1));
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	assert_true(sigismember(&now, SIGUSR1) && sigismember(&now, SIGUSR2));
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Nothing pending: a read does not wait. */
	assert_int_equal(read(fd, &si, sizeof(si)), -1);
	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(read(fd, &si, sizeof(si)), (ssize_t)sizeof(si));
	assert_int_equal(si.ssi_signo, SIGUSR2);
	close(fd);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigfd_delivers_blocked_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
