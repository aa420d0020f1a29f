/* test_session_loop.c - unit tests for the one per-connection loop (lib/net/session_loop.c), with a fake protocol over a socketpair. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "monotonic.h"
#include "netconn.h"
#include "session_loop.h"

/* Short, so that the timeout tests are quick; long enough for a loaded machine. */
#define TEST_TIMEOUT_MS 200
#define TEST_LINE_MAX 32
/* A session deadline no test reaches unless it sets its own. */
#define TEST_DEADLINE_S 60

/*
 * The fake protocol: "QUIT" and "BYE" close, "STARTTLS" asks for TLS,
 * "FAIL x"/"OK x" are a failed/good login of x, "LIT {n}" asks for n raw
 * octets, "DATA" takes a body up to a line ".", "BIG" streams three
 * pieces; anything else is answered "+ok <line>".
 */
struct fake {
	char lines[8][64];              /* what the protocol was given, line endings cut */
	size_t line_len[8];
	int nlines;
	char user[64];
	struct buf raw;                 /* octets given to input */
	size_t raw_calls;
	int pieces;                     /* BIG: pieces left */
	int timeouts, expireds, tls_started;
	int wake_fd;                    /* wake_ops: the read end of a pipe, -1 once woken */
	int woken;
	int line_timeout_ms;            /* wake_ops: what line_timeout_ms says */
	int wake_ms;                    /* timer_ops: what wake_ms says */
	int ticks_left;                 /* timer_ops: wake_ms says -1 once this many ticks were told (-1: never) */
	int ticks;
	char events[256];               /* login, throttle and report calls in order */
};

struct fixture {
	struct session_loop l;
	int peer;
	struct fake p;
	char addr[16];
};

static struct fixture *current;

static void
event(struct fake *p, const char *what)
{
	size_t n = strlen(p->events);

	snprintf(p->events + n, sizeof(p->events) - n, "%s;", what);
}

static void
fake_greeting(void *vp, struct buf *out)
{
	(void)vp;
	assert_int_equal(buf_append_str(out, "+hello\r\n"), 0);
}

static unsigned
fake_line(void *vp, const char *line, size_t len, struct buf *out, size_t *raw_r)
{
	struct fake *p = vp;
	size_t n = len;
	char *l;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (p->nlines < 8) {
		p->line_len[p->nlines] = len;
		snprintf(p->lines[p->nlines], sizeof(p->lines[0]), "%.*s", (int)n, line);
	}
	l = p->lines[p->nlines < 8 ? p->nlines++ : 7];
	if (len > TEST_LINE_MAX) {
		assert_int_equal(buf_append_str(out, "-too long\r\n"), 0);
		return 0;
	}
	if (strcasecmp(l, "QUIT") == 0) {
		assert_int_equal(buf_append_str(out, "+bye\r\n"), 0);
		return LOOP_CLOSE;
	}
	if (strcmp(l, "BYE") == 0)
		return LOOP_CLOSE;
	if (strcmp(l, "STARTTLS") == 0) {
		assert_int_equal(buf_append_str(out, "+go ahead\r\n"), 0);
		return LOOP_STARTTLS;
	}
	if (strncmp(l, "FAIL ", 5) == 0 || strncmp(l, "OK ", 3) == 0) {
		snprintf(p->user, sizeof(p->user), "%s", strchr(l, ' ') + 1);
		assert_int_equal(buf_append_str(out, l[0] == 'F' ? "-no\r\n" : "+in\r\n"), 0);
		return l[0] == 'F' ? LOOP_LOGIN_FAILED : LOOP_LOGIN_OK;
	}
	if (strncmp(l, "LIT {", 5) == 0) {
		*raw_r = strtoul(l + 5, NULL, 10);
		assert_int_equal(buf_append_str(out, "+ send it\r\n"), 0);
		return LOOP_RAW;
	}
	if (strcmp(l, "DATA") == 0) {
		assert_int_equal(buf_append_str(out, "+354\r\n"), 0);
		return LOOP_BODY;
	}
	if (strcmp(l, "BIG") == 0) {
		p->pieces = 3;
		assert_int_equal(buf_append_str(out, "+big\r\n"), 0);
		return LOOP_STREAM;
	}
	assert_int_equal(buf_printf(out, "+ok %s\r\n", l), 0);
	return 0;
}

/* LIT: everything given counts; DATA: up to and including "\r\n.\r\n". */
static size_t
fake_input(void *vp, const char *data, size_t len, struct buf *out, unsigned *act_r,
	   size_t *raw_r)
{
	struct fake *p = vp;
	const char *end;

	(void)raw_r;
	p->raw_calls++;
	if (p->nlines > 0 && strcmp(p->lines[p->nlines - 1], "DATA") == 0) {
		assert_int_equal(buf_append(&p->raw, data, len), 0);
		end = memmem(p->raw.data, p->raw.len, "\r\n.\r\n", 5);
		if (end == NULL) {
			*act_r = LOOP_BODY;
			return len;
		}
		len -= p->raw.len - (size_t)(end + 5 - p->raw.data);
		p->raw.len = (size_t)(end + 5 - p->raw.data);
		assert_int_equal(buf_append_str(out, "+queued\r\n"), 0);
		*act_r = 0;
		return len;
	}
	assert_int_equal(buf_append(&p->raw, data, len), 0);
	*act_r = 0;
	return len;
}

static unsigned
fake_stream(void *vp, struct buf *out)
{
	struct fake *p = vp;

	assert_int_equal(buf_printf(out, "piece %d\r\n", p->pieces), 0);
	if (--p->pieces > 0)
		return LOOP_STREAM;
	assert_int_equal(buf_append_str(out, ".\r\n"), 0);
	return 0;
}

static void
fake_timeout(void *vp, struct buf *out)
{
	((struct fake *)vp)->timeouts++;
	assert_int_equal(buf_append_str(out, "-timeout\r\n"), 0);
}

static void
fake_expired(void *vp, struct buf *out)
{
	((struct fake *)vp)->expireds++;
	assert_int_equal(buf_append_str(out, "-deadline\r\n"), 0);
}

static void
fake_tls_started(void *vp, const char *tls_info)
{
	(void)tls_info;
	((struct fake *)vp)->tls_started++;
}

static void
fake_login_key(void *vp, char *key, size_t size)
{
	snprintf(key, size, "%s@example.org", ((struct fake *)vp)->user);
}

static void
fake_login(void *vp, bool ok)
{
	event(vp, ok ? "log-ok" : "log-failed");
}

static const struct session_loop_ops fake_ops = {
	.greeting = fake_greeting,
	.line = fake_line,
	.input = fake_input,
	.stream = fake_stream,
	.timeout = fake_timeout,
	.expired = fake_expired,
	.tls_started = fake_tls_started,
	.login_key = fake_login_key,
	.login = fake_login,
};

/* The IDLE side of the loop: a pipe stands for the folder's inotify fd. */
static int
fake_wake_fd(void *vp)
{
	return ((struct fake *)vp)->wake_fd;
}

static unsigned
fake_woken(void *vp, struct buf *out)
{
	struct fake *p = vp;
	char c;

	assert_int_equal(read(p->wake_fd, &c, 1), 1);
	p->woken++;
	/* One change told; no more waking after it. */
	p->wake_fd = -1;
	assert_int_equal(buf_append_str(out, "* woken\r\n"), 0);
	return 0;
}

static int
fake_line_timeout_ms(void *vp)
{
	return ((struct fake *)vp)->line_timeout_ms;
}

static const struct session_loop_ops wake_ops = {
	.greeting = fake_greeting,
	.line = fake_line,
	.input = fake_input,
	.stream = fake_stream,
	.timeout = fake_timeout,
	.expired = fake_expired,
	.tls_started = fake_tls_started,
	.login_key = fake_login_key,
	.login = fake_login,
	.wake_fd = fake_wake_fd,
	.woken = fake_woken,
	.line_timeout_ms = fake_line_timeout_ms,
};

/* The timer side of the loop (IMAP IDLE's keepalive and folder poll): no fd, only wake_ms. */
static int
fake_no_fd(void *vp)
{
	(void)vp;
	return -1;
}

static int
fake_wake_ms(void *vp)
{
	struct fake *p = vp;

	return p->ticks_left == 0 ? -1 : p->wake_ms;
}

static unsigned
fake_tick(void *vp, struct buf *out)
{
	struct fake *p = vp;

	p->ticks++;
	if (p->ticks_left > 0)
		p->ticks_left--;
	assert_int_equal(buf_append_str(out, "* tick\r\n"), 0);
	return 0;
}

static const struct session_loop_ops timer_ops = {
	.greeting = fake_greeting,
	.line = fake_line,
	.input = fake_input,
	.stream = fake_stream,
	.timeout = fake_timeout,
	.expired = fake_expired,
	.tls_started = fake_tls_started,
	.login_key = fake_login_key,
	.login = fake_login,
	.wake_fd = fake_no_fd,
	.woken = fake_tick,
	.wake_ms = fake_wake_ms,
	.line_timeout_ms = fake_line_timeout_ms,
};

/* The throttle's calls, recorded instead of reported to a parent and slept. */
static void
fake_login_failed(const char *login, unsigned failures, long long deadline)
{
	char what[128];

	(void)deadline;
	snprintf(what, sizeof(what), "throttle %s %u", login, failures);
	event(&current->p, what);
}

static void
fake_report_login(const char *login, bool ok)
{
	char what[128];

	snprintf(what, sizeof(what), "report %s %s", login, ok ? "ok" : "failed");
	event(&current->p, what);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	if (f == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	snprintf(f->addr, sizeof(f->addr), "test");
	if (session_loop_init(&f->l, sv[0], f->addr, TEST_TIMEOUT_MS, TEST_LINE_MAX,
			      TEST_DEADLINE_S, NULL, false) == -1)
		return -1;
	f->l.login_failed = fake_login_failed;
	f->l.report_login = fake_report_login;
	f->peer = sv[1];
	buf_init(&f->p.raw, 0);
	current = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	session_loop_free(&f->l);
	if (f->peer != -1)
		close(f->peer);
	buf_free(&f->p.raw);
	free(f);
	return 0;
}

/* The client's side: send all of s (and, with eof, say no more comes). */
static void
client_says(struct fixture *f, const char *s, bool eof)
{
	assert_int_equal(send(f->peer, s, strlen(s), 0), (ssize_t)strlen(s));
	if (eof)
		assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
}

/* Run the loop with ops to its end, close the server side, and return all the client heard. */
static const char *
run_ops(struct fixture *f, const struct session_loop_ops *ops)
{
	static char heard[4096];
	size_t got = 0;
	ssize_t n;

	session_loop_run(&f->l, ops, &f->p);
	/* Closing the server's end is what lets the client read to EOF. */
	netconn_close(f->l.c);
	f->l.c->fd = -1;
	while ((n = read(f->peer, heard + got, sizeof(heard) - 1 - got)) > 0)
		got += (size_t)n;
	heard[got] = '\0';
	return heard;
}

/* Run the loop with the fake protocol; what the client heard. */
static const char *
run(struct fixture *f)
{
	return run_ops(f, &fake_ops);
}

static void
test_session_loop_quit_ends_as_quit_after_answering_pipelined_lines(void **state)
{
	struct fixture *f = *state;

	client_says(f, "NOOP\r\nquit\r\nNOOP\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+ok NOOP\r\n+bye\r\n");
	assert_string_equal(f->l.end, "quit");
	/* Nothing after the QUIT reached the protocol. */
	assert_int_equal(f->p.nlines, 2);
}

static void
test_session_loop_close_without_quit_ends_as_closed(void **state)
{
	struct fixture *f = *state;

	client_says(f, "BYE\r\n", false);
	assert_string_equal(run(f), "+hello\r\n");
	assert_string_equal(f->l.end, "closed");
}

static void
test_session_loop_client_going_away_ends_as_dropped(void **state)
{
	struct fixture *f = *state;

	client_says(f, "NOOP\r\n", true);
	assert_string_equal(run(f), "+hello\r\n+ok NOOP\r\n");
	assert_string_equal(f->l.end, "dropped");
	assert_int_equal(f->p.timeouts + f->p.expireds, 0);
}

static void
test_session_loop_starttls_without_tls_configured_ends_the_session(void **state)
{
	struct fixture *f = *state;

	/* The NOOP pipelined after STARTTLS must never be read (RFC 3207 section 4.2). */
	client_says(f, "STARTTLS\r\nNOOP\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+go ahead\r\n");
	assert_string_equal(f->l.end, "tls-failed");
	assert_string_equal(f->l.tls_info, "no");
	assert_int_equal(f->p.tls_started, 0);
	assert_int_equal(f->p.nlines, 1);
}

static void
test_session_loop_passes_an_overlong_line_cut_and_goes_on(void **state)
{
	struct fixture *f = *state;

	client_says(f, "NOOP 0123456789012345678901234567890123456789\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n-too long\r\n+bye\r\n");
	/* Cut to line_max + 1 octets: the protocol knows it is too long, the rest is skipped. */
	assert_int_equal(f->p.line_len[0], TEST_LINE_MAX + 1);
	assert_string_equal(f->p.lines[1], "QUIT");
	assert_string_equal(f->l.end, "quit");
}

static void
test_session_loop_silent_client_hears_the_timeout(void **state)
{
	struct fixture *f = *state;

	client_says(f, "NOOP\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+ok NOOP\r\n-timeout\r\n");
	assert_string_equal(f->l.end, "timeout");
	assert_int_equal(f->p.timeouts, 1);
	assert_int_equal(f->p.expireds, 0);
}

static void
test_session_loop_session_deadline_ends_the_session(void **state)
{
	struct fixture *f = *state;

	/* Already past: the next wait of the connection fails at once. */
	f->l.c->session_deadline = monotonic_ms() - 1;
	f->l.c->timeout_ms = 60000;
	assert_string_equal(run(f), "+hello\r\n-deadline\r\n");
	assert_string_equal(f->l.end, "deadline");
	assert_int_equal(f->p.expireds, 1);
	assert_int_equal(f->p.timeouts, 0);
}

static void
test_session_loop_failed_login_is_logged_then_throttled(void **state)
{
	struct fixture *f = *state;

	f->l.prior_failures = 2;
	client_says(f, "FAIL ann\r\nFAIL bob\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n-no\r\n-no\r\n+bye\r\n");
	/* Counted per login name, after the earlier failures from this address. */
	assert_string_equal(f->p.events, "log-failed;throttle ann@example.org 3;"
					 "log-failed;throttle bob@example.org 4;");
	assert_int_equal(f->l.failures, 2);
	assert_false(f->l.logged_in);
}

static void
test_session_loop_good_login_is_reported_then_logged(void **state)
{
	struct fixture *f = *state;

	client_says(f, "OK ann\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+in\r\n+bye\r\n");
	assert_string_equal(f->p.events, "report ann@example.org ok;log-ok;");
	assert_true(f->l.logged_in);
	assert_int_equal(f->l.failures, 0);
}

/* Run the loop with wake_ops and a pipe as the wake fd (written once when wake); what the client heard. */
static const char *
run_wake(struct fixture *f, bool wake)
{
	static char heard[4096];
	size_t got = 0;
	ssize_t n;
	int pipefd[2];

	assert_int_equal(pipe(pipefd), 0);
	f->p.wake_fd = pipefd[0];
	if (f->p.line_timeout_ms == 0)
		f->p.line_timeout_ms = TEST_TIMEOUT_MS;
	if (wake)
		assert_int_equal(write(pipefd[1], "x", 1), 1);
	session_loop_run(&f->l, &wake_ops, &f->p);
	close(pipefd[0]);
	close(pipefd[1]);
	netconn_close(f->l.c);
	f->l.c->fd = -1;
	while ((n = read(f->peer, heard + got, sizeof(heard) - 1 - got)) > 0)
		got += (size_t)n;
	heard[got] = '\0';
	return heard;
}

static void
test_session_loop_wake_fd_wakes_the_protocol_while_the_client_is_silent(void **state)
{
	struct fixture *f = *state;

	/* IMAP IDLE: the folder changes while the client says nothing; the change is told at once. */
	assert_string_equal(run_wake(f, true), "+hello\r\n* woken\r\n-timeout\r\n");
	assert_int_equal(f->p.woken, 1);
	assert_int_equal(f->p.nlines, 0);
	assert_string_equal(f->l.end, "timeout");
}

static void
test_session_loop_wake_fd_gives_way_to_a_waiting_client_line(void **state)
{
	struct fixture *f = *state;

	/* Both ready: the client's line first (DONE must not wait behind a change). */
	client_says(f, "QUIT\r\n", false);
	assert_string_equal(run_wake(f, true), "+hello\r\n+bye\r\n");
	assert_int_equal(f->p.woken, 0);
	assert_string_equal(f->l.end, "quit");
}

static void
test_session_loop_wake_fd_unset_reads_lines_as_before(void **state)
{
	struct fixture *f = *state;

	client_says(f, "NOOP\r\nQUIT\r\n", false);
	assert_string_equal(run_wake(f, false), "+hello\r\n+ok NOOP\r\n+bye\r\n");
	assert_int_equal(f->p.woken, 0);
}

static void
test_session_loop_line_timeout_ms_replaces_the_init_timeout(void **state)
{
	struct fixture *f = *state;

	/* init's timeout is a day: only the protocol's own (IMAP: before login) can end this. */
	f->l.c->timeout_ms = 86400 * 1000;
	f->p.line_timeout_ms = TEST_TIMEOUT_MS;
	assert_string_equal(run_wake(f, false), "+hello\r\n-timeout\r\n");
	assert_string_equal(f->l.end, "timeout");
}

/* Run the loop with timer_ops; what the client heard. */
static const char *
run_timer(struct fixture *f)
{
	if (f->p.line_timeout_ms == 0)
		f->p.line_timeout_ms = TEST_TIMEOUT_MS;
	return run_ops(f, &timer_ops);
}

static void
test_session_loop_wake_ms_wakes_the_protocol_without_a_wake_fd(void **state)
{
	struct fixture *f = *state;

	/* IDLE polling the folder (no inotify): the timer alone wakes it, at once here, three times. */
	f->p.wake_ms = 0;
	f->p.ticks_left = 3;
	assert_string_equal(run_timer(f), "+hello\r\n* tick\r\n* tick\r\n* tick\r\n-timeout\r\n");
	assert_int_equal(f->p.ticks, 3);
	assert_int_equal(f->p.nlines, 0);
	assert_string_equal(f->l.end, "timeout");
}

static void
test_session_loop_wake_ms_does_not_restart_the_line_timeout(void **state)
{
	struct fixture *f = *state;
	const char *heard;

	/*
	 * The keepalive ticks far more often than the line timeout, for
	 * ever: the client that says nothing is still logged out (RFC 3501
	 * section 5.4) because only its own lines restart the timer.
	 */
	f->p.wake_ms = 5;
	f->p.ticks_left = -1;
	heard = run_timer(f);
	assert_string_equal(f->l.end, "timeout");
	assert_int_equal(f->p.timeouts, 1);
	assert_true(f->p.ticks >= 1);
	assert_non_null(strstr(heard, "* tick\r\n-timeout\r\n"));
}

static void
test_session_loop_wake_ms_gives_way_to_client_lines(void **state)
{
	struct fixture *f = *state;

	/* Lines waiting: read before any tick (the timer is a day away), and answered as ever. */
	f->p.wake_ms = 86400 * 1000;
	f->p.ticks_left = -1;
	client_says(f, "NOOP\r\nQUIT\r\n", false);
	assert_string_equal(run_timer(f), "+hello\r\n+ok NOOP\r\n+bye\r\n");
	assert_int_equal(f->p.ticks, 0);
	assert_string_equal(f->l.end, "quit");
}

static void
test_session_loop_raw_request_passes_exactly_n_octets(void **state)
{
	struct fixture *f = *state;

	/* Line endings inside the literal are octets like any other. */
	client_says(f, "LIT {10}\r\nab\r\ncd\r\nefNOOP\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+ send it\r\n+ok NOOP\r\n+bye\r\n");
	assert_int_equal(f->p.raw.len, 10);
	assert_memory_equal(f->p.raw.data, "ab\r\ncd\r\nef", 10);
	assert_string_equal(f->p.lines[1], "NOOP");
	assert_string_equal(f->l.end, "quit");
}

static void
test_session_loop_raw_request_of_zero_octets_still_completes(void **state)
{
	struct fixture *f = *state;

	client_says(f, "LIT {0}\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+ send it\r\n+bye\r\n");
	assert_int_equal(f->p.raw_calls, 1);
	assert_int_equal(f->p.raw.len, 0);
}

static void
test_session_loop_raw_request_cut_short_ends_as_dropped(void **state)
{
	struct fixture *f = *state;

	client_says(f, "LIT {10}\r\nabc", true);
	assert_string_equal(run(f), "+hello\r\n+ send it\r\n");
	assert_string_equal(f->l.end, "dropped");
	assert_int_equal(f->p.raw.len, 3);
}

static void
test_session_loop_body_is_fed_until_the_protocol_has_its_end(void **state)
{
	struct fixture *f = *state;

	client_says(f, "DATA\r\nline one\r\n.\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+354\r\n+queued\r\n+bye\r\n");
	assert_int_equal(f->p.raw.len, strlen("line one\r\n.\r\n"));
	assert_string_equal(f->l.end, "quit");
}

static void
test_session_loop_body_from_a_silent_client_hears_the_timeout(void **state)
{
	struct fixture *f = *state;

	f->l.body_min_rate = 1000;
	client_says(f, "DATA\r\npart", false);
	assert_string_equal(run(f), "+hello\r\n+354\r\n-timeout\r\n");
	assert_string_equal(f->l.end, "timeout");
	assert_int_equal(f->p.timeouts, 1);
}

static void
test_session_loop_stream_sends_every_piece(void **state)
{
	struct fixture *f = *state;

	client_says(f, "BIG\r\nQUIT\r\n", false);
	assert_string_equal(run(f), "+hello\r\n+big\r\npiece 3\r\npiece 2\r\npiece 1\r\n.\r\n+bye\r\n");
	assert_string_equal(f->l.end, "quit");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_session_loop_quit_ends_as_quit_after_answering_pipelined_lines),
		T(test_session_loop_close_without_quit_ends_as_closed),
		T(test_session_loop_client_going_away_ends_as_dropped),
		T(test_session_loop_starttls_without_tls_configured_ends_the_session),
		T(test_session_loop_passes_an_overlong_line_cut_and_goes_on),
		T(test_session_loop_silent_client_hears_the_timeout),
		T(test_session_loop_session_deadline_ends_the_session),
		T(test_session_loop_failed_login_is_logged_then_throttled),
		T(test_session_loop_good_login_is_reported_then_logged),
		T(test_session_loop_raw_request_passes_exactly_n_octets),
		T(test_session_loop_wake_fd_wakes_the_protocol_while_the_client_is_silent),
		T(test_session_loop_wake_fd_gives_way_to_a_waiting_client_line),
		T(test_session_loop_wake_fd_unset_reads_lines_as_before),
		T(test_session_loop_line_timeout_ms_replaces_the_init_timeout),
		T(test_session_loop_wake_ms_wakes_the_protocol_without_a_wake_fd),
		T(test_session_loop_wake_ms_does_not_restart_the_line_timeout),
		T(test_session_loop_wake_ms_gives_way_to_client_lines),
		T(test_session_loop_raw_request_of_zero_octets_still_completes),
		T(test_session_loop_raw_request_cut_short_ends_as_dropped),
		T(test_session_loop_body_is_fed_until_the_protocol_has_its_end),
		T(test_session_loop_body_from_a_silent_client_hears_the_timeout),
		T(test_session_loop_stream_sends_every_piece),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
