/* test_imap_message.c - unit tests for one message as IMAP shows it (imapd/imap_message.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "imap_message.h"

static void
test_imap_message_placeholder(void **state)
{
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_message_placeholder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
