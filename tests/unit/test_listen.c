/* test_listen.c - unit tests for listener specs and binding (lib/net/listen.c). */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen.h"

static void
test_listen_parse_accepts_the_three_forms(void **state)
{
	char host[LISTEN_HOST_MAX + 1], err[256];
	unsigned port;

	(void)state;
	assert_int_equal(listen_parse("127.0.0.1:110", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 110);
	assert_int_equal(listen_parse("[2001:db8::1]:995", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 995);
	assert_int_equal(listen_parse("*:65535", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 65535);
	assert_int_equal(listen_parse("localhost:1", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "localhost");
}

static void
test_listen_parse_refuses_bad_specs_naming_them(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":110", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:99999999999999999999", "127.0.0.1:pop3", "2001:db8::1:110",
		"[2001:db8::1]110", "[]:110", "[::1:110", "127.0.0.1:-1", "127.0.0.1:1x",
		"bad host:110", "a/b:110",
	};
	char host[LISTEN_HOST_MAX + 1], err[256];
	unsigned port;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(listen_parse(bad[i], host, sizeof(host), &port, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		if (bad[i][0] != '\0')
			assert_non_null(strstr(err, bad[i]));
	}
}

static void
test_listen_bind_listens_and_reports_a_busy_port(void **state)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char spec[64], err[256];
	int fds[LISTEN_MAX_FDS], fds2[LISTEN_MAX_FDS];

	(void)state;
	assert_int_equal(listen_bind("127.0.0.1:0", 8, fds, LISTEN_MAX_FDS, err, sizeof(err)), -1);
	/* Port 0 is refused by the parser; take a free port from the kernel instead. */
	{
		int s = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
		close(s);
	}
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	assert_int_equal(listen_bind(spec, 8, fds, LISTEN_MAX_FDS, err, sizeof(err)), 1);
	assert_int_equal(listen_bind(spec, 8, fds2, LISTEN_MAX_FDS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, spec));
	assert_non_null(strstr(err, "bind"));
	close(fds[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_parse_accepts_the_three_forms),
		cmocka_unit_test(test_listen_parse_refuses_bad_specs_naming_them),
		cmocka_unit_test(test_listen_bind_listens_and_reports_a_busy_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
