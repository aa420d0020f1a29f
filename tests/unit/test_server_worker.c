/* test_server_worker.c - unit tests for lib/net/server_worker.c: a connection handed to a waiting session process over a socket pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "server_worker.h"

/* The descriptor arrives as a working copy of the same socket, with what came with it. */
static void
test_server_worker_handoff_passes_fd_and_details(void **state)
{
	struct server_handoff h = { .kind = 7, .prior_failures = 3 }, got;
	int pair[2], conn[2], fd = -1;
	char c = 0;

	(void)state;
	assert_int_equal(worker_pair(pair), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, conn), 0);
	assert_int_equal(ipaddr_parse("192.0.2.7", &h.addr), 0);
	assert_int_equal(worker_send(pair[0], conn[0], &h), 0);
	close(conn[0]);                 /* the sender's copy: the receiver's keeps the socket */
	memset(&got, 0, sizeof(got));
	assert_int_equal(worker_recv(pair[1], &fd, &got), 1);
	assert_true(fd >= 0);
	assert_int_equal(got.kind, 7);
	assert_int_equal(got.prior_failures, 3);
	assert_true(ipaddr_equal(&got.addr, &h.addr));
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(conn[1], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fd);
	close(conn[1]);
	close(pair[0]);
	close(pair[1]);
}

/* The parent closing its end retires the process: recv says 0, no descriptor. */
static void
test_server_worker_closed_parent_end_reads_zero(void **state)
{
	struct server_handoff got;
	int pair[2], fd = -1;

	(void)state;
	assert_int_equal(worker_pair(pair), 0);
	close(pair[0]);
	assert_int_equal(worker_recv(pair[1], &fd, &got), 0);
	assert_int_equal(fd, -1);
	close(pair[1]);
}

/* A message without a descriptor (nobody but server.c writes there) is an error, not a connection. */
static void
test_server_worker_message_without_fd_refused(void **state)
{
	struct server_handoff h, got;
	int pair[2], fd = -1;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(worker_pair(pair), 0);
	assert_int_equal(send(pair[0], &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(worker_recv(pair[1], &fd, &got), -1);
	assert_int_equal(fd, -1);
	close(pair[0]);
	close(pair[1]);
}

/* The process at the other end is gone: send fails (EPIPE, no SIGPIPE), the caller forks instead. */
static void
test_server_worker_send_to_gone_process_fails(void **state)
{
	struct server_handoff h;
	int pair[2], conn[2];

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(worker_pair(pair), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, conn), 0);
	close(pair[1]);
	assert_int_equal(worker_send(pair[0], conn[0], &h), -1);
	close(pair[0]);
	close(conn[0]);
	close(conn[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_worker_handoff_passes_fd_and_details),
		cmocka_unit_test(test_server_worker_closed_parent_end_reads_zero),
		cmocka_unit_test(test_server_worker_message_without_fd_refused),
		cmocka_unit_test(test_server_worker_send_to_gone_process_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
