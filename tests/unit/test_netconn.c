/* test_netconn.c - unit tests for the connection I/O of the children (lib/net/netconn.c), over a socketpair. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "monotonic.h"
#include "netconn.h"

/* Short, so that the timeout tests are quick; long enough for a loaded machine to write in time. */
#define TEST_TIMEOUT_MS 200
#define TEST_LINE_MAX 16

struct fixture {
	struct netconn c;               /* the server end */
	int peer;                       /* the client end */
	struct buf out;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	if (f == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	if (netconn_init(&f->c, sv[0], TEST_TIMEOUT_MS, TEST_LINE_MAX) == -1)
		return -1;
	f->peer = sv[1];
	buf_init(&f->out, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	netconn_close(&f->c);
	if (f->peer != -1)
		close(f->peer);
	buf_free(&f->out);
	free(f);
	return 0;
}

static void
peer_send(struct fixture *f, const char *s)
{
	assert_int_equal(send(f->peer, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* The next line, as a string (for assert_string_equal). */
static const char *
next_line(struct fixture *f)
{
	static char copy[NETCONN_IN_SIZE + 1];
	const char *line;
	size_t len;

	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), 1);
	memcpy(copy, line, len);
	copy[len] = '\0';
	return copy;
}

static void
test_netconn_line_returns_each_line_with_its_ending(void **state)
{
	struct fixture *f = *state;
	const char *line;
	size_t len;

	peer_send(f, "USER a\r\nNOOP\n");
	assert_string_equal(next_line(f), "USER a\r\n");
	assert_string_equal(next_line(f), "NOOP\n");
	close(f->peer);
	f->peer = -1;
	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), 0);
}

static void
test_netconn_line_joins_a_line_split_over_reads(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	peer_send(f, "LI");
	/* A partial line is kept, not returned; the rest arrives while netconn_line waits
	 * (long enough for a child starved on a loaded machine: this test wants no timeout). */
	f->c.timeout_ms = 5000;
	if ((pid = fork()) == 0) {
		usleep(20000);
		(void)!send(f->peer, "ST\r\n", 4, 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_string_equal(next_line(f), "LIST\r\n");
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void
test_netconn_line_cuts_an_overlong_line_and_skips_its_rest(void **state)
{
	struct fixture *f = *state;
	const char *line;
	size_t len;

	peer_send(f, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nnext\r\n");
	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), 1);
	assert_int_equal(len, TEST_LINE_MAX + 1);
	assert_memory_equal(line, "xxxxxxxxxxxxxxxxx", TEST_LINE_MAX + 1);
	assert_string_equal(next_line(f), "next\r\n");

	/* Without a line ending in sight: cut as soon as the bound is passed, the rest dropped later. */
	peer_send(f, "yyyyyyyyyyyyyyyyyyyy");
	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), 1);
	assert_int_equal(len, TEST_LINE_MAX + 1);
	peer_send(f, "yyyy\r\nQUIT\r\n");
	assert_string_equal(next_line(f), "QUIT\r\n");
}

static void
test_netconn_line_keeps_a_line_of_exactly_line_max(void **state)
{
	struct fixture *f = *state;

	/* line_max octets before CRLF: whole. */
	peer_send(f, "0123456789abcdef\r\n");
	assert_string_equal(next_line(f), "0123456789abcdef\r\n");
}

static void
test_netconn_line_answers_pipelined_lines_together(void **state)
{
	struct fixture *f = *state;
	const char *line;
	size_t len;
	char got[64];
	ssize_t n;

	peer_send(f, "STAT\r\nLIST\r\n");
	assert_string_equal(next_line(f), "STAT\r\n");
	assert_int_equal(buf_append_str(&f->out, "+OK 1\r\n"), 0);
	/* LIST is buffered: its line comes without the STAT reply being sent yet. */
	assert_string_equal(next_line(f), "LIST\r\n");
	assert_int_equal(f->out.len, 7);
	assert_int_equal(buf_append_str(&f->out, "+OK 2\r\n"), 0);
	/* Nothing more buffered: both replies go out in one write before the wait (which times out). */
	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(f->out.len, 0);
	n = recv(f->peer, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_int_equal(n, 14);
	got[n] = '\0';
	assert_string_equal(got, "+OK 1\r\n+OK 2\r\n");
}

static void
test_netconn_line_times_out_after_timeout_ms(void **state)
{
	struct fixture *f = *state;
	long long t0 = monotonic_ms();
	const char *line;
	size_t len;

	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(monotonic_ms() - t0 >= TEST_TIMEOUT_MS - 10);
}

/*
 * A child process on the client end: text, one byte every gap_ms, then it
 * waits for the server end to close (so a failed assertion, which skips
 * stop(), leaves no process behind).
 */
static pid_t
trickle(struct fixture *f, const char *text, int gap_ms)
{
	pid_t pid = fork();
	char c;

	assert_true(pid != -1);
	if (pid == 0) {
		close(f->c.fd);
		alarm(30);
		for (; *text != '\0'; text++) {
			if (send(f->peer, text, 1, MSG_NOSIGNAL) != 1)
				_exit(0);
			usleep((useconds_t)gap_ms * 1000);
		}
		while (recv(f->peer, &c, 1, 0) > 0)
			;
		_exit(0);
	}
	return pid;
}

static void
stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Issue 16 point 4: a line must be whole within the timeout, however it
 * trickles in.  Twenty bytes 50 ms apart never leave a 200 ms silence,
 * but take a second: the line is refused at its deadline, not returned.
 */
static void
test_netconn_line_times_out_while_a_line_trickles(void **state)
{
	struct fixture *f = *state;
	pid_t pid = trickle(f, "NOOP 123456789012\r\n", 50);
	const char *line;
	size_t len;

	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_string_equal(netconn_end_reason(-1), "timeout");
	stop(pid);
}

/* The session deadline ends a connection that keeps sending whole lines, with ETIME. */
static void
test_netconn_session_deadline_ends_a_busy_connection(void **state)
{
	struct fixture *f = *state;
	pid_t pid = trickle(f, "A\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\nA\n", 40);
	const char *line;
	size_t len;
	int r, lines = 0;

	/* A generous line timeout: only the session deadline may end this. */
	f->c.timeout_ms = 5000;
	f->c.session_deadline = monotonic_ms() + 500;   /* about 12 of the 20 lines */
	while ((r = netconn_line(&f->c, &f->out, &line, &len)) == 1)
		lines++;
	assert_int_equal(r, -1);
	assert_int_equal(errno, ETIME);
	assert_string_equal(netconn_end_reason(-1), "deadline");
	/* Some lines came through before it (the deadline is not a refusal of everything). */
	assert_true(lines >= 1);
	/* A write after the deadline still tries once: the farewell gets out. */
	assert_int_equal(buf_append_str(&f->out, "421 bye\r\n"), 0);
	assert_int_equal(netconn_flush(&f->c, &f->out), 0);
	stop(pid);
}

/* netconn_peek waits no longer than read_deadline (the DATA deadline), even with a long timeout. */
static void
test_netconn_peek_stops_at_the_read_deadline(void **state)
{
	struct fixture *f = *state;
	const char *data;
	size_t len;

	/* Without the read deadline this would wait a minute (and the test time out). */
	f->c.timeout_ms = 60000;
	f->c.read_deadline = monotonic_ms() + 100;
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), -1);
	assert_int_equal(errno, ETIMEDOUT);
	/* Data that is there is read as long as the deadline is ahead. */
	f->c.read_deadline = monotonic_ms() + 60000;
	peer_send(f, "x");
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), 1);
	assert_int_equal(len, 1);
}

static void
test_netconn_flush_times_out_when_the_peer_does_not_read(void **state)
{
	struct fixture *f = *state;
	static char chunk[64 * 1024];
	int i;

	memset(chunk, 'z', sizeof(chunk));
	/* Far more than the socket buffers hold. */
	for (i = 0; i < 128; i++)
		assert_int_equal(buf_append(&f->out, chunk, sizeof(chunk)), 0);
	assert_int_equal(netconn_flush(&f->c, &f->out), -1);
	assert_int_equal(errno, ETIMEDOUT);
}

static void
test_netconn_peek_gives_buffered_input_then_reads(void **state)
{
	struct fixture *f = *state;
	const char *data;
	size_t len;
	char got[16];

	peer_send(f, "DATA\r\nSubject: x\r\n");
	assert_string_equal(next_line(f), "DATA\r\n");
	/* The body sent with the command is already buffered. */
	assert_true(netconn_pending(&f->c));
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), 1);
	assert_int_equal(len, 12);
	assert_memory_equal(data, "Subject: x\r\n", 12);
	netconn_consume(&f->c, 9);
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "x\r\n", 3);
	netconn_consume(&f->c, len);
	assert_false(netconn_pending(&f->c));

	/* Nothing buffered: the waiting reply goes out, then the next read is returned. */
	assert_int_equal(buf_append_str(&f->out, "354 go\r\n"), 0);
	peer_send(f, ".\r\n");
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(data, ".\r\n", 3);
	assert_int_equal(recv(f->peer, got, sizeof(got), MSG_DONTWAIT), 8);
	netconn_consume(&f->c, len);
	close(f->peer);
	f->peer = -1;
	assert_int_equal(netconn_peek(&f->c, &f->out, &data, &len), 0);
}

static void
test_netconn_discard_forgets_buffered_input(void **state)
{
	struct fixture *f = *state;
	const char *line;
	size_t len;

	/* STARTTLS with a command injected behind it (CVE-2011-0411): the second line never runs. */
	peer_send(f, "STLS\r\nUSER evil\r\n");
	assert_string_equal(next_line(f), "STLS\r\n");
	netconn_discard(&f->c);
	assert_false(netconn_pending(&f->c));
	assert_int_equal(netconn_line(&f->c, &f->out, &line, &len), -1);
	assert_int_equal(errno, ETIMEDOUT);
}

static void
test_netconn_init_refuses_a_line_max_the_buffer_cannot_hold(void **state)
{
	struct netconn c;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(netconn_init(&c, sv[0], 1000, NETCONN_IN_SIZE - 2), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(netconn_init(&c, sv[0], 1000, NETCONN_IN_SIZE - 3), 0);
	netconn_close(&c);
	assert_int_equal(c.fd, -1);
	close(sv[1]);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_netconn_line_returns_each_line_with_its_ending),
		T(test_netconn_line_joins_a_line_split_over_reads),
		T(test_netconn_line_cuts_an_overlong_line_and_skips_its_rest),
		T(test_netconn_line_keeps_a_line_of_exactly_line_max),
		T(test_netconn_line_answers_pipelined_lines_together),
		T(test_netconn_line_times_out_after_timeout_ms),
		T(test_netconn_line_times_out_while_a_line_trickles),
		T(test_netconn_session_deadline_ends_a_busy_connection),
		T(test_netconn_peek_stops_at_the_read_deadline),
		T(test_netconn_flush_times_out_when_the_peer_does_not_read),
		T(test_netconn_peek_gives_buffered_input_then_reads),
		T(test_netconn_discard_forgets_buffered_input),
		cmocka_unit_test(test_netconn_init_refuses_a_line_max_the_buffer_cannot_hold),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
