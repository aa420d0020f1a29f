/* test_cli.c - unit tests for the commands' common start: operands and address arguments (lib/config/cli.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <getopt.h>

#include <cmocka.h>

#include "cli.h"
#include "ipaddr.h"

static void
usage(FILE *out)
{
	fputs("usage: test\n", out);
}

/* Run cli_conf_operands in a child (it exits on bad input); its exit status, or 42 when it returned. */
static int
operands_status(int argc, char **argv, int n, int bad_exit)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* Its messages are expected: keep the test output clean. */
		if (freopen("/dev/null", "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
			_exit(99);
		optind = 1;
		(void)cli_conf_operands(argc, argv, "test", usage, n, bad_exit);
		_exit(42);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* -c FILE and exactly n operands; anything else exits with the caller's status, --help with 0. */
static void
test_cli_conf_operands(void **state)
{
	char *ok[] = { "x", "-c", "/etc/osd.conf", "a", "b", NULL };
	char *few[] = { "x", "a", NULL };
	char *bad[] = { "x", "-z", "a", "b", NULL };
	char *help[] = { "x", "--help", NULL };
	const char *conf;

	(void)state;
	optind = 1;
	conf = cli_conf_operands(5, ok, "test", usage, 2, 100);
	assert_string_equal(conf, "/etc/osd.conf");
	assert_string_equal(ok[optind], "a");
	assert_int_equal(operands_status(2, few, 2, 100), 100);
	assert_int_equal(operands_status(2, few, 1, 100), 42);
	assert_int_equal(operands_status(4, bad, 2, 75), 75);
	assert_int_equal(operands_status(2, help, 0, 100), 0);
}

/* An address argument parses, or is refused (the message printed with '?' for what is not printable). */
static void
test_cli_parse_addr(void **state)
{
	struct ipaddr a;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	assert_int_equal(cli_parse_addr("test", "2001:db8::0:1", &a), 0);
	ipaddr_format(&a, text);
	assert_string_equal(text, "2001:db8::1");
	assert_int_equal(cli_parse_addr("test", "1.2.3.4\n", &a), -1);
	assert_int_equal(cli_parse_addr("test", "", &a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_conf_operands),
		cmocka_unit_test(test_cli_parse_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
