/* fuzz_ipaddr.c - fuzz target: address parsing and both text forms round-trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[128], canon[IPADDR_TEXT_MAX], key[IPADDR_TEXT_MAX];
	struct ipaddr a, b;

	if (size >= sizeof text)
		size = sizeof text - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ipaddr_parse(text, &a) < 0)
		return 0;
	ipaddr_format(&a, canon);
	ipaddr_format_key(&a, key);
	/* Both forms must parse back to the same address. */
	if (ipaddr_parse(canon, &b) < 0 || !ipaddr_equal(&a, &b))
		abort();
	if (ipaddr_parse(key, &b) < 0 || !ipaddr_equal(&a, &b))
		abort();
	return 0;
}
