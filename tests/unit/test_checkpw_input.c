/* test_checkpw_input.c - unit tests for checkpassword/checkpw_input.c: descriptor 3 read and split as the checkpassword interface says, and the exit statuses. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "checkpw_input.h"

/* Parse len octets of data in a buffer of the size checkpassword uses. */
static enum checkpw_input_result
parse(const char *data, size_t len, char buf[CHECKPW_INPUT_MAX + 1], struct checkpw_input *in)
{
	memset(buf, 'X', CHECKPW_INPUT_MAX + 1);
	memcpy(buf, data, len);
	return checkpw_input_parse(buf, len, in);
}

/* What qmail-popup writes: the three fields come out as C strings. */
static void
test_checkpw_input_parse_qmail_popup_form(void **state)
{
	static const char data[] = "alice@example.org\0secret pw\0<1234.1700000000@host>\0";
	char buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;

	(void)state;
	assert_int_equal(parse(data, sizeof(data) - 1, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.login, "alice@example.org");
	assert_string_equal(in.password, "secret pw");
	assert_string_equal(in.timestamp, "<1234.1700000000@host>");
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_OK), 0);
}

/* "possibly more data" after the timestamp is ignored; a timestamp without its \0, or none, is taken (as the reference does). */
static void
test_checkpw_input_parse_timestamp_optional_more_data_ignored(void **state)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;

	(void)state;
	assert_int_equal(parse("u\0p\0ts\0more\0data", 17, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.timestamp, "ts");
	assert_int_equal(parse("u\0p\0<ts", 7, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.timestamp, "<ts");       /* ended at len, not at the 'X' after it */
	assert_int_equal(parse("u\0p\0", 4, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.password, "p");
	assert_string_equal(in.timestamp, "");
}

/* Missing \0s are misuse (exit 2); nothing points into the buffer then. */
static void
test_checkpw_input_parse_missing_nul_is_misuse(void **state)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;

	(void)state;
	assert_int_equal(parse("", 0, buf, &in), CHECKPW_INPUT_NO_LOGIN_END);
	assert_int_equal(parse("alice", 5, buf, &in), CHECKPW_INPUT_NO_LOGIN_END);
	assert_string_equal(in.login, "");
	assert_int_equal(parse("alice\0pw", 8, buf, &in), CHECKPW_INPUT_NO_PASSWORD_END);
	assert_string_equal(in.login, "");
	assert_string_equal(in.password, "");
	assert_int_equal(parse("alice\0", 6, buf, &in), CHECKPW_INPUT_NO_PASSWORD_END);
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_NO_LOGIN_END), CHECKPW_EXIT_MISUSE);
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_NO_PASSWORD_END), CHECKPW_EXIT_MISUSE);
	assert_int_equal(CHECKPW_EXIT_MISUSE, 2);
}

/* An empty login or password parses: the interface sets no rule on their form (the login check refuses them). */
static void
test_checkpw_input_parse_empty_fields_parse(void **state)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;

	(void)state;
	assert_int_equal(parse("\0pw\0ts\0", 7, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.login, "");
	assert_string_equal(in.password, "pw");
	assert_int_equal(parse("\0\0\0", 3, buf, &in), CHECKPW_INPUT_OK);
	assert_string_equal(in.login, "");
	assert_string_equal(in.password, "");
	assert_string_equal(in.timestamp, "");
}

/* Exactly 512 octets parse; the parser refuses more even if asked. */
static void
test_checkpw_input_parse_bounds(void **state)
{
	char data[CHECKPW_INPUT_MAX + 1], buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;

	(void)state;
	memset(data, 't', sizeof(data));
	memcpy(data, "u\0p\0", 4);
	assert_int_equal(parse(data, CHECKPW_INPUT_MAX, buf, &in), CHECKPW_INPUT_OK);
	assert_int_equal(strlen(in.timestamp), CHECKPW_INPUT_MAX - 4);
	assert_int_equal(checkpw_input_parse(buf, CHECKPW_INPUT_MAX + 1, &in),
			 CHECKPW_INPUT_TOO_LONG);
}

/* Write len octets of data into a pipe's write end and close it; return the read end. */
static int
pipe_with(const char *data, size_t len)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_true(len < 65536);       /* fits the pipe: no writer needed */
	assert_int_equal(write(p[1], data, len), (ssize_t)len);
	close(p[1]);
	return p[0];
}

/* Descriptor 3 read through end of file, then closed. */
static void
test_checkpw_input_read_to_eof_and_closes(void **state)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	size_t len = 99;
	int fd;

	(void)state;
	fd = pipe_with("u\0p\0ts\0", 7);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "u\0p\0ts\0", 7);
	assert_int_equal(fcntl(fd, F_GETFD), -1);       /* closed */
	assert_int_equal(errno, EBADF);
	fd = pipe_with("", 0);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_OK);
	assert_int_equal(len, 0);
}

/* 512 octets are fine, 513 are too long (misuse, exit 2); the descriptor is closed either way. */
static void
test_checkpw_input_read_overlong(void **state)
{
	char data[CHECKPW_INPUT_MAX + 100], buf[CHECKPW_INPUT_MAX + 1];
	size_t len = 99;
	int fd;

	(void)state;
	memset(data, 'a', sizeof(data));
	fd = pipe_with(data, CHECKPW_INPUT_MAX);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_OK);
	assert_int_equal(len, CHECKPW_INPUT_MAX);
	fd = pipe_with(data, CHECKPW_INPUT_MAX + 1);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_TOO_LONG);
	assert_int_equal(len, 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	fd = pipe_with(data, sizeof(data));
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_TOO_LONG);
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_TOO_LONG), CHECKPW_EXIT_MISUSE);
}

/* No descriptor 3 (run by hand) is misuse, 2; another read error is temporary, 111. */
static void
test_checkpw_input_read_errors(void **state)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	size_t len;
	int fd;

	(void)state;
	fd = dup(0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_NOT_OPEN);
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_NOT_OPEN), CHECKPW_EXIT_MISUSE);
	/* A folder reads as EISDIR: an error, not an end of file. */
	assert_true((fd = open("/", O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(checkpw_input_read(fd, buf, &len), CHECKPW_INPUT_READ_ERROR);
	assert_int_equal(errno, EISDIR);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(checkpw_input_exit(CHECKPW_INPUT_READ_ERROR), CHECKPW_EXIT_TEMP);
	assert_int_equal(CHECKPW_EXIT_TEMP, 111);
	assert_int_equal(CHECKPW_EXIT_BAD, 1);
}

/* Every result has words for the log. */
static void
test_checkpw_input_why(void **state)
{
	(void)state;
	assert_string_equal(checkpw_input_why(CHECKPW_INPUT_TOO_LONG),
			    "more than 512 bytes on descriptor 3");
	assert_non_null(strstr(checkpw_input_why(CHECKPW_INPUT_NO_PASSWORD_END), "password"));
	assert_non_null(strstr(checkpw_input_why(CHECKPW_INPUT_NOT_OPEN), "not open"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpw_input_parse_qmail_popup_form),
		cmocka_unit_test(test_checkpw_input_parse_timestamp_optional_more_data_ignored),
		cmocka_unit_test(test_checkpw_input_parse_missing_nul_is_misuse),
		cmocka_unit_test(test_checkpw_input_parse_empty_fields_parse),
		cmocka_unit_test(test_checkpw_input_parse_bounds),
		cmocka_unit_test(test_checkpw_input_read_to_eof_and_closes),
		cmocka_unit_test(test_checkpw_input_read_overlong),
		cmocka_unit_test(test_checkpw_input_read_errors),
		cmocka_unit_test(test_checkpw_input_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
