/* test_buf.c - unit tests for the bounded growable buffer (lib/util/buf.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"

static void
test_buf_init_zero_max_means_64mib(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, (size_t)64 * 1024 * 1024);
	buf_free(&b);
}

static void
test_buf_append_keeps_data_nul_terminated(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(buf_append_str(&b, "def"), 0);
	assert_int_equal(buf_append_char(&b, 'g'), 0);
	assert_string_equal(b.data, "abcdefg");
	assert_int_equal(b.data[b.len], '\0');
	assert_true(b.cap > b.len);
	buf_free(&b);
}

static void
test_buf_append_empty_gives_empty_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_buf_append_binary_keeps_nul_bytes(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4);
	buf_free(&b);
}

static void
test_buf_append_exactly_max_succeeds(void **state)
{
	char data[16];
	struct buf b;

	(void)state;
	memset(data, 'x', sizeof(data));
	buf_init(&b, sizeof(data));
	assert_int_equal(buf_append(&b, data, sizeof(data)), 0);
	assert_int_equal(b.len, sizeof(data));
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void
test_buf_append_past_max_fails_emsgsize_and_keeps_content(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "12345"), 0);
	errno = 0;
	assert_int_equal(buf_append_str(&b, "6789"), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	errno = 0;
	assert_int_equal(buf_append_char(&b, 'x'), 0);
	assert_int_equal(buf_append_str(&b, "yz"), 0);
	assert_int_equal(buf_append_char(&b, '!'), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_string_equal(b.data, "12345xyz");
	buf_free(&b);
}

static void
test_buf_append_huge_length_does_not_wrap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_append_str(&b, "ab"), 0);
	errno = 0;
	/* len + SIZE_MAX wraps; the bound check must not be fooled. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	assert_string_equal(b.data, "ab");
	buf_free(&b);
}

static void
test_buf_grows_across_many_appends(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_append_char(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(b.data), 100000);
	assert_int_equal(b.data[26], 'a');
	buf_free(&b);
}

static void
test_buf_printf_appends_and_grows(void **state)
{
	struct buf b;
	char big[1000];

	(void)state;
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "%s=%d", "n", 42), 0);
	assert_string_equal(b.data, "n=42");
	assert_int_equal(buf_printf(&b, ",%s", big), 0);
	assert_int_equal(b.len, 4 + 1 + 999);
	assert_int_equal(strlen(b.data), b.len);
	assert_int_equal(b.data[5], 'z');
	buf_free(&b);
}

static void
test_buf_printf_past_max_fails_and_keeps_content(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%d", 12345), 0);
	errno = 0;
	/* Fits the allocation (at least 64 bytes) but not the bound. */
	assert_int_equal(buf_printf(&b, "%s", "abcdef"), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_string_equal(b.data, "12345");
	assert_int_equal(b.len, 5);
	assert_int_equal(buf_printf(&b, "%s", "abcde"), 0);
	assert_string_equal(b.data, "12345abcde");
	buf_free(&b);
}

static void
test_buf_printf_past_max_after_growth_fails(void **state)
{
	char big[300];
	struct buf b;

	(void)state;
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 200);
	assert_int_equal(buf_printf(&b, "x"), 0);
	errno = 0;
	assert_int_equal(buf_printf(&b, "%s", big), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_string_equal(b.data, "x");
	buf_free(&b);
}

static void
test_buf_reset_empties_but_stays_usable(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_append_str(&b, "wxyz"), 0);
	assert_string_equal(b.data, "wxyz");
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	/* A freed buffer can be used again with the same bound. */
	assert_int_equal(buf_append_str(&b, "abcde"), -1);
	assert_int_equal(buf_append_str(&b, "ab"), 0);
	buf_free(&b);
}

/* buf_read_fd: everything up to the end; past the bound EMSGSIZE. */
static void
test_buf_read_fd_whole_and_bounded(void **state)
{
	char big[20000];
	struct buf b;
	int fds[2];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "hello\n", 6), 6);
	close(fds[1]);
	buf_init(&b, 100);
	assert_int_equal(buf_read_fd(&b, fds[0]), 0);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "hello\n");
	close(fds[0]);
	buf_free(&b);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], big, sizeof(big)), (ssize_t)sizeof(big));
	close(fds[1]);
	buf_init(&b, 10000);
	assert_int_equal(buf_read_fd(&b, fds[0]), -1);
	assert_int_equal(errno, EMSGSIZE);
	close(fds[0]);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_init_zero_max_means_64mib),
		cmocka_unit_test(test_buf_append_keeps_data_nul_terminated),
		cmocka_unit_test(test_buf_append_empty_gives_empty_string),
		cmocka_unit_test(test_buf_append_binary_keeps_nul_bytes),
		cmocka_unit_test(test_buf_append_exactly_max_succeeds),
		cmocka_unit_test(test_buf_append_past_max_fails_emsgsize_and_keeps_content),
		cmocka_unit_test(test_buf_append_huge_length_does_not_wrap),
		cmocka_unit_test(test_buf_grows_across_many_appends),
		cmocka_unit_test(test_buf_printf_appends_and_grows),
		cmocka_unit_test(test_buf_printf_past_max_fails_and_keeps_content),
		cmocka_unit_test(test_buf_printf_past_max_after_growth_fails),
		cmocka_unit_test(test_buf_reset_empties_but_stays_usable),
		cmocka_unit_test(test_buf_read_fd_whole_and_bounded),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
