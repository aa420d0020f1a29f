/* fuzz_rules.c - fuzz target: one tcprules line into records, then the tcpserver match over them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ipaddr.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules r;
	char err[256];

	rules_init(&r);
	if (rules_parse_line(&r, (const char *)data, size, err, sizeof err) == 0) {
		/* Every record must be usable by the matcher. */
		for (size_t i = 0; i < r.count; i++)
			(void)rules_match(&r, r.records[i].key, r.records[i].keylen);
		(void)rules_match(&r, "192.0.2.7", 9);
	}
	rules_free(&r);
	return 0;
}
