/* test_proxy.c - unit tests for proxy mode's pure parts and its relay: backend reply verdicts (pop3d/pop3_proxy.c, imapd/imap_proxy.c), IMAP LOGIN quoting, backend addresses, and lib/net/proxy_relay.c over socketpairs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_session.h"
#include "imapd.h"
#include "netconn.h"
#include "pop3_session.h"
#include "pop3d.h"
#include "proxy_backend.h"
#include "proxy_relay.h"

static void
test_proxy_pop3_reply_verdicts(void **state)
{
	(void)state;
	assert_int_equal(pop3_proxy_reply("+OK Logged in."), SESSION_CHECK_OK);
	assert_int_equal(pop3_proxy_reply("+ok"), SESSION_CHECK_OK);
	assert_int_equal(pop3_proxy_reply("-ERR [AUTH] Authentication failed."), SESSION_CHECK_BAD);
	assert_int_equal(pop3_proxy_reply("-ERR invalid password"), SESSION_CHECK_BAD);
	assert_int_equal(pop3_proxy_reply("-ERR"), SESSION_CHECK_BAD);
	/* RFC 3206 / 2449: the server's trouble, not the credentials. */
	assert_int_equal(pop3_proxy_reply("-ERR [SYS/TEMP] Try later."), SESSION_CHECK_TEMPFAIL);
	assert_int_equal(pop3_proxy_reply("-ERR [SYS/PERM] Broken."), SESSION_CHECK_TEMPFAIL);
	assert_int_equal(pop3_proxy_reply("-ERR [IN-USE] Locked."), SESSION_CHECK_TEMPFAIL);
	assert_int_equal(pop3_proxy_reply("-ERR [LOGIN-DELAY] Wait."), SESSION_CHECK_TEMPFAIL);
	/* Not POP3 at all: the backend is broken, the user is not to blame. */
	assert_int_equal(pop3_proxy_reply("+OKAY"), SESSION_CHECK_TEMPFAIL);
	assert_int_equal(pop3_proxy_reply("* OK IMAP4rev1"), SESSION_CHECK_TEMPFAIL);
	assert_int_equal(pop3_proxy_reply(""), SESSION_CHECK_TEMPFAIL);
}

static void
test_proxy_imap_tagged_verdicts(void **state)
{
	(void)state;
	assert_int_equal(imap_proxy_tagged("OK [CAPABILITY IMAP4rev1 IDLE] Logged in"), IMAP_CHECK_OK);
	assert_int_equal(imap_proxy_tagged("ok Logged in"), IMAP_CHECK_OK);
	assert_int_equal(imap_proxy_tagged("NO [AUTHENTICATIONFAILED] Authentication failed."),
			 IMAP_CHECK_BAD);
	assert_int_equal(imap_proxy_tagged("NO [AUTHORIZATIONFAILED] No."), IMAP_CHECK_BAD);
	assert_int_equal(imap_proxy_tagged("NO [EXPIRED] Password expired."), IMAP_CHECK_BAD);
	assert_int_equal(imap_proxy_tagged("NO Login failed."), IMAP_CHECK_BAD);
	/* RFC 5530: temporary, the server's or osd's fault. */
	assert_int_equal(imap_proxy_tagged("NO [UNAVAILABLE] Try later."), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged("NO [SERVERBUG] Oops."), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged("NO [PRIVACYREQUIRED] Use TLS."), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged("NO [INUSE] Busy."), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged("NO [LIMIT] Too many."), IMAP_CHECK_TEMPFAIL);
	/* "[UNAVAILABLEX]" is another code, not UNAVAILABLE. */
	assert_int_equal(imap_proxy_tagged("NO [UNAVAILABLEX] x"), IMAP_CHECK_BAD);
	assert_int_equal(imap_proxy_tagged("BAD Error in IMAP command"), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged("NOPE"), IMAP_CHECK_TEMPFAIL);
	assert_int_equal(imap_proxy_tagged(""), IMAP_CHECK_TEMPFAIL);
}

/* LOGIN's arguments: quoted strings with \ and " escaped; 8-bit or line breaks as literals. */
static void
test_proxy_imap_login_command_quotes_and_literals(void **state)
{
	struct buf b;
	size_t waits[2], n;

	(void)state;
	buf_init(&b, 0);
	n = imap_proxy_login_command(&b, "osd2", "alice@example.test", "p\"a\\ss w", waits);
	assert_int_equal(n, 0);
	assert_string_equal(b.data, "osd2 LOGIN \"alice@example.test\" \"p\\\"a\\\\ss w\"\r\n");

	buf_reset(&b);
	n = imap_proxy_login_command(&b, "osd2", "bob", "gr\xc3\xbc\xc3\x9f", waits);
	assert_int_equal(n, 1);
	assert_string_equal(b.data, "osd2 LOGIN \"bob\" {6}\r\ngr\xc3\xbc\xc3\x9f\r\n");
	assert_int_equal(waits[0], strlen("osd2 LOGIN \"bob\" {6}\r\n"));

	buf_reset(&b);
	n = imap_proxy_login_command(&b, "t", "j\xc3\xb6rg", "a\r\nb", waits);
	assert_int_equal(n, 2);
	assert_string_equal(b.data, "t LOGIN {5}\r\nj\xc3\xb6rg {4}\r\na\r\nb\r\n");
	assert_int_equal(waits[0], strlen("t LOGIN {5}\r\n"));
	assert_int_equal(waits[1], strlen("t LOGIN {5}\r\nj\xc3\xb6rg {4}\r\n"));

	buf_reset(&b);
	n = imap_proxy_login_command(&b, "t", "u", "", waits);
	assert_int_equal(n, 0);
	assert_string_equal(b.data, "t LOGIN \"u\" \"\"\r\n");
	buf_free(&b);
}

static void
test_proxy_backend_split_and_tls_words(void **state)
{
	char host[64], port[8];

	(void)state;
	assert_int_equal(proxy_backend_split("mail.example.net:995", host, sizeof(host), port,
					     sizeof(port)), 0);
	assert_string_equal(host, "mail.example.net");
	assert_string_equal(port, "995");
	assert_int_equal(proxy_backend_split("[2001:db8::1]:143", host, sizeof(host), port,
					     sizeof(port)), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_string_equal(port, "143");
	assert_int_equal(proxy_backend_split("2001:db8::1:143", host, sizeof(host), port,
					     sizeof(port)), -1);
	assert_int_equal(proxy_backend_split("host", host, sizeof(host), port, sizeof(port)), -1);
	assert_int_equal(proxy_backend_split("host:", host, sizeof(host), port, sizeof(port)), -1);
	assert_int_equal(proxy_backend_split(":110", host, sizeof(host), port, sizeof(port)), -1);
	assert_int_equal(proxy_backend_split("[]:110", host, sizeof(host), port, sizeof(port)), -1);
	assert_int_equal(proxy_tls_parse("none"), PROXY_TLS_NONE);
	assert_int_equal(proxy_tls_parse("starttls"), PROXY_TLS_STARTTLS);
	assert_int_equal(proxy_tls_parse("implicit"), PROXY_TLS_IMPLICIT);
	assert_int_equal(proxy_tls_parse("yes"), -1);
}

/* A connected pair of TCP sockets on 127.0.0.1 (splice(2) reads TCP, not AF_UNIX). */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l != -1);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
	sv[1] = accept(l, NULL, NULL);
	assert_true(sv[1] != -1);
	close(l);
}

/*
 * The relay in a child between two socket pairs (TCP or AF_UNIX): the test holds the client's end cli and the
 * backend's end be.  pre: octets the client pipelined before the relay
 * (in the relay's client netconn).
 */
static pid_t
start_relay(int *cli_r, int *be_r, const char *pre, int idle_ms, bool tcp)
{
	int c[2], b[2];
	pid_t pid;

	if (tcp) {
		tcp_pair(c);
		tcp_pair(b);
	} else {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	}
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct netconn nc, nb;
		struct proxy_relay_stats st;

		/* As the servers (lib/net/server.c): a vanished peer is EPIPE, not a signal. */
		signal(SIGPIPE, SIG_IGN);
		close(c[0]);
		close(b[0]);
		if (netconn_init(&nc, c[1], idle_ms, 1024) == -1 ||
		    netconn_init(&nb, b[1], idle_ms, 1024) == -1)
			_exit(2);
		memcpy(nc.in, pre, strlen(pre));
		nc.end = strlen(pre);
		proxy_relay(&nc, &nb, idle_ms, &st);
		/* The exit status says how it ended, for the test to check. */
		_exit(strcmp(st.end, "closed") == 0 ? 0 : strcmp(st.end, "timeout") == 0 ? 3 : 4);
	}
	close(c[1]);
	close(b[1]);
	*cli_r = c[0];
	*be_r = b[0];
	return pid;
}

/* Read until EOF (or want octets); the count read. */
static size_t
read_all(int fd, char *buf, size_t want)
{
	size_t got = 0;
	ssize_t n;

	while (got < want && (n = read(fd, buf + got, want - got)) > 0)
		got += (size_t)n;
	return got;
}

static int
wait_status(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Write len octets of data to fd in a child (then close it there); its pid. */
static pid_t
writer(int fd, int other, const char *data, size_t len, const char *last)
{
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0) {
		close(other);
		if (write(fd, data, len) != (ssize_t)len ||
		    (last != NULL && write(fd, last, strlen(last)) != (ssize_t)strlen(last)))
			_exit(1);
		/* The client half-closes; the backend closes after its last words. */
		if (last == NULL)
			shutdown(fd, SHUT_WR);
		_exit(0);
	}
	return pid;
}

/* The buffers of relay_both_ways_half_close: reachable from here, not lost, in its forked writers. */
static char *big_up, *big_down, *big_got;

/*
 * Pipelined input first, 4 MB each way at once unchanged, the client's
 * half-close passed on to the backend, the backend's last words after it
 * delivered, then the end.
 */
static void
relay_both_ways_half_close(bool tcp)
{
	const size_t big = 4 * 1024 * 1024;
	int cli, be;
	pid_t pid, w_up, w_down;
	size_t i;

	big_up = malloc(big);
	big_down = malloc(big);
	big_got = malloc(big + 16);
	assert_non_null(big_up);
	assert_non_null(big_down);
	assert_non_null(big_got);
	for (i = 0; i < big; i++) {
		big_up[i] = (char)(i * 7 + 1);
		big_down[i] = (char)(i * 13 + 5);
	}
	pid = start_relay(&cli, &be, "STAT\r\n", 10000, tcp);
	w_up = writer(cli, be, big_up, big, NULL);
	w_down = writer(be, cli, big_down, big, "+OK bye\r\n");
	/* The backend sees the pipelined line, the client's octets, then EOF (the half-close). */
	assert_int_equal(read_all(be, big_got, 6), 6);
	assert_memory_equal(big_got, "STAT\r\n", 6);
	assert_int_equal(read_all(be, big_got, big + 16), big);
	assert_memory_equal(big_got, big_up, big);
	close(be);
	/* The client gets the backend's octets and last words, then EOF. */
	assert_int_equal(read_all(cli, big_got, big + 16), big + 9);
	assert_memory_equal(big_got, big_down, big);
	assert_memory_equal(big_got + big, "+OK bye\r\n", 9);
	close(cli);
	assert_int_equal(wait_status(w_up), 0);
	assert_int_equal(wait_status(w_down), 0);
	assert_int_equal(wait_status(pid), 0);
	free(big_up);
	free(big_down);
	free(big_got);
}

static void
test_proxy_relay_tcp_both_ways_half_close(void **state)
{
	(void)state;
	relay_both_ways_half_close(true);
}

static void
test_proxy_relay_unix_both_ways_half_close(void **state)
{
	(void)state;
	relay_both_ways_half_close(false);
}

/* The backend closing ends the relay even when the client keeps its side open. */
static void
test_proxy_relay_backend_close_ends_it(void **state)
{
	char buf[64];
	int cli, be;
	pid_t pid;

	(void)state;
	pid = start_relay(&cli, &be, "", 10000, true);
	assert_int_equal(write(be, "* BYE\r\n", 7), 7);
	close(be);
	assert_int_equal(read_all(cli, buf, sizeof(buf)), 7);
	assert_int_equal(wait_status(pid), 0);
	close(cli);
}

/* Nothing moving for idle_ms ends the relay ("timeout"). */
static void
test_proxy_relay_idle_timeout(void **state)
{
	int cli, be;
	pid_t pid;

	(void)state;
	pid = start_relay(&cli, &be, "", 200, true);
	assert_int_equal(wait_status(pid), 3);
	close(cli);
	close(be);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_pop3_reply_verdicts),
		cmocka_unit_test(test_proxy_imap_tagged_verdicts),
		cmocka_unit_test(test_proxy_imap_login_command_quotes_and_literals),
		cmocka_unit_test(test_proxy_backend_split_and_tls_words),
		cmocka_unit_test(test_proxy_relay_tcp_both_ways_half_close),
		cmocka_unit_test(test_proxy_relay_unix_both_ways_half_close),
		cmocka_unit_test(test_proxy_relay_backend_close_ends_it),
		cmocka_unit_test(test_proxy_relay_idle_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
