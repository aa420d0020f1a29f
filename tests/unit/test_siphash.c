/* test_siphash.c - unit tests for lib/util/siphash.c against the reference vectors of the SipHash paper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "siphash.h"

/* Key 00 01 .. 0f, message 00 01 .. (len-1): the paper's Appendix A and the reference vectors.h. */
static void
test_siphash24_matches_the_reference_vectors(void **state)
{
	uint8_t key[SIPHASH_KEY_SIZE], msg[64];
	int i;

	(void)state;
	for (i = 0; i < SIPHASH_KEY_SIZE; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	assert_true(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(siphash24(key, msg, 8) == 0x93f5f5799a932462ULL);
	assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
}

/* Another key, another value: the key is what an attacker does not know. */
static void
test_siphash24_depends_on_the_key(void **state)
{
	uint8_t k1[SIPHASH_KEY_SIZE] = { 0 }, k2[SIPHASH_KEY_SIZE] = { 1 };

	(void)state;
	assert_true(siphash24(k1, "bob@example.org", 15) != siphash24(k2, "bob@example.org", 15));
	assert_true(siphash24(k1, "bob@example.org", 15) != siphash24(k1, "bob@example.org", 14));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash24_matches_the_reference_vectors),
		cmocka_unit_test(test_siphash24_depends_on_the_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
